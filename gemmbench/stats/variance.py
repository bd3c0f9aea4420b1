"""Where the variance of a measurement lives (Kalibera & Jones): between samples of one process,
between fresh processes, or across minutes — measured, so the way rows are sampled is chosen from it.

One case (LPCNet's GRU-A, 1152x384 float32) is measured by a baseline and a kernel, each one
backend's variant (`check --levels` chooses them: numpy, and csimd's fastest float32 level by
default), in interleaved rounds, exactly as a run does:

- samples: one pair of workers, many rounds: the spread of one row's samples, and of the per-round
  ratio of the two rows;
- processes: several pairs of fresh workers one after another: the spread of each row's median,
  and of the paired ratio's median, from process to process;
- minutes: the same spread out over some minutes (`--minutes`).

If whole processes differ (memory placement, which core, the neighbour's load at that moment),
more rounds inside one process will not remove it, and only repeats in fresh processes will.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gemmbench.errors import UsageError
from gemmbench.measure.timing import TimingSettings
from gemmbench.ops.matrix import matrix_case
from gemmbench.stats import paired

if TYPE_CHECKING:
    from gemmbench.cases.suite import Selection


@dataclass(frozen=True)
class Level:
    name: str
    measurements: int  # samples, or processes
    baseline_cv: float  # coefficient of variation of the baseline's figure at this level
    kernel_cv: float
    ratio_cv: float  # of the kernel / baseline ratio paired by round

    def row(self) -> list[str]:
        return [self.name, str(self.measurements), f"{100 * self.baseline_cv:.1f}%", f"{100 * self.kernel_cv:.1f}%",
                f"{100 * self.ratio_cv:.1f}%"]


def _cv(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.std(ddof=1) / values.mean()) if values.size > 1 else float("nan")


@dataclass(frozen=True)
class Pair:
    """The two rows measured: each a backend and one of its variants."""

    baseline: Selection  # each with its variant
    kernel: Selection

    def __str__(self) -> str:
        return f"{self.baseline} against {self.kernel}"


def _one_process(rounds: int, min_time: float, pair: Pair):
    """One pair of fresh workers measuring the case in `rounds` rounds: (baseline slot, kernel slot)."""
    from gemmbench.measure import cpus
    from gemmbench.measure.supervisor import Group, Settings, Supervisor

    case = matrix_case("gru_a_recurrent", 1152, 384)
    timing = TimingSettings(warmup=0.05, min_time=min_time, samples=rounds, max_time=1e9)
    supervisor = Supervisor(Settings(cpus=list(cpus.choose().cpus), memory_limit=None, seed=int(time.time())))
    rows = (pair.baseline, pair.kernel)
    try:
        slots = supervisor.measure_case(case, timing, [Group(row.backend, 1, (row.variant,)) for row in rows], set())
    finally:
        supervisor.close()
    measured = {(slot.group.backend, slot.variant): slot for slot in slots if slot.samples}
    missing = [str(row) for row in rows if (row.backend, row.variant) not in measured]
    if missing:
        reasons = [f"{slot.group.backend}:{slot.variant}: {slot.started.get('message') or slot.started.get('status')}"
                   for slot in slots if not slot.samples]
        raise UsageError(f"check --levels: no samples of {', '.join(missing)} ({'; '.join(reasons)})")
    return measured[pair.baseline.backend, pair.baseline.variant], measured[pair.kernel.backend, pair.kernel.variant]


def _row(slot) -> dict:
    return {"samples_ns": slot.samples, "native_samples_ns": slot.native or None, "sample_rounds": slot.rounds}


def _best(slot) -> list[float]:
    return slot.native or slot.samples


def measure_levels(pair: Pair, processes: int = 6, rounds: int = 25, samples: int = 200, minutes: float = 0.0,
                   min_time: float = 0.002, progress=print) -> list[Level]:
    """The spread at each level; `minutes` > 0 adds a level of processes spread over that many minutes."""
    progress(f"samples: one process, {samples} rounds ({pair})")
    base, mine = _one_process(samples, min_time, pair)
    levels = [Level("samples (one process)", len(base.samples), _cv(_best(base)), _cv(_best(mine)),
                    _cv(paired.round_ratios(_row(mine), _row(base))))]
    levels.append(_processes("processes (back to back)", processes, rounds, min_time, pair, 0.0, progress))
    if minutes > 0:
        levels.append(_processes(f"processes (over {minutes:g} min)", processes, rounds, min_time, pair,
                                 60 * minutes / max(processes - 1, 1), progress))
    return levels


def _processes(name: str, count: int, rounds: int, min_time: float, pair: Pair, pause: float, progress) -> Level:
    medians = []
    for index in range(count):
        progress(f"{name}: process {index + 1}/{count}")
        base, mine = _one_process(rounds, min_time, pair)
        ratio = paired.paired_ratio(_row(mine), _row(base))
        medians.append((np.median(_best(base)), np.median(_best(mine)), ratio.ratio))
        if pause and index + 1 < count:
            time.sleep(pause)
    columns = list(zip(*medians))
    return Level(name, count, _cv(columns[0]), _cv(columns[1]), _cv(columns[2]))
