"""The table model (gemmbench.report.table) for a terminal and as markdown: the report's HTML is its
third renderer. A table's title goes above it and its notes below; numeric columns are right-aligned."""

from __future__ import annotations

from typing import Callable

from gemmbench.report import textable
from gemmbench.report.table import Table


def _laid_out(table: Table, layout: Callable, heading: str, blank_before_notes: bool) -> str:
    headers = [column.name for column in table.columns]
    right = {i for i, column in enumerate(table.columns) if column.numeric}
    parts = [heading] if table.title else []
    if table.rows:
        parts.append(layout(headers, [[cell.text for cell in row] for row in table.rows], right=right))
    if table.notes:
        parts += ([""] if blank_before_notes and table.rows else []) + list(table.notes)
    return "\n".join(parts)


def text(table: Table) -> str:
    """The table for a terminal: its title, its columns padded, its notes."""
    return _laid_out(table, textable.render, f"{table.title}:", False)


def markdown(table: Table) -> str:
    """The table as GitHub-flavoured markdown under a heading, its notes below it."""
    return _laid_out(table, textable.markdown, f"### {table.title}\n", True)  # a line after a table joins it
