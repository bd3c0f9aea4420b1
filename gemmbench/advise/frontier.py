"""The Pareto frontier of time against error, where a difference within the noise is a tie.

Errors are deterministic (computed from the data); times are measured, each with a 95%
interval. So one candidate beats another when it is more accurate and no slower by their
medians, or equally accurate (errors within ERROR_SLACK of each other, or both under
ERROR_FLOOR, count as equal) and faster beyond the noise: their time ratio's interval lies
wholly above 1 (paired round by round for
rows of one case; for rows of different cases, measured one after the other, from their own
intervals, so drift between cases is not corrected, only seen as noise). A candidate no other
beats is on the frontier; a faster candidate within the noise does not push it off.

The recommendation is the fastest candidate (by its median) within the error budget; the
runner-up the next fastest within it, called a tie when their ratio's interval holds 1; and
every other candidate within the budget whose time is a tie with the recommendation's is
named too (rows of different cases, measured minutes apart, often are on a shared machine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

ERROR_FLOOR = 1e-5  # float32 arithmetic: errors below this are all "exact" for the frontier
ERROR_SLACK = 0.05  # errors within 5% of each other are the same error


@dataclass(frozen=True)
class Candidate:
    """One way to run the matrix: a format (block shape, density, precision, scheme) on a kernel."""

    label: str  # 'csimd:avx512 16x1@0.1' (unique)
    case: str  # the case of the run it was measured in
    kernel: str  # backend:variant
    format: str  # '16x1 @10% float32', 'dense int8 w63-row-u8off'
    error: float  # relative error of the product
    time_ns: float  # median per call (native loop where measured)
    low_ns: float  # 95% interval of time_ns (bootstrap over its samples)
    high_ns: float
    reference_only: bool = False  # a reference implementation, never the advice
    row: Mapping | None = field(default=None, compare=False, repr=False)  # the run's row, for pairing
    speedup: Any = None  # gemmbench.stats.decide.Interval over the baseline of its own case (paired), or None


@dataclass(frozen=True)
class Ratio:
    """How many times slower one candidate is than another, with its interval."""

    ratio: float
    low: float
    high: float

    @property
    def tie(self) -> bool:
        return self.low <= 1 <= self.high or not (math.isfinite(self.low) and math.isfinite(self.high))

    def text(self) -> str:
        return f"{self.ratio:.3g}x ({self.low:.3g}-{self.high:.3g})"


def same_error(a: float, b: float) -> bool:
    if a <= ERROR_FLOOR and b <= ERROR_FLOOR:
        return True
    return abs(a - b) <= ERROR_SLACK * max(a, b)


def _as_accurate(a: Candidate, b: Candidate) -> bool:
    """a's error is no worse than b's."""
    return a.error <= b.error or same_error(a.error, b.error)


def _scale_ratio(fast: Candidate, slow: Candidate) -> Ratio:
    """slow / fast from their own times, the interval from both candidates' intervals."""
    return Ratio(slow.time_ns / fast.time_ns, slow.low_ns / fast.high_ns, slow.high_ns / fast.low_ns)


Pairing = Callable[[Candidate, Candidate], "Ratio | None"]


def _slower_by(fast: Candidate, slow: Candidate, pairing: Pairing | None = None) -> Ratio:
    """slow's time over fast's: paired round by round when `pairing` can (same case), else from their intervals."""
    paired = pairing(fast, slow) if pairing is not None else None
    return paired if paired is not None else _scale_ratio(fast, slow)


def beats(a: Candidate, b: Candidate, pairing: Pairing | None = None) -> bool:
    """a is more accurate than b and no slower (by their medians), or as accurate and faster beyond the noise."""
    if a is b or not _as_accurate(a, b) or a.time_ns > b.time_ns:
        return False
    if not same_error(a.error, b.error):
        return True  # b's only hope was speed, and its median is no better
    return a.time_ns < b.time_ns and _slower_by(a, b, pairing).low > 1


def frontier(candidates: list[Candidate], pairing: Pairing | None = None) -> list[Candidate]:
    """The candidates no other candidate beats (reference implementations left out), fastest first."""
    contenders = [c for c in candidates if not c.reference_only]
    kept = [b for b in contenders if not any(beats(a, b, pairing) for a in contenders)]
    return sorted(kept, key=lambda c: (c.time_ns, c.error))


@dataclass(frozen=True)
class Advice:
    budget: float  # relative error
    best: Candidate | None  # the fastest within the budget
    runner_up: Candidate | None
    versus: Ratio | None  # runner_up's time over best's
    most_accurate: Candidate | None  # when nothing is within the budget: the closest
    ties: tuple[Candidate, ...] = ()  # others within the budget whose time is a tie with best's (runner-up included)


def recommend(candidates: list[Candidate], budget: float, pairing: Pairing | None = None) -> Advice:
    contenders = [c for c in candidates if not c.reference_only]
    within = sorted((c for c in contenders if c.error <= budget), key=lambda c: (c.time_ns, c.error))
    if not within:
        closest = min(contenders, key=lambda c: (c.error, c.time_ns), default=None)
        return Advice(budget, None, None, None, closest)
    best = within[0]
    runner_up = within[1] if len(within) > 1 else None
    versus = _slower_by(best, runner_up, pairing) if runner_up is not None else None
    ties = tuple(c for c in within[1:] if _slower_by(best, c, pairing).tie)
    return Advice(budget, best, runner_up, versus, None, ties)
