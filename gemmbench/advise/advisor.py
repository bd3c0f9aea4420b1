"""Advice for one or more matrices: sweep the formats through the real runner, judge each row's error
on the activations, and find the frontier and the recommendation within the budget."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import yaml

from gemmbench.advise import accuracy, frontier, sweep
from gemmbench.advise.accuracy import Activations, OutlierRows
from gemmbench.advise.frontier import Advice, Candidate, Ratio
from gemmbench.advise.target import Target, activations, inputs_for
from gemmbench.cases.arrayfile import ArrayRef
from gemmbench.formats import quant
from gemmbench.stats.decide import is_reference, samples_of, stored_speedup, time_of, timed

SCHEME_IN_DETAIL = re.compile(r"int8 scheme ([\w-]+)")
MODEL_AGREEMENT = 1e-6  # an int8 row's measured error and its scheme's model agree to this (relative)


@dataclass(frozen=True)
class SchemeError:
    scheme: str
    error: float
    kernels: tuple[str, ...]  # backend:variant rows that ran it on the dense matrix, verified and timed
    refused: tuple[str, ...] = ()  # rows that ran it and failed the correctness gate (never timed)


@dataclass(frozen=True, eq=False)
class MatrixAdvice:
    """Everything said about one matrix."""

    target: Target
    activations: Activations
    candidates: tuple[Candidate, ...]
    frontier: tuple[Candidate, ...]
    advice: Advice
    schemes: tuple[SchemeError, ...]  # every int8 scheme on the dense matrix
    outliers: OutlierRows | None
    failed: tuple[Mapping, ...]  # rows that were wrong, errors or crashes
    int8_checked: tuple[int, int]  # (int8 rows whose measured error matched their scheme's model, int8 rows)


@dataclass(frozen=True, eq=False)
class Outcome:
    matrices: tuple[MatrixAdvice, ...]
    run_path: Path
    rows: list[dict]
    seconds: float
    budget: float
    noise: str  # the run's noise warning, '' when quiet


def _run_sweep(targets: list[Target], settings: sweep.Settings, inputs: ArrayRef | None, out_dir: Path,
              progress: bool | None, seed: int | None):
    """The formats of every matrix as one suite, through the real runner (verified, then timed in rounds)."""
    from gemmbench.cases.suite import parse_suite
    from gemmbench.measure.runner import RunOptions, run_suite

    planned, cases = [], []
    for target in targets:
        for plan, case in sweep.planned_cases(target, settings, inputs_for(target, inputs)):
            planned.append(plan)
            cases.append(case)
    document = sweep.suite_document(sweep.suite_name(targets), cases, settings)
    suite = parse_suite(yaml.safe_dump(document, sort_keys=False), f"<{document['name']}>", Path.cwd())
    options = RunOptions(out_dir=out_dir, progress=progress, check=True, seed=seed)
    return planned, run_suite(suite, options)


def advise(targets: list[Target], budget: float, settings: sweep.Settings, inputs: ArrayRef | None,
           out_dir: Path, progress: bool | None = None, seed: int | None = None) -> Outcome:
    start = time.monotonic()
    planned, outcome = _run_sweep(targets, settings, inputs, out_dir, progress, seed)
    rows = outcome.rows
    by_target: dict[int, list[sweep.Planned]] = {}
    for plan in planned:
        by_target.setdefault(id(plan.target), []).append(plan)
    matrices = tuple(judge(target, by_target[id(target)], rows, budget,
                           activations(inputs_for(target, inputs), target.shape[1], inputs is not None))
                     for target in targets)
    noise = outcome.noise.warning() if outcome.noise is not None else ""
    return Outcome(matrices, outcome.path, rows, time.monotonic() - start, budget, noise)


# ---------------------------------------------------------------- judging one matrix

def judge(target: Target, plans: list[sweep.Planned], rows: list[dict], budget: float,
          acts: Activations) -> MatrixAdvice:
    from gemmbench.cases.workload import make_workload
    from gemmbench.data.results import FAILED_STATUSES

    names = {plan.name: plan for plan in plans}
    mine = [row for row in rows if row["case"] in names]
    truth = accuracy.float_outputs(target.weights, acts.x)
    candidates, checked = [], [0, 0]
    for name, plan in names.items():
        measured = [row for row in mine if row["case"] == name and timed(row)]
        if not measured:
            continue
        workload = make_workload(_case_of(rows, name))
        format_error = accuracy.relative_error(accuracy.float_outputs(workload.weights, acts.x), truth)
        for row in measured:
            error, scheme, agrees = _row_error(row, workload, acts, truth, format_error)
            if agrees is not None:
                checked[0] += agrees
                checked[1] += 1
            candidates.append(_candidate(row, plan, error, scheme))
    pairing = _pairing
    dense = next((p for p in plans if p.format == "dense"), None)
    return MatrixAdvice(
        target, acts, tuple(candidates), tuple(frontier.frontier(candidates, pairing)),
        frontier.recommend(candidates, budget, pairing),
        _schemes(target, dense, mine, acts, truth, rows) if dense else (),
        accuracy.outlier_rows(target.weights, acts.x, truth),
        tuple(row for row in mine if row["status"] in FAILED_STATUSES), (checked[0], checked[1]))


def _case_of(rows: list[dict], name: str):
    """The case a row measured, rebuilt from its params (the same data the workers made)."""
    import json

    from gemmbench.cases.workload import case_from_dict

    row = next(r for r in rows if r["case"] == name)
    return case_from_dict({"name": name, "op": row["op"], "dtype": row["dtype"], "seed": int(row["seed"]),
                           "spec": json.loads(row["params"])})


def _scheme_of(row: Mapping) -> quant.QuantScheme | None:
    """The int8 scheme an int8 row ran, as its detail names it."""
    if row.get("precision") != "int8":
        return None
    found = SCHEME_IN_DETAIL.search(str(row.get("detail") or ""))
    return quant.SCHEMES.get(found.group(1)) if found else None


def _row_error(row: Mapping, workload, acts: Activations, truth: np.ndarray,
               format_error: float) -> tuple[float, str, bool | None]:
    """(error on the activations, the int8 scheme or '', whether the row's measured error matched the model)."""
    scheme = _scheme_of(row)
    if scheme is None:
        return accuracy.combined(format_error, float(row.get("rel_err") or 0.0)), "", None
    error = accuracy.scheme_error(workload.weights, workload.diagonal, scheme, acts.x, truth)
    return error, scheme.name, _model_agrees(row, workload, scheme)


def _model_agrees(row: Mapping, workload, scheme: quant.QuantScheme) -> bool:
    """The run measured the row's error on its own inputs: the scheme's model must give the same."""
    inputs = [w for w in workload.input_set()]
    x = np.stack([w.x for w in inputs]).astype(np.float64)
    reference = np.stack([w.reference for w in inputs])
    modelled = accuracy.relative_error(accuracy.int8_outputs(workload.weights, workload.diagonal, scheme, x),
                                       reference)
    measured = float(row.get("rel_err") or math.nan)
    return abs(modelled - measured) <= MODEL_AGREEMENT * max(measured, 1e-30)


def _candidate(row: Mapping, plan: sweep.Planned, error: float, scheme: str) -> Candidate:
    """The row as a candidate: its own median time with a bootstrap interval over its samples, and its
    speed-up over the baseline of its case, paired round by round (as the run stored it)."""
    from gemmbench.stats import paired

    kernel = f"{row['backend']}:{row['variant']}"
    precision = row.get("precision") or row["dtype"]
    fmt = f"{plan.format} {precision}" + (f" {scheme}" if scheme else "")
    time_ns, source = time_of(row)
    samples = samples_of(row, source)
    low, high = paired.median_interval(samples)[1:] if samples.size >= 2 else (time_ns, time_ns)
    return Candidate(f"{kernel} {fmt}", row["case"], kernel, fmt, error, time_ns, low, high,
                     is_reference(row), row, stored_speedup(row))


def _pairing(fast: Candidate, slow: Candidate) -> Ratio | None:
    """Candidates of one case were sampled in the same rounds: pair them round by round."""
    from gemmbench.stats import paired

    if fast.case != slow.case or fast.row is None or slow.row is None:
        return None
    pair = paired.paired_ratio(slow.row, fast.row)
    if pair is None or pair.rounds < 2:
        return None
    return Ratio(pair.ratio, pair.low, pair.high)


def _schemes(target: Target, dense: sweep.Planned, mine: list[dict], acts: Activations, truth: np.ndarray,
             rows: list[dict]) -> tuple[SchemeError, ...]:
    """Every int8 scheme on the dense matrix, whether or not a kernel here runs it."""
    from gemmbench.cases.workload import make_workload

    workload = make_workload(_case_of(rows, dense.name))
    ran: dict[tuple[str, bool], list[str]] = {}
    for row in mine:
        scheme = _scheme_of(row)
        if row["case"] == dense.name and scheme is not None and row["status"] in ("ok", "wrong"):
            ran.setdefault((scheme.name, row["status"] == "ok"), []).append(f"{row['backend']}:{row['variant']}")
    errors = [SchemeError(name, accuracy.scheme_error(workload.weights, None, scheme, acts.x, truth),
                          tuple(ran.get((name, True), ())), tuple(ran.get((name, False), ())))
              for name, scheme in quant.SCHEMES.items()]
    return tuple(sorted(errors, key=lambda s: s.error))
