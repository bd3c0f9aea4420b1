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

from gemmbench import registry
from gemmbench.measure import pages, timing
from gemmbench.backend import Backend, Variant
from gemmbench.method import MethodBackend
from gemmbench.op import Calls, Op, Workload
from gemmbench.measure.verify import Verdict, combine
from gemmbench.cases.workload import aligned_copy

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


def _read_only_note(exc: BaseException) -> str:
    """Why a write into the case's arrays failed, when that is what happened."""
    from gemmbench.measure.isolation import WRITE_HINT

    return f" ({WRITE_HINT})" if isinstance(exc, ValueError) and "read-only" in str(exc) else ""


def not_run(status: str, message: str) -> dict:
    return {"status": status, "message": message}


def verdict_columns(verdict: Verdict) -> dict:
    return {"max_abs_err": verdict.max_abs_err, "rel_err": verdict.rel_err, "snr_db": verdict.snr_db}


@dataclass
class Placement:
    """One prepared copy of a row, with its own arrays and so its own physical pages."""

    bound: list  # the prepared state bound to each recorded input
    callers: list
    python_loop: timing.Loop | None = None
    native_loop: timing.Loop | None = None


class Item:
    """A backend's variant on a workload, kept between the supervisor's requests.

    A row whose prepared data sits on 2 MiB pages is prepared `placements` times (TimingSettings),
    each copy verified, and its samples rotate through the copies: under a hypervisor one guest
    huge page may run a matrix that nearly fills L2 markedly faster than another (docs/measurement.md,
    "Placements"), and a run that drew one page per row would carry that draw into every ratio."""

    def __init__(self, op: Op, backend: Backend, variant: Variant, workload: Workload, ctx: Context):
        self.role = backend.role  # the backend's own, also when a method or a composed op runs on it
        if variant.method:  # a method registered for the backend, run on it
            backend = MethodBackend(backend, registry.methods.get(variant.method))
        elif workload.case.op not in backend.ops:
            backend = op.compose(backend) or backend  # a composite op built from the backend's primitives
        self.op, self.backend, self.variant, self.workload, self.ctx = op, backend, variant, workload, ctx
        self.precision = variant.precision or workload.case.dtype
        self.prepared: Any = None  # the first placement's, for describe, facts and parts
        self.placements: list[Placement] = []
        self.loops = self.native_loops = self.taken = 0

    @property
    def native(self) -> bool:
        return self.backend.offers("run_native")

    @property
    def samples_wanted(self) -> int:
        """Samples the supervisor takes of this row: fewer for a reference that is never chosen."""
        wanted = self.ctx.timing.samples
        return min(wanted, timing.REFERENCE_SAMPLES) if self.variant.reference_only else wanted

    def start(self) -> dict:
        """Columns known so far; status 'ok' means ready for samples, anything else is final."""
        case = self.workload.case
        row = {"variant": self.variant.name, "isa": self.variant.isa, "precision": self.precision,
               "tolerance": self.op.tolerance(case, self.precision), "detail": self.variant.detail,
               "role": self.role, "reference_only": self.variant.reference_only}
        ok, reason = self.backend.variant_available(self.variant, self.ctx.cpu_flags)
        if not ok:
            return {**row, **not_run("unavailable", reason)}
        reason = self.backend.skip_reason(case, self.variant)
        if reason:
            return {**row, **not_run("skipped", reason)}
        try:
            row.update(self._prepare_and_verify())
        except (Exception, SystemExit) as exc:  # a backend's bug (even sys.exit) costs its own row only
            row.update(not_run("error", failure_message(exc) + _read_only_note(exc)))
        return row

    def _prepare_and_verify(self) -> dict:
        self.inputs = self.workload.input_set()
        self.xs = [aligned_copy(w.x) for w in self.inputs]
        self.x = self.xs[0]
        self.out = self.workload.new_output()
        huge_before = pages.mapped_bytes()
        start = time.perf_counter_ns()
        first = self._place()
        self.prepared = first.bound[0]
        columns = {"prepare_ns": float(time.perf_counter_ns() - start),
                   "detail": str(self.backend.describe(self.prepared, self.variant)) + self._cycling_note()}
        if self.backend.offers("facts"):  # op columns only the prepared method knows (conv1d's workspace)
            columns.update(self.backend.facts(self.prepared, self.workload.case))
        verdict = self._verify_placement(first)
        self.placements = [first]
        on_huge_pages = pages.mapped_bytes() > huge_before
        while verdict.ok and on_huge_pages and len(self.placements) < self.ctx.timing.placements:
            placement = self._place()
            verdict = self._verify_placement(placement, f" (placement {len(self.placements) + 1})")
            self.placements.append(placement)
        columns.update(verdict_columns(verdict))
        if not verdict.ok:
            return {**columns, **not_run("wrong", verdict.message)}
        self._calibrate()
        return {**columns, "status": "ok", "message": "", "loops": self.loops,
                "native_loops": self.native_loops if self.native else None, "placements": len(self.placements)}

    def _place(self) -> Placement:
        """The backend's prepare, bound to each recorded input."""
        backend = self.backend
        unbound = backend.prepare(self.workload, self.variant)
        prepared = backend.bind(unbound, self.x, self.out)
        # Recorded inputs: each bound apart (outside prepare_ns, which is one input's), so a backend
        # that ties its state to the arrays it is given always runs with its own.
        bound = [prepared] + [backend.bind(unbound, x, self.out) for x in self.xs[1:]]
        return Placement(bound, [backend.caller(p, x, self.out) for p, x in zip(bound, self.xs)])

    def _verify_placement(self, placement: Placement, where: str = "") -> Verdict:
        verdict = self._verify(placement, "wrong result" + where, native=False)
        if verdict.ok and self.native:
            verdict = self._verify(placement, "native loop gives a wrong result" + where, native=True)
        return verdict

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

    def _verify(self, placement: Placement, what: str, native: bool) -> Verdict:
        verdicts = [self.op.verify(workload, self._calls(prepared, x, caller), self.precision, native=native)
                    for workload, prepared, x, caller in zip(self.inputs, placement.bound, self.xs, placement.callers)]
        verdict = verdicts[0]
        if len(verdicts) > 1:
            norms = [float(np.linalg.norm(workload.reference)) for workload in self.inputs]
            verdict = combine(verdicts, norms, self.precision, self.op.tolerance(self.workload.case, self.precision))
        if verdict.ok:
            return verdict
        return Verdict(False, verdict.max_abs_err, verdict.rel_err, verdict.snr_db, verdict.tolerance,
                       f"{what}: {verdict.message}")

    def _calibrate(self) -> None:
        """Loops for every placement; calls per sample from the first (the copies hold the same data)."""
        backend, x, out = self.backend, self.x, self.out
        for placement in self.placements:
            callers = placement.callers
            placement.python_loop = timing.python_loop(callers[0]) if len(callers) == 1 else timing.cycling_loop(callers)
            if self.native:
                prepared = placement.bound[0]
                placement.native_loop = lambda loops, prepared=prepared: backend.run_native(prepared, x, out, loops)
        settings, resolution = self.ctx.timing, self.ctx.resolution_ns
        first = self.placements[0]
        self.loops = timing.warm_and_calibrate(first.python_loop, settings, resolution)
        if self.native:
            self.native_loops = timing.warm_and_calibrate(first.native_loop, settings, resolution)

    def sample(self) -> tuple[float, float | None]:
        """One sample of each loop (ns per call), each re-warmed first; the placements take turns."""
        placement = self.placements[self.taken % len(self.placements)]
        self.taken += 1
        python = timing.rewarmed_sample(placement.python_loop, self.loops, REWARM_SHARE)
        native = timing.rewarmed_sample(placement.native_loop, self.native_loops, REWARM_SHARE) if self.native else None
        return python, native

    def count(self) -> dict:
        """Instructions per call under callgrind (the worker runs under it): the native loop where there is one."""
        from gemmbench.measure import instructions

        first = self.placements[0]
        loop = first.native_loop if self.native else first.python_loop
        label = f"{self.workload.case.name}/{self.variant.name}"
        return instructions.count(loop, label).columns()

    def finish(self) -> dict:
        """After the samples: the output checked once more, and the parts of a composite op timed."""
        columns: dict = {}
        try:
            if self.backend.offers("parts"):
                columns["parts"] = self._time_parts()
            # A kernel that is right once but drifts over repeated calls (state, accumulation) is wrong too.
            for number, placement in enumerate(self.placements, 1):
                where = f" (placement {number})" if number > 1 else ""
                after = self._verify(placement, "wrong after repeated calls" + where, native=False)
                if not after.ok:
                    return {**columns, **verdict_columns(after), **not_run("wrong", after.message)}
        except (Exception, SystemExit) as exc:
            return not_run("error", failure_message(exc) + _read_only_note(exc))
        return columns

    def _time_parts(self) -> dict[str, float]:
        """Median time per measured call of each part the backend exposes."""
        parts = self.backend.parts(self.prepared, self.x)
        return {name: timing.measure_loop(loop, self.ctx.timing, self.ctx.resolution_ns).stats.median * weight
                for name, (loop, weight) in parts.items()}

    def close(self) -> None:
        self.prepared, self.placements = None, []
