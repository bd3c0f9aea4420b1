"""Which rows a report or plot shows: cases by name pattern, backends by name or name:variant.

The baseline's rows stay whatever the backend filter says, so speed-ups can still be computed.
A pattern or backend that matches nothing is an error naming it and what the results hold.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import pandas as pd

from gemmbench.errors import UsageError


@dataclass(frozen=True)
class RowFilter:
    cases: tuple[str, ...] = ()  # exact names or shell-style patterns: gru_a_*, *sparse*
    backends: tuple[str, ...] = ()  # NAME or NAME:VARIANT

    def apply(self, frame: pd.DataFrame, baseline: str) -> pd.DataFrame:
        keep = pd.Series(True, index=frame.index)
        if self.cases:
            keep &= _matching_cases(frame, self.cases)
        if self.backends:
            keep &= _matching_backends(frame, self.backends) | _matching_backends(frame, (baseline,), strict=False)
        return frame[keep]

    def describe(self) -> str:
        """What the filter keeps, for the report's header; '' when it keeps everything."""
        parts = []
        if self.cases:
            parts.append("cases " + ", ".join(self.cases))
        if self.backends:
            parts.append("backends " + ", ".join(self.backends) + " (and the baseline)")
        return "only " + "; ".join(parts) if parts else ""


def parse_list(values: list[str] | None) -> tuple[str, ...]:
    """Repeated and comma-separated command-line values, in order, without blanks or repeats."""
    items = (item.strip() for value in values or () for item in value.split(","))
    return tuple(dict.fromkeys(item for item in items if item))


def _matching_cases(frame: pd.DataFrame, patterns: tuple[str, ...]) -> pd.Series:
    names = frame["case"].astype(str)
    keep = pd.Series(False, index=frame.index)
    for pattern in patterns:
        # Grid cases are named like gru_a_sparse[density=0.1], which as a pattern is a character class.
        hits = names.map(lambda name: name == pattern or fnmatch.fnmatchcase(name, pattern))
        if not hits.any():
            raise UsageError(f"--case {pattern}: matches no case in these results; cases: "
                             f"{', '.join(sorted(set(names)))}")
        keep |= hits
    return keep


def of_backend(frame: pd.DataFrame, spec: str) -> pd.Series:
    """Which rows belong to `spec`: a backend name, or name:variant."""
    backend, _, variant = spec.partition(":")
    hits = frame["backend"] == backend
    return hits & (frame["variant"] == variant) if variant else hits


def _matching_backends(frame: pd.DataFrame, specs: tuple[str, ...], strict: bool = True) -> pd.Series:
    keep = pd.Series(False, index=frame.index)
    for spec in specs:
        hits = of_backend(frame, spec)
        if strict and not hits.any():
            raise UsageError(f"--backend {spec}: no rows of it in these results; backends: "
                             f"{', '.join(sorted(set(frame['backend'])))}")
        keep |= hits
    return keep
