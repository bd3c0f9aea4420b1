"""Plain-text tables and number formats for the terminal."""

from __future__ import annotations

import math


def render(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """Columns padded to their widest cell; columns in `right` are right-aligned."""
    right = right or set()
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def duration(ns) -> str:
    """523 ns, 12.3 us, 4.56 ms, 1.23 s; -4.57 us for a negative difference."""
    if is_missing(ns):
        return ""
    if ns < 0:
        return "-" + duration(-ns)
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def size(count) -> str:
    """1.5 GiB, 3 MiB, 48 KiB, 512 bytes."""
    if is_missing(count):
        return ""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.4g} {unit}"
    return f"{int(count)} bytes"


def number(value, spec: str = ".3g") -> str:
    return "" if is_missing(value) else format(value, spec)


def markdown(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A GitHub-flavoured markdown table; columns in `right` are right-aligned."""
    right = right or set()

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    rule = ["---:" if i in right else "---" for i in range(len(headers))]
    return "\n".join([line(headers), "|" + "|".join(rule) + "|", *map(line, rows)])
