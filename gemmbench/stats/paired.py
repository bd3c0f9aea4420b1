"""Ratios paired round by round: how a row compares with another row of the same case.

The rows of a case are sampled in interleaved rounds, so a sample of one row and the sample
another row took in the same round saw the same moment of the machine: their ratio cancels
drift that moves both (a neighbour's load, frequency, memory placement). A row's ratio to
another is the median of its per-round ratios, with a bootstrap interval over the rounds.
Each row contributes its best figure: the native-loop samples where it has them, else the
Python-call samples (both were taken in the same rounds); or, to compare like with like with a
backend that has no native loop, its Python-call samples (`figure="python"`).

Rows without shared rounds (files of older versions) are compared by the ratio of their medians,
each side resampled (`bootstrap_ratio_ci`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261129  # fixed: the same inputs always give the same interval
LEVEL = 0.95
FIGURES = {"best": ("native_samples_ns", "samples_ns"), "python": ("samples_ns",)}  # sample columns, first found


@dataclass(frozen=True)
class PairedRatio:
    """median(row sample / other row's sample of the same round), with its interval."""

    ratio: float
    low: float
    high: float
    rounds: int  # rounds both rows have a sample in

    def __str__(self) -> str:
        return f"{self.ratio:.3g} [{self.low:.3g}, {self.high:.3g}]"


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and len(value) > 0


def _best_samples(row: Mapping, figure: str = "best") -> tuple[np.ndarray, np.ndarray] | None:
    """(samples, rounds) of a row's figure (FIGURES), or None when it has no round-tagged samples."""
    rounds = row.get("sample_rounds")
    if not _present(rounds):
        return None
    for column in FIGURES[figure]:
        samples = row.get(column)
        if _present(samples) and len(samples) == len(rounds):
            return np.asarray(samples, dtype=float), np.asarray(rounds, dtype=int)
    return None


def marked_rounds(row: Mapping) -> set[int]:
    """Rounds whose kept sample was still preempted after its retakes (gemmbench.measure.timing)."""
    rounds = row.get("preempted_rounds")
    return set(np.asarray(rounds, dtype=int).tolist()) if _present(rounds) else set()


def round_ratios(row: Mapping, other: Mapping, figure: str = "best") -> np.ndarray:
    """Per-round ratios row / other over the rounds both have, leaving out rounds where either
    kept a preempted sample (empty when they cannot be paired)."""
    mine, theirs = _best_samples(row, figure), _best_samples(other, figure)
    if mine is None or theirs is None:
        return np.empty(0)
    marked = marked_rounds(row) | marked_rounds(other)
    by_round = dict(zip(theirs[1].tolist(), theirs[0].tolist()))
    ratios = [value / by_round[r] for value, r in zip(mine[0].tolist(), mine[1].tolist())
              if by_round.get(r, 0) > 0 and r not in marked]
    return np.asarray(ratios, dtype=float)


def median_interval(values: np.ndarray, level: float = LEVEL, resamples: int = BOOTSTRAP_RESAMPLES,
                    seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """(median, low, high): the percentile bootstrap interval of the median of `values`."""
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(values, size=(resamples, values.size)), axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(np.median(values)), float(low), float(high)


def paired_ratio(row: Mapping, other: Mapping, level: float = LEVEL, figure: str = "best") -> PairedRatio | None:
    """The row against the other row round by round, or None when they share no rounds."""
    ratios = round_ratios(row, other, figure)
    if ratios.size == 0:
        return None
    median, low, high = median_interval(ratios, level)
    return PairedRatio(median, low, high, int(ratios.size))


def bootstrap_ratio_ci(base: np.ndarray, new: np.ndarray, level: float = LEVEL, resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile interval of median(new*)/median(base*) over resamples of each side's samples: for
    samples not taken in shared rounds."""
    rng = np.random.default_rng(seed)
    base_medians = np.median(rng.choice(base, size=(resamples, base.size)), axis=1)
    new_medians = np.median(rng.choice(new, size=(resamples, new.size)), axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(new_medians / base_medians, [tail, 100 - tail])
    return float(low), float(high)
