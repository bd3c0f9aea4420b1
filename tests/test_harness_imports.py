"""The harness knows no particular backend: no module under gemmbench/ imports a built-in one
(gemmbench.backends, installed from backends/). Backends and methods reach it through the registry."""

from __future__ import annotations

import ast
from pathlib import Path

from gbtest import ROOT

HARNESS = ROOT / "gemmbench"
BUILT_IN = "gemmbench.backends"


def _imported(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """(line, module) of every import in the tree, relative ones resolved against `module`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = module.rsplit(".", node.level)[0] + "." if node.level else ""
            target = base + (node.module or "")
            found += [(node.lineno, target)] + [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def built_in_imports(root: Path) -> list[str]:
    """'path:line: module' for every import of a built-in backend by a module under `root`."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        module = ".".join(("gemmbench", *path.relative_to(root).with_suffix("").parts))
        for line, name in _imported(ast.parse(path.read_text(), str(path)), module):
            if name == BUILT_IN or name.startswith(BUILT_IN + "."):
                bad.append(f"{path.relative_to(root.parent)}:{line}: {name}")
    return bad


def test_no_harness_module_imports_a_built_in_backend():
    assert built_in_imports(HARNESS) == []


def test_the_check_finds_each_form_of_import(tmp_path):
    package = tmp_path / "gemmbench"
    (package / "ops").mkdir(parents=True)
    (package / "ops" / "a.py").write_text("import gemmbench.backends.csimd.kernels\n")
    (package / "ops" / "b.py").write_text("def f():\n    from gemmbench.backends import iir\n")
    (package / "c.py").write_text("from .backends.conv1d import methods\n")
    (package / "d.py").write_text("import importlib\nimportlib.import_module('gemmbench.backends.strassen')\n")
    (package / "e.py").write_text("from gemmbench import backend, registry\nfrom gemmbench.backend import Variant\n")
    found = [line.split(": ")[0].rsplit("/", 1)[-1] for line in built_in_imports(package)]
    assert sorted(set(found)) == ["a.py:1", "b.py:2", "c.py:1", "d.py:2"]
