"""One row's life inside a worker: prepare (timed apart), verify, calibrate, then samples on request.

The supervisor measures the rows of a case in interleaved rounds, so an `Item` lives across
rounds with its prepared state: `start()` prepares and verifies it and calibrates its loops,
each `sample()` re-warms it and times one sample of the Python call (and of the native loop,
where the backend has one), and `finish()` checks the output once more after all the calls
and times the parts of a composite op. Nothing is timed before the output is verified.
A case with recorded inputs (`Workload.input_set`) is verified on every one of them, and
its Python call cycles through them; a native loop runs on the first.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from gemmbench import timing
from gemmbench.backend import Backend, Variant
from gemmbench.op import Calls, Op, Workload
from gemmbench.verify import Verdict, combine
from gemmbench.workload import aligned_copy

# Each sample is preceded by this share of its calls, untimed: after another process's sample
# the caches hold that process's data, and the first calls would pay for refilling them.
REWARM_SHARE = 0.25


@dataclass(frozen=True)
class Context:
    """What the worker knows that every item needs."""

    timing: timing.TimingSettings
    resolution_ns: float
    cpu_flags: frozenset[str]


def failure_message(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    where = traceback.extract_tb(exc.__traceback__)
    origin = f" (at {where[-1].filename.rsplit('/', 1)[-1]}:{where[-1].lineno})" if where else ""
    return " ".join(text.split())[:400] + origin


def not_run(status: str, message: str) -> dict:
    return {"status": status, "message": message}


def verdict_columns(verdict: Verdict) -> dict:
    return {"max_abs_err": verdict.max_abs_err, "rel_err": verdict.rel_err, "snr_db": verdict.snr_db}


class Item:
    """A backend's variant on a workload, kept between the supervisor's requests."""

    def __init__(self, op: Op, backend: Backend, variant: Variant, workload: Workload, ctx: Context):
        if workload.case.op not in backend.ops:
            backend = op.compose(backend) or backend  # a composite op built from the backend's primitives
        self.op, self.backend, self.variant, self.workload, self.ctx = op, backend, variant, workload, ctx
        self.precision = variant.precision or workload.case.dtype
        self.prepared: Any = None
        self.python_loop: timing.Loop | None = None
        self.native_loop: timing.Loop | None = None
        self.loops = self.native_loops = 0

    @property
    def native(self) -> bool:
        return self.native_loop is not None

    @property
    def samples_wanted(self) -> int:
        """Samples the supervisor takes of this row: fewer for a reference that is never chosen."""
        wanted = self.ctx.timing.samples
        return min(wanted, timing.REFERENCE_SAMPLES) if self.variant.reference_only else wanted

    def start(self) -> dict:
        """Columns known so far; status 'ok' means ready for samples, anything else is final."""
        case = self.workload.case
        row = {"variant": self.variant.name, "isa": self.variant.isa, "precision": self.precision,
               "tolerance": self.op.tolerance(case, self.precision), "detail": self.variant.detail}
        ok, reason = self.backend.variant_available(self.variant, self.ctx.cpu_flags)
        if not ok:
            return {**row, **not_run("unavailable", reason)}
        reason = self.backend.skip_reason(case, self.variant)
        if reason:
            return {**row, **not_run("skipped", reason)}
        try:
            row.update(self._prepare_and_verify())
        except (Exception, SystemExit) as exc:  # a backend's bug (even sys.exit) costs its own row only
            row.update(not_run("error", failure_message(exc)))
        return row

    def _prepare_and_verify(self) -> dict:
        backend, variant = self.backend, self.variant
        self.inputs = self.workload.input_set()
        self.xs = [aligned_copy(w.x) for w in self.inputs]
        self.x = self.xs[0]
        self.out = self.workload.new_output()
        start = time.perf_counter_ns()
        unbound = backend.prepare(self.workload, variant)
        self.prepared = backend.bind(unbound, self.x, self.out)
        columns = {"prepare_ns": float(time.perf_counter_ns() - start),
                   "detail": str(backend.describe(self.prepared, variant)) + self._cycling_note()}
        # Recorded inputs: each bound apart (outside prepare_ns, which is one input's), so a backend
        # that ties its state to the arrays it is given always runs with its own.
        self.bound = [self.prepared] + [backend.bind(unbound, x, self.out) for x in self.xs[1:]]
        self.callers = [backend.caller(prepared, x, self.out) for prepared, x in zip(self.bound, self.xs)]
        if backend.offers("facts"):  # op columns only the prepared method knows (conv1d's workspace)
            columns.update(backend.facts(self.prepared, self.workload.case))
        verdict = self._verify("wrong result", native=False)
        if verdict.ok and backend.offers("run_native"):
            verdict = self._verify("native loop gives a wrong result", native=True)
        columns.update(verdict_columns(verdict))
        if not verdict.ok:
            return {**columns, **not_run("wrong", verdict.message)}
        self._calibrate()
        return {**columns, "status": "ok", "message": "", "loops": self.loops,
                "native_loops": self.native_loops if self.native else None}

    def _cycling_note(self) -> str:
        if len(self.xs) == 1:
            return ""
        note = f"; the Python call cycles through {len(self.xs)} recorded inputs"
        if self.backend.offers("run_native"):
            note += " (the native loop runs on the first: it cannot cycle)"
        return note

    def _calls(self, prepared: Any, x, caller) -> Calls:
        backend, out = self.backend, self.out
        native = (lambda: backend.run_native(prepared, x, out, 1)) if backend.offers("run_native") else None
        return Calls(out, caller, native, lambda: backend.reset(prepared))

    def _verify(self, what: str, native: bool) -> Verdict:
        verdicts = [self.op.verify(workload, self._calls(prepared, x, caller), self.precision, native=native)
                    for workload, prepared, x, caller in zip(self.inputs, self.bound, self.xs, self.callers)]
        verdict = verdicts[0]
        if len(verdicts) > 1:
            norms = [float(np.linalg.norm(workload.reference)) for workload in self.inputs]
            verdict = combine(verdicts, norms, self.precision, self.op.tolerance(self.workload.case, self.precision))
        if verdict.ok:
            return verdict
        return Verdict(False, verdict.max_abs_err, verdict.rel_err, verdict.snr_db, verdict.tolerance,
                       f"{what}: {verdict.message}")

    def _calibrate(self) -> None:
        backend, prepared, x, out = self.backend, self.prepared, self.x, self.out
        settings, resolution = self.ctx.timing, self.ctx.resolution_ns
        if len(self.xs) == 1:
            self.python_loop = timing.python_loop(self.callers[0])
        else:
            self.python_loop = timing.cycling_loop(self.callers)
        self.loops = timing.warm_and_calibrate(self.python_loop, settings, resolution)
        if backend.offers("run_native"):
            self.native_loop = lambda loops: backend.run_native(prepared, x, out, loops)
            self.native_loops = timing.warm_and_calibrate(self.native_loop, settings, resolution)

    def sample(self) -> tuple[float, float | None]:
        """One sample of each loop (ns per call), each re-warmed first."""
        python = timing.rewarmed_sample(self.python_loop, self.loops, REWARM_SHARE)
        native = timing.rewarmed_sample(self.native_loop, self.native_loops, REWARM_SHARE) if self.native else None
        return python, native

    def count(self) -> dict:
        """Instructions per call under callgrind (the worker runs under it): the native loop where there is one."""
        from gemmbench import instructions

        loop = self.native_loop if self.native else self.python_loop
        label = f"{self.workload.case.name}/{self.variant.name}"
        return instructions.count(loop, label).columns()

    def finish(self) -> dict:
        """After the samples: the output checked once more, and the parts of a composite op timed."""
        columns: dict = {}
        try:
            if self.backend.offers("parts"):
                columns["parts"] = self._time_parts()
            # A kernel that is right once but drifts over repeated calls (state, accumulation) is wrong too.
            after = self._verify("wrong after repeated calls", native=False)
        except (Exception, SystemExit) as exc:
            return not_run("error", failure_message(exc))
        if not after.ok:
            return {**columns, **verdict_columns(after), **not_run("wrong", after.message)}
        return columns

    def _time_parts(self) -> dict[str, float]:
        """Median time per measured call of each part the backend exposes."""
        parts = self.backend.parts(self.prepared, self.x)
        return {name: timing.measure_loop(loop, self.ctx.timing, self.ctx.resolution_ns).stats.median * weight
                for name, (loop, weight) in parts.items()}

    def close(self) -> None:
        self.prepared = self.python_loop = self.native_loop = None
        self.bound, self.callers = [], []
