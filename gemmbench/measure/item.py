"""One row's life inside a worker: prepare (timed apart), verify, calibrate, then samples on request.

The supervisor measures the rows of a case in interleaved rounds, so an `Item` lives across
rounds with its prepared state: `start()` prepares and verifies it and calibrates its loops,
each `sample()` re-warms it and times one sample of the Python call (and of the native loop,
where the backend has one), taking a preempted sample again (timing.steady_sample), and
`finish()` checks the output once more after all the calls and times the parts of a composite
op. Nothing is timed before the output is verified.
A case with recorded inputs (`Workload.input_set`) is verified on every one of them, and
its Python call cycles through them; a native loop runs on the first.
The worker's cache state (gemmbench.measure.cache) decides what runs between calls: nothing
(hot), a disturbance (between), or the next of a pile of copies (cold).
"""

from __future__ import annotations

import functools
import time
import traceback
import tracemalloc
from dataclasses import dataclass
from typing import Any

import numpy as np

from gemmbench import registry
from gemmbench.backend import Backend, Variant
from gemmbench.cases.workload import aligned_copy
from gemmbench.measure import cache, pages, timing
from gemmbench.measure.verify import Verdict, combine
from gemmbench.method import MethodBackend
from gemmbench.op import Calls, Op, Workload

# Each sample is preceded by this share of its calls, untimed: after another process's sample
# the caches hold that process's data, and the first calls would pay for refilling them.
REWARM_SHARE = 0.25


@dataclass(frozen=True)
class Context:
    """What the worker knows that every item needs."""

    timing: timing.TimingSettings
    resolution_ns: float
    cpu_flags: frozenset[str]
    cache: str = cache.DEFAULT  # the cache state the calls find (gemmbench.measure.cache)

    @property
    def between_bytes(self) -> int:
        chosen = self.timing.between_bytes
        return chosen if chosen is not None else cache.default_between_bytes()


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


def _verdict_columns(verdict: Verdict) -> dict:
    return {"max_abs_err": verdict.max_abs_err, "rel_err": verdict.rel_err, "snr_db": verdict.snr_db,
            **verdict.columns}


@dataclass
class Placement:
    """One prepared copy of a row, with its own arrays and so its own physical pages."""

    bound: list  # the prepared state bound to each recorded input
    callers: list


@dataclass(frozen=True)
class Timed:
    """What a sample times: the loop (its calls per sample calibrated on it) and its sampler."""

    loop: timing.Loop
    take: timing.Sampler


