"""A result row put together: the case's columns, what the worker reported, and the samples.

The worker reports what it found while preparing (status, errors, prepare time, loops) and,
per round, one sample; the supervisor keeps the samples with their rounds and builds the row
here once the case is done, so every row's statistics come from one place.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from gemmbench.cases.workload import case_to_dict, op_of
from gemmbench.measure import timing
from gemmbench.op import Case


def case_columns(case: Case) -> dict:
    """What a row says about its case before anything is measured."""
    op, work = op_of(case), op_of(case).counts(case)
    return {"case": case.name, "op": case.op, "shape": op.label(case), "dtype": case.dtype, "seed": case.seed,
            "params": json.dumps(case_to_dict(case)["spec"]), "flops": work.flops, "useful_flops": work.useful,
            "bytes": work.bytes, **op.case_columns(case)}


def not_run_row(case: Case, variant: str, status: str, message: str) -> dict:
    return {"variant": variant, **case_columns(case), "status": status, "message": message}


@dataclass(frozen=True)
class Sampled:
    """A row's samples as the supervisor collected them, one per round (Python calls, and the
    native loop where measured), with what was seen while taking them."""

    wall: list[float]
    rounds: list[int]
    native: list[float] | None = None
    cpu: list[float | None] = field(default_factory=list)  # thread CPU ns per call (None: not kept)
    native_cpu: list[float | None] = field(default_factory=list)
    placements: list[int] = field(default_factory=list)  # the placement each sample ran on
    preempted: int = 0  # preempted samples seen, retaken or kept
    marked: list[int] = field(default_factory=list)  # rounds whose kept sample is still preempted


def _cpu_columns(prefix: str, values: list[float | None]) -> dict:
    kept = [v for v in values if v is not None]
    if not kept or len(kept) != len(values):
        return {}
    return {f"{prefix}cpu_samples_ns": kept, f"{prefix}cpu_median_ns": float(np.median(kept))}


def _sample_columns(sampled: Sampled, resolution_ns: float) -> dict:
    """The statistics of one row's samples (Python calls, and the native loop where measured).

    `noisy` judges the samples "best" ranks the row by (native where measured), within each
    placement and without the preempted ones: the spread a steady machine would not show."""
    samples, native = sampled.wall, sampled.native
    stats = timing.statistics(samples)
    columns = {"samples_ns": list(samples), "sample_rounds": list(sampled.rounds), "median_ns": stats.median,
               "min_ns": stats.min, "mean_ns": stats.mean, "std_ns": stats.std, "iqr_ns": stats.iqr,
               "cv": stats.cv, "timer_resolution_ns": resolution_ns, **_cpu_columns("", sampled.cpu)}
    if native:
        native_stats = timing.statistics(native)
        columns.update(native_samples_ns=list(native), native_median_ns=native_stats.median,
                       native_iqr_ns=native_stats.iqr, **_cpu_columns("native_", sampled.native_cpu))
    judged = native if native else samples
    placements = list(sampled.placements) or [0] * len(judged)
    marked = set(sampled.marked)
    kept = [r not in marked for r in sampled.rounds]
    steady = timing.sample_spread(judged, placements, kept)
    columns.update(sample_placements=placements, preempted_samples=sampled.preempted,
                   preempted_rounds=list(sampled.marked), sample_spread=_known(steady),
                   placement_spread=_known(timing.placement_spread(judged, placements, kept)),
                   noisy=bool(steady > timing.NOISY_SPREAD))
    return columns


def _known(value: float) -> float | None:
    """A figure that does not apply (one placement, too few samples) is missing, not NaN."""
    return None if math.isnan(value) else value


def _rates(row: dict) -> dict:
    """GFLOP/s and GB/s from the op's counts and the Python-call median."""
    median = row.get("median_ns")
    if not median or math.isnan(median):
        return {}
    return {"gflops": row["flops"] / median, "useful_gflops": row["useful_flops"] / median,
            "gbps": row["bytes"] / median}


def finished_row(case: Case, started: dict, sampled: Sampled, finish: dict, resolution_ns: float) -> dict:
    """The row of an item that was sampled: its statistics, rates and the op's derived columns."""
    row = {**case_columns(case), **started}
    parts = finish.pop("parts", None)
    row.update(finish)
    if sampled.wall:  # kept when the re-check after the samples found the output wrong: the raw data stays
        row.update(_sample_columns(sampled, resolution_ns))
    if row["status"] != "ok":
        return row
    row.update(_rates(row))
    row.update(op_of(case).derive(case, row, parts))
    return row
