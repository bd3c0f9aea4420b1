"""One measurement: prepare (timed apart), verify against the reference, and only then time."""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass

from gemmbench import timing, verify
from gemmbench.backend import Backend, Variant
from gemmbench.workload import OPS, Case, Workload, aligned_copy, case_to_dict


@dataclass(frozen=True)
class Context:
    """What the worker knows that every measurement needs."""

    timing: timing.TimingSettings
    resolution_ns: float
    cpu_flags: frozenset[str]


def case_columns(case: Case) -> dict:
    sparsity = case.sparsity
    return {
        "case": case.name, "op": case.op, "dtype": case.dtype, "m": case.m, "k": case.k, "n": case.n,
        "seed": case.seed, "flops": case.flops, "useful_flops": case.useful_flops, "bytes": case.bytes,
        "density": case.density, "sparsity": sparsity.label() if sparsity else "",
        "params": json.dumps(case_to_dict(case)["params"]),
    }


def failure_message(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    where = traceback.extract_tb(exc.__traceback__)
    origin = f" (at {where[-1].filename.rsplit('/', 1)[-1]}:{where[-1].lineno})" if where else ""
    return " ".join(text.split())[:400] + origin


def not_run(status: str, message: str) -> dict:
    return {"status": status, "message": message}


def measure(backend: Backend, variant: Variant, workload: Workload, ctx: Context) -> dict:
    """A row's measured columns; never raises for a backend's failure."""
    case = workload.case
    compose = OPS[case.op].compose
    if case.op not in backend.ops and compose is not None:
        backend = compose(backend)  # a composite op built from the backend's primitives
    row = {"variant": variant.name, "isa": variant.isa, **case_columns(case)}
    precision = variant.precision or case.dtype
    row.update(precision=precision, tolerance=verify.TOLERANCE[precision], detail=variant.detail)
    ok, reason = backend.variant_available(variant, ctx.cpu_flags)
    if not ok:
        return {**row, **not_run("unavailable", reason)}
    reason = backend.skip_reason(case, variant)
    if reason:
        return {**row, **not_run("skipped", reason)}
    try:
        row.update(_measure(backend, variant, workload, ctx))
    except (Exception, SystemExit) as exc:  # a backend's bug (even sys.exit) costs its own row only
        row.update(not_run("error", failure_message(exc)))
    return row


def _verdict_columns(verdict: verify.Verdict) -> dict:
    return {"max_abs_err": verdict.max_abs_err, "rel_err": verdict.rel_err, "snr_db": verdict.snr_db}


def _measure(backend: Backend, variant: Variant, workload: Workload, ctx: Context) -> dict:
    x = aligned_copy(workload.x)
    out = workload.new_output()
    start = time.perf_counter_ns()
    prepared = backend.bind(backend.prepare(workload, variant), x, out)
    prepare_ns = time.perf_counter_ns() - start
    columns = {"prepare_ns": float(prepare_ns), "detail": str(backend.describe(prepared, variant))}
    precision = variant.precision or workload.case.dtype

    def verified(what: str) -> verify.Verdict:
        verdict = verify.check(out, workload.reference, precision)
        if not verdict.ok:
            verdict = verify.Verdict(False, verdict.max_abs_err, verdict.rel_err, verdict.snr_db,
                                     verdict.tolerance, f"{what}: {verdict.message}")
        return verdict

    out.fill(float("nan"))
    backend.run(prepared, x, out)
    verdict = verified("wrong result")
    if verdict.ok and backend.run_native is not None:
        out.fill(float("nan"))
        backend.run_native(prepared, x, out, 1)
        verdict = verified("native loop gives a wrong result")
    columns.update(_verdict_columns(verdict))
    if not verdict.ok:
        return {**columns, **not_run("wrong", verdict.message)}

    python = timing.measure(timing.python_loop(lambda: backend.run(prepared, x, out)),
                            ctx.timing, ctx.resolution_ns)
    columns.update(_timing_columns(python, "", ctx.resolution_ns))
    if backend.run_native is not None:
        native = timing.measure(lambda loops: backend.run_native(prepared, x, out, loops),
                                ctx.timing, ctx.resolution_ns)
        columns.update(_timing_columns(native, "native_", ctx.resolution_ns))
    part_ns = _time_parts(backend, prepared, x, ctx)
    # A kernel that is right once but drifts over repeated calls (state, accumulation) is wrong too.
    out.fill(float("nan"))
    backend.run(prepared, x, out)
    after = verified("wrong after repeated calls")
    if not after.ok:
        return {**columns, **_verdict_columns(after), **not_run("wrong", after.message)}
    columns.update(_derived(workload.case, python.stats.median))
    derive = OPS[workload.case.op].derive
    if derive is not None:
        columns.update(derive(workload.case, columns, part_ns))
    return {**columns, "status": "ok", "message": ""}


def _time_parts(backend: Backend, prepared, x, ctx: Context) -> dict[str, float] | None:
    """Median time per sample of each part a composite op's backend exposes, or None."""
    parts = getattr(backend, "parts", None)
    if parts is None:
        return None
    return {name: timing.measure(loop, ctx.timing, ctx.resolution_ns).stats.median * weight
            for name, (loop, weight) in parts(prepared, x).items()}


def _timing_columns(measurement: timing.Measurement, prefix: str, resolution_ns: float) -> dict:
    stats = measurement.stats
    if prefix:
        return {"native_loops": measurement.loops, "native_samples_ns": list(measurement.samples_ns),
                "native_median_ns": stats.median, "native_iqr_ns": stats.iqr}
    return {"loops": measurement.loops, "samples_ns": list(measurement.samples_ns),
            "median_ns": stats.median, "min_ns": stats.min, "mean_ns": stats.mean, "std_ns": stats.std,
            "iqr_ns": stats.iqr, "cv": stats.cv, "noisy": stats.noisy, "timer_resolution_ns": resolution_ns}


def _derived(case: Case, median_ns: float) -> dict:
    return {"gflops": case.flops / median_ns, "useful_gflops": case.useful_flops / median_ns,
            "gbps": case.bytes / median_ns}
