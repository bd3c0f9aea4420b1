"""The results columns as a Markdown table, generated from the schema: docs/results.md holds it.

    python -m gemmbench.data.schema_doc docs/results.md     # rewrite the table between the markers

A test fails when the file's table differs from the schema, so the docs cannot fall behind.
"""

from __future__ import annotations

import sys
from pathlib import Path

BEGIN = ("<!-- columns: generated from gemmbench/data/results.py by `python -m gemmbench.data.schema_doc docs/results.md`; "
         "edit the schema, not this table -->")
END = "<!-- end of generated columns -->"


def _columns_markdown() -> str:
    """The core columns every row has, then the columns each installed op adds to its rows."""
    from gemmbench.data.results import CORE_COLUMNS, op_columns

    lines = ["Every row:", "", "| column | type | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {kind} | {_cell(doc)} |" for name, kind, doc in CORE_COLUMNS]
    lines += ["", "Rows of these ops add (empty on other rows):", "", "| column | type | op | meaning |",
              "|---|---|---|---|"]
    lines += [f"| `{name}` | {kind} | {', '.join(_ops_declaring(name))} | {_cell(doc)} |"
              for name, kind, doc, _ in op_columns()]
    return "\n".join(lines)


def _ops_declaring(column: str) -> list[str]:
    from gemmbench import registry

    return [name for name in registry.ops.names() if any(c.name == column for c in registry.ops.get(name).columns)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a pipe inside a Markdown table cell is escaped


def refreshed(text: str, where: str = "the file") -> str:
    """`text` with the table between the markers replaced by the current one."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"{where}: no generated-columns markers ({BEGIN!r} ... {END!r})")
    return f"{head}{BEGIN}\n{_columns_markdown()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    for name in argv or ["docs/results.md"]:
        path = Path(name)
        path.write_text(refreshed(path.read_text(), name))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
