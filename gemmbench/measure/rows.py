"""A result row put together: the case's columns, what the worker reported, and the samples.

The worker reports what it found while preparing (status, errors, prepare time, loops) and,
per round, one sample; the supervisor keeps the samples with their rounds and builds the row
here once the case is done, so every row's statistics come from one place.
"""

from __future__ import annotations

import json
import math

from gemmbench.measure import timing
from gemmbench.op import Case
from gemmbench.cases.workload import case_to_dict, op_of


def case_columns(case: Case) -> dict:
    """What a row says about its case before anything is measured."""
    op, work = op_of(case), op_of(case).counts(case)
    return {"case": case.name, "op": case.op, "shape": op.label(case), "dtype": case.dtype, "seed": case.seed,
            "params": json.dumps(case_to_dict(case)["spec"]), "flops": work.flops, "useful_flops": work.useful,
            "bytes": work.bytes, **op.case_columns(case)}


def not_run_row(case: Case, variant: str, status: str, message: str) -> dict:
    return {"variant": variant, **case_columns(case), "status": status, "message": message}


def sample_columns(samples: list[float], rounds: list[int], native: list[float] | None,
                   resolution_ns: float) -> dict:
    """The statistics of one row's samples (Python calls, and the native loop where measured)."""
    stats = timing.statistics(samples)
    columns = {"samples_ns": list(samples), "sample_rounds": list(rounds), "median_ns": stats.median,
               "min_ns": stats.min, "mean_ns": stats.mean, "std_ns": stats.std, "iqr_ns": stats.iqr,
               "cv": stats.cv, "noisy": stats.noisy, "timer_resolution_ns": resolution_ns}
    if native:
        native_stats = timing.statistics(native)
        columns.update(native_samples_ns=list(native), native_median_ns=native_stats.median,
                       native_iqr_ns=native_stats.iqr)
    return columns


def rates(row: dict) -> dict:
    """GFLOP/s and GB/s from the op's counts and the Python-call median."""
    median = row.get("median_ns")
    if not median or math.isnan(median):
        return {}
    return {"gflops": row["flops"] / median, "useful_gflops": row["useful_flops"] / median,
            "gbps": row["bytes"] / median}


def finished_row(case: Case, started: dict, samples: list[float], rounds: list[int], native: list[float] | None,
                 finish: dict, resolution_ns: float) -> dict:
    """The row of an item that was sampled: its statistics, rates and the op's derived columns."""
    row = {**case_columns(case), **started}
    parts = finish.pop("parts", None)
    row.update(finish)
    if samples:  # kept when the re-check after the samples found the output wrong: the raw data stays
        row.update(sample_columns(samples, rounds, native, resolution_ns))
    if row["status"] != "ok":
        return row
    row.update(rates(row))
    row.update(op_of(case).derive(case, row, parts))
    return row