class Item:
    """A backend's variant on a workload, kept between the supervisor's requests.

    A row whose prepared data sits on pages of its own (large arrays) is prepared `placements`
    times (TimingSettings), each copy verified, and its samples rotate through the copies: under
    a hypervisor one guest huge page may run a matrix that nearly fills L2 markedly faster than
    another, and on 4 KiB pages each copy has its own scatter (docs/measurement.md, "Placements");
    a run that drew one placement per row would carry that draw into every ratio. With cache
    `cold` the copies are a pile large enough to push each out of the caches, and every call
    takes the next one."""

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
        self.python: list[Timed] = []  # per placement (one for cache cold: each sample cycles through the pile)
        self.natives: list[Timed] = []
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
        placed_before = pages.placed_bytes()
        start = time.perf_counter_ns()
        first = self._place()
        self.prepared = first.bound[0]
        columns = {"prepare_ns": float(time.perf_counter_ns() - start),
                   "detail": str(self.backend.describe(self.prepared, self.variant)) + self._cycling_note()}
        if self.backend.offers("facts"):  # op columns only the prepared method knows (conv1d's workspace)
            columns.update(self.backend.facts(self.prepared, self.workload.case))
        verdict = self._verify_placement(first)
        self.placements = [first]
        wanted = self.ctx.timing.placements if pages.placed_bytes() > placed_before else 1
        if verdict.ok and self.ctx.cache == "cold":
            wanted = self._cold_copies()
            verdict = self._verify_placement(self.placements[-1], " (placement 2)")
        while verdict.ok and len(self.placements) < wanted:
            placement = self._place()
            verdict = self._verify_placement(placement, f" (placement {len(self.placements) + 1})")
            self.placements.append(placement)
        columns.update(_verdict_columns(verdict))
        if not verdict.ok:
            return {**columns, **not_run("wrong", verdict.message)}
        self._calibrate()
        return {**columns, "status": "ok", "message": "", "loops": self.loops,
                "native_loops": self.native_loops if self.native else None, "placements": len(self.placements),
                **self._condition_columns()}

    def _cold_copies(self) -> int:
        """The pile's size: a second copy prepared while tracing what it allocates, its bytes against
        the caches' capacity (gemmbench.measure.cache). The first copy's prepare_ns is never traced."""
        mapped_before = pages.mapped_bytes()
        tracemalloc.start()
        try:
            traced_before = tracemalloc.get_traced_memory()[0]
            self.placements.append(self._place())
            traced = tracemalloc.get_traced_memory()[0] - traced_before
        finally:
            tracemalloc.stop()
        return cache.cold_copies(traced + pages.mapped_bytes() - mapped_before, cache.cache_capacity())

    def _condition_columns(self) -> dict:
        return {"between_bytes": self.ctx.between_bytes} if self.ctx.cache == "between" else {}

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
                       f"{what}: {verdict.message}", verdict.columns)

    def _native_call(self, placement: Placement):
        backend, prepared, x, out = self.backend, placement.bound[0], self.x, self.out
        return lambda loops: backend.run_native(prepared, x, out, loops)

    def _calibrate(self) -> None:
        """What each sample times, by cache state; calls per sample from the first placement (the
        copies hold the same data)."""
        {"cold": self._cold_loops, "between": self._between_loops}.get(self.ctx.cache, self._hot_loops)()
        settings, resolution = self.ctx.timing, self.ctx.resolution_ns
        self.loops = timing.warm_and_calibrate(self.python[0].loop, settings, resolution)
        if self.native:
            self.native_loops = timing.warm_and_calibrate(self.natives[0].loop, settings, resolution)

    def _hot_loops(self) -> None:
        """Calls back to back, one loop per placement, each timed in one window."""
        for placement in self.placements:
            callers = placement.callers
            loop = timing.python_loop(callers[0]) if len(callers) == 1 else timing.cycling_loop(callers)
            self.python.append(Timed(loop, timing.sampler(loop)))
            if self.native:
                native = self._native_call(placement)
                self.natives.append(Timed(native, timing.sampler(native)))

    def _between_loops(self) -> None:
        """Per placement, calls timed one by one with the disturbance read before each."""
        touch = cache.Disturbance(self.ctx.between_bytes)
        for placement in self.placements:
            loop = cache.one_by_one([cache.timed_alone(call) for call in placement.callers], touch)
            self.python.append(Timed(loop, timing.sampler(loop, one_window=False)))
            if self.native:
                native = cache.one_by_one([functools.partial(self._native_call(placement), 1)], touch)
                self.natives.append(Timed(native, timing.sampler(native, one_window=False)))

    def _cold_loops(self) -> None:
        """One loop over the whole pile, each call on the next copy, timed one by one."""
        callers = [p.callers[i % len(p.callers)] for i, p in enumerate(self.placements)]
        loop = cache.one_by_one([cache.timed_alone(call) for call in callers], None)
        self.python = [Timed(loop, timing.sampler(loop, one_window=False))]
        if self.native:
            native = cache.one_by_one([functools.partial(self._native_call(p), 1) for p in self.placements], None)
            self.natives = [Timed(native, timing.sampler(native, one_window=False))]

    def sample(self) -> dict:
        """One sample of each loop, each re-warmed first and taken again while preempted (up to
        `retakes` times); the placements take turns. ns and CPU ns per call, the preempted samples
        seen, and whether a kept sample is still preempted."""
        turn = self.taken % len(self.python)
        self.taken += 1
        retakes = self.ctx.timing.retakes
        python, seen = timing.steady_sample(self.python[turn].loop, self.python[turn].take, self.loops,
                                            REWARM_SHARE, retakes)
        reply = {"ns": python.wall_ns, "cpu_ns": _finite_or_none(python.cpu_ns), "native_ns": None,
                 "native_cpu_ns": None, "placement": turn, "preempted": seen, "marked": python.preempted}
        if self.native:
            native, native_seen = timing.steady_sample(self.natives[turn].loop, self.natives[turn].take,
                                                       self.native_loops, REWARM_SHARE, retakes)
            reply.update(native_ns=native.wall_ns, native_cpu_ns=_finite_or_none(native.cpu_ns),
                         preempted=seen + native_seen, marked=python.preempted or native.preempted)
        return reply

    def count(self) -> dict:
        """Instructions per call under callgrind (the worker runs under it): the native loop where there is one."""
        from gemmbench.measure import instructions

        loop = self.natives[0].loop if self.native else self.python[0].loop
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
                    return {**columns, **_verdict_columns(after), **not_run("wrong", after.message)}
        except (Exception, SystemExit) as exc:
            return not_run("error", failure_message(exc) + _read_only_note(exc))
        return columns

    def _time_parts(self) -> dict[str, float]:
        """Median time per measured call of each part the backend exposes."""
        parts = self.backend.parts(self.prepared, self.x)
        return {name: timing.measure_loop(loop, self.ctx.timing, self.ctx.resolution_ns).stats.median * weight
                for name, (loop, weight) in parts.items()}

    def close(self) -> None:
        self.prepared, self.placements, self.python, self.natives = None, [], [], []


def _finite_or_none(value: float) -> float | None:
    """JSON has no nan: a CPU time not kept travels as null."""
    return value if np.isfinite(value) else None
