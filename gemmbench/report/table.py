"""The one table model every output is built from: the report's HTML, the terminal, markdown.

A table is made once, as cells that carry their text (and what the HTML adds: a sort key, a class,
a hover title, a link); renderers only lay it out (gemmbench.report.html's template,
gemmbench.report.textable for the terminal and markdown). Tests read the cells, not the layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gemmbench.report.textable import duration, is_missing


@dataclass(frozen=True)
class Cell:
    text: str
    sort: str = ""  # what the column sorts by ('' sorts last)
    css: str = ""
    title: str = ""  # shown on hover
    link: str = ""  # an anchor on the page the text links to


@dataclass(frozen=True)
class Column:
    name: str
    title: str  # what it means, shown on hover
    numeric: bool = True  # right-aligned


@dataclass(frozen=True)
class Table:
    columns: list[Column]
    rows: list[list[Cell]]
    row_css: list[str] = field(default_factory=list)
    title: str = ""  # what the table shows, said above it
    notes: tuple[str, ...] = ()  # lines under it: what it leaves out

    def column(self, name: str) -> list[str]:
        """The text of one column, top to bottom."""
        index = [c.name for c in self.columns].index(name)
        return [row[index].text for row in self.rows]

    def records(self) -> list[dict[str, str]]:
        """Each row as {column name: text}."""
        names = [c.name for c in self.columns]
        return [dict(zip(names, (cell.text for cell in row))) for row in self.rows]


# ---- cells -----------------------------------------------------------------------------------


def time_text(ns) -> str:
    """A duration for people: 523 ns, 12.3 µs, 4.56 ms."""
    return duration(ns).replace(" us", " µs")


def number_cell(value, spec: str, suffix: str = "") -> Cell:
    if is_missing(value):
        return Cell("")
    return Cell(format(value, spec) + suffix, repr(float(value)))


def time_cell(ns) -> Cell:
    return Cell("") if is_missing(ns) else Cell(time_text(ns), repr(float(ns)))


def snr_cell(db) -> Cell:
    if is_missing(db):
        return Cell("")
    if math.isinf(db):
        return Cell("exact", "1e308", title="no difference from the float64 reference")
    return Cell(f"{db:.1f}", repr(float(db)))


def text_cell(value) -> Cell:
    return Cell("" if is_missing(value) else str(value))
