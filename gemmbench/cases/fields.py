"""Typed reading of one suite case's fields, each bad field reported as one line.

The suite parser reads the harness's fields (op, dtype, seed, timing, threads, backends) with
it, and hands the same reader to the case's op, which reads its own fields (m, k, density;
filters, pole_radius; ...) into its spec. Problems are collected, not raised, so a suite with
three mistakes reports three lines.
"""

from __future__ import annotations

import difflib
import math
import re
import reprlib
from pathlib import Path
from typing import Any

INT_LIMIT = 2**63  # integers are stored as int64
_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxother, _BRIEF.maxlong = 3, 60, 60, 40


def brief(value: Any) -> str:
    """A user-supplied value for a one-line message: bounded, control characters escaped."""
    return _BRIEF.repr(value)


def label(value: Any) -> str:
    """brief() without the quotes of a string."""
    return brief(value)[1:-1] if isinstance(value, str) else brief(value)


YAML_NUMBER_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _number_as_text(value: Any) -> str:
    """' (YAML reads 5e-4 as text ...)' for a string YAML 1.1 did not take for the number it looks like, else ''.

    YAML 1.1 (PyYAML) reads an exponent as a number only with a dot and a signed exponent (5.0e-4)."""
    if not isinstance(value, str) or not YAML_NUMBER_TEXT.fullmatch(value.strip()):
        return ""
    number = float(value)
    plain = str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    return f" (YAML reads {value.strip()} as text, not a number: write {plain})"


def did_you_mean(name: str, known: list[str] | tuple[str, ...]) -> str:
    """" (did you mean 'x'?)" for the closest known name, or ''."""
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


MAX_PROBLEMS = 20  # lines listed for one file: past them, one more line says how much went unchecked


class Problems:
    """Problem lines of one suite file: '<file>: <where>: <problem>', at most MAX_PROBLEMS of them.

    A grid of 100,000 cases with one mistake in every case would otherwise print 100,000 lines (and
    take minutes to): once the list is `full`, the suite stops checking cases and `close` says so."""

    def __init__(self, path: str):
        self.path = path
        self.lines: list[str] = []

    @property
    def full(self) -> bool:
        return len(self.lines) >= MAX_PROBLEMS

    def add(self, where: str, message: str) -> None:
        if self.full:
            return
        line = f"{self.path}: {where}: {message}"  # one line, whatever control characters a value held
        self.lines.append("".join(c if c.isprintable() else repr(c)[1:-1] for c in line))

    def close(self, checked: int, total: int) -> None:
        """The last line, when checking stopped early: how many cases were left unchecked."""
        if self.full and checked < total:
            self.lines.append(f"{self.path}: and possibly more: checking stopped after {len(self.lines)} problems, "
                              f"with {total - checked:,} of the {total:,} cases unchecked")


class FieldReader:
    """One case's merged fields (defaults and grid point applied), read with checks."""

    def __init__(self, case_name: str, values: dict, problems: Problems, base: Path | None = None):
        self.where = f"case '{label(case_name)}'"
        self.values = values
        self.problems = problems
        self.base = base if base is not None else Path.cwd()  # file fields (weights: ...) are relative to it
        self.ok = True

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def bad(self, key: str, message: str) -> None:
        """Report field `key` as wrong: '... field 'key': <message>, got <value>'."""
        self.ok = False
        value = self.values.get(key)
        self.problems.add(self.where, f"field '{key}': {message}, got {brief(value)}{_number_as_text(value)}")

    def problem(self, message: str) -> None:
        """Report a problem of the case as a whole (no single field to blame)."""
        self.ok = False
        self.problems.add(self.where, message)

    def positive_int(self, key: str, default: int | None = None) -> int:
        value = self.values.get(key, default)
        if not is_int(value) or not 0 < value < INT_LIMIT:
            self.bad(key, "must be a positive integer" + (" below 2**63" if is_int(value) and value > 0 else ""))
            return 1
        return value

    def int_(self, key: str, default: int) -> int:
        """A non-negative integer."""
        value = self.values.get(key, default)
        if not is_int(value) or not 0 <= value < INT_LIMIT:
            self.bad(key, "must be a non-negative integer" + (" below 2**63" if is_int(value) and value > 0 else ""))
            return default
        return value

    def positive_number(self, key: str, default: float) -> float:
        value = self.values.get(key, default)
        if not is_number(value) or not value > 0:
            self.bad(key, "must be a positive number")
            return default
        return float(value)

    def number_in(self, key: str, default: float, low: float, high: float, *, open_high: bool = False) -> float:
        """A number in [low, high] (or [low, high) with open_high)."""
        value = self.values.get(key, default)
        if not is_number(value) or not low <= value <= high or (open_high and value == high):
            self.bad(key, f"must be a number in [{low:g}, {high:g}{')' if open_high else ']'}")
            return default
        return float(value)

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.values.get(key, default)
        if value not in allowed:
            self.bad(key, f"must be one of {', '.join(allowed)}")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.values.get(key, default)
        if not isinstance(value, bool):
            self.bad(key, "must be true or false")
            return default
        return value
