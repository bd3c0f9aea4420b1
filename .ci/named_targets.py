"""Names the code reaches only through an import path written as text ('package.module:name'): entry
points in pyproject.toml and plot kinds, workers and probes named in strings. vulture cannot see those
uses, so .ci/lint tells it these names are used. Prints them comma-separated."""

import ast
import re
import sys
from pathlib import Path

import tomllib

TARGET = re.compile(r"^[A-Za-z_]\w*(?:\.\w+)+:([A-Za-z_]\w*)$")


def entry_point_names(pyproject: Path) -> set[str]:
    groups = tomllib.loads(pyproject.read_text())["project"].get("entry-points", {})
    return {TARGET.match(target)[1] for group in groups.values() for target in group.values()}


def string_target_names(folders: list[Path]) -> set[str]:
    names = set()
    for path in (p for folder in folders for p in folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and TARGET.match(node.value):
                names.add(TARGET.match(node.value)[1])
    return names


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    names = entry_point_names(root / "pyproject.toml") | string_target_names([root / "gemmbench", root / "backends"])
    sys.stdout.write(",".join(sorted(names)))
