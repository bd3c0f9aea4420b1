"""Warm-up, inner-loop calibration, samples and their statistics.

Everything here works on a `loop(loops) -> elapsed ns` function, so the same rules time a
Python call (`python_loop`) and a loop that runs inside native code.

A sample (`Sample`, taken by a `sampler`) also records the thread's CPU time and its
involuntary context switches over the same window: a sample whose thread was switched out,
or whose wall time ran ahead of its CPU time (a hypervisor that took the vCPU away), is
*preempted*, and `steady_sample` takes it again, a bounded number of times
(docs/measurement.md, "Preempted samples").
"""

from __future__ import annotations

import itertools
import math
import resource
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

NOISY_SPREAD = 0.10  # sample_spread above which a row is flagged noisy (set on quiet runs: docs/measurement.md)
PLACEMENT_NOTE = 0.10  # placement_spread above which a run names the row: its placements differ that much
# A sample whose wall time exceeds its thread's CPU time by more than this share was not running
# all along: a guest kernel that accounts the hypervisor's steal (KVM) leaves it out of CPU time.
# A sample on the CPU all along reads a CPU time at or a little above its wall time (the CPU clock's
# window holds the wall clock's); this share keeps well clear of that.
OFF_CPU_SHARE = 0.01
RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)  # Linux counts per thread
RESOLUTION_FACTOR = 1000  # a sample lasts at least this many timer ticks
MIN_SAMPLES = 5  # a time-bounded row still gets this many samples
# A reference-only variant (Backend.Variant.reference_only) is shown, never chosen nor the
# baseline of a ratio: this many samples say its time well enough, and its rows cost a fifth.
REFERENCE_SAMPLES = MIN_SAMPLES

Loop = Callable[[int], int]


class Clocks(int):
    """A native loop's elapsed wall ns (an int, what `run_native` returns), with the thread CPU ns
    and involuntary context switches that native code read around the very same loop.

    A backend whose native loop reads them returns one; for a plain int the harness reads them
    from Python around the call (a window wider by one call from Python, some microseconds)."""

    def __new__(cls, wall_ns: int, cpu_ns: int, switches: int) -> "Clocks":
        clocks = super().__new__(cls, wall_ns)
        clocks.cpu_ns, clocks.switches = int(cpu_ns), int(switches)
        return clocks


@dataclass(frozen=True)
class Sample:
    """One sample: ns per call by the wall clock and by the thread's CPU clock, and whether preempted."""

    wall_ns: float
    cpu_ns: float  # nan where the calls were timed one by one with untimed work between (cache: between)
    switches: int  # involuntary context switches of the thread during the sample
    preempted: bool  # switched out, or its wall time ran more than OFF_CPU_SHARE ahead of its CPU time


Sampler = Callable[[int], Sample]


def switches() -> int:
    """This thread's involuntary context switches so far."""
    return resource.getrusage(RUSAGE_THREAD).ru_nivcsw


def sampler(loop: Loop, one_window: bool = True, clock: Callable[[], int] = time.perf_counter_ns) -> Sampler:
    """Samples of `loop`, each with the CPU time and switches of its window.

    `one_window`: the loop's ns span the whole window, so its CPU time per call is kept; a loop
    that times its calls one by one, with untimed work between them, keeps only the verdict."""

    def take(loops: int) -> Sample:
        # Nested windows: switches around CPU time around wall time, so the CPU window holds
        # little more than the wall window (a getrusage call costs about a microsecond).
        switched = switches()
        cpu_start = time.thread_time_ns()
        start = clock()
        timed = loop(loops)
        window = clock() - start
        cpu = time.thread_time_ns() - cpu_start
        switched = switches() - switched
        if isinstance(timed, Clocks) and timed.switches >= 0:  # read in native code around the loop itself
            window, cpu, switched = int(timed), timed.cpu_ns, timed.switches
        preempted = switched > 0 or window - cpu > OFF_CPU_SHARE * window
        return Sample(timed / loops, cpu / loops if one_window else math.nan, switched, preempted)

    return take


def steady_sample(loop: Loop, take: Sampler, loops: int, share: float, retakes: int) -> tuple[Sample, int]:
    """A sample of `loops` calls after `share` of them untimed (none for 0), taken again (re-warmed)
    while it comes out preempted, up to `retakes` times; (the sample kept, preempted samples seen)."""
    preempted = 0
    while True:
        if share > 0:
            loop(max(1, math.ceil(loops * share)))
        sample = take(loops)
        if not sample.preempted:
            return sample, preempted
        preempted += 1
        if preempted > retakes:
            return sample, preempted  # kept, and marked by its own `preempted`


@dataclass(frozen=True)
class TimingSettings:
    warmup: float = 0.02  # seconds of discarded calls before calibration
    min_time: float = 0.002  # seconds each sample lasts at least
    samples: int = 25  # samples per row ...
    max_time: float = 2.0  # ... unless sampling has taken this many seconds
    timeout: float = 60.0  # seconds a row may take (prepare included) before it is killed
    placements: int = 4  # copies of a row whose data sits on 2 MiB pages, its samples taking turns (item.py)
    retakes: int = 3  # times a preempted sample is taken again before it is kept, marked (0: never)
    between_bytes: int | None = None  # bytes touched between calls with cache: between (None: LPCNet's other layers)


@dataclass(frozen=True)
class Stats:
    median: float
    min: float
    mean: float
    std: float
    iqr: float
    cv: float


@dataclass(frozen=True)
class Measurement:
    loops: int  # calls per sample
    samples_ns: tuple[float, ...]  # time per call in each sample

    @property
    def stats(self) -> Stats:
        return statistics(self.samples_ns)


def statistics(samples: tuple[float, ...] | list[float]) -> Stats:
    values = np.asarray(samples, dtype=np.float64)
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return Stats(float(median), float(values.min()), mean, std, float(q75 - q25),
                 std / mean if mean > 0 else 0.0)


def sample_spread(samples: list[float], placements: list[int], kept: list[bool]) -> float:
    """How far a row's samples lie from their placement's median: the median of |sample / median - 1|
    over the kept samples of placements with two or more of them (half the samples lie closer). A
    median, so a few slow samples (the tail every VM shows) do not make a row noisy; the spread the
    cache placement explains is placement_spread's. nan below 3 such samples."""
    values, where = np.asarray(samples, dtype=float), np.asarray(placements)
    keep = np.asarray(kept, dtype=bool) & np.isfinite(values) & (values > 0)
    deviations = []
    for placement in np.unique(where[keep]):
        mine = values[keep & (where == placement)]
        if mine.size >= 2:  # a lone sample is its own median: it would read as no spread at all
            deviations.extend(np.abs(mine / np.median(mine) - 1))
    return float(np.median(deviations)) if len(deviations) >= 3 else math.nan


def placement_spread(samples: list[float], placements: list[int], kept: list[bool]) -> float:
    """The slowest placement's median over the fastest's, minus 1, among placements with two or more
    kept samples (nan with fewer than two such placements)."""
    values, where = np.asarray(samples, dtype=float), np.asarray(placements)
    keep = np.asarray(kept, dtype=bool)
    medians = [float(np.median(values[keep & (where == p)])) for p in np.unique(where)
               if np.sum(keep & (where == p)) >= 2]
    return max(medians) / min(medians) - 1 if len(medians) > 1 and min(medians) > 0 else math.nan


def timer_resolution_ns(clock: Callable[[], int] = time.perf_counter_ns) -> float:
    """The larger of the clock's declared resolution and the smallest step it is seen to take."""
    declared = time.get_clock_info("perf_counter").resolution * 1e9
    steps = []
    for _ in range(20):
        start = clock()
        now = clock()
        while now == start:
            now = clock()
        steps.append(now - start)
    return max(declared, float(min(steps)))


def python_loop(call: Callable[[], None], clock: Callable[[], int] = time.perf_counter_ns) -> Loop:
    """A loop of Python calls to `call`, timed with `clock`."""

    def loop(loops: int) -> int:
        repeat = itertools.repeat(None, loops)
        start = clock()
        for _ in repeat:
            call()
        return clock() - start

    return loop


def cycling_loop(calls: list[Callable[[], None]], clock: Callable[[], int] = time.perf_counter_ns) -> Loop:
    """A loop of Python calls `calls[i]()`, i cycling through the list across samples."""
    cycle = itertools.cycle(calls)

    def loop(loops: int) -> int:
        chosen = itertools.islice(cycle, loops)
        start = clock()
        for call in chosen:
            call()
        return clock() - start

    return loop


def _warm_up(loop: Loop, seconds: float) -> None:
    spent = 0
    calls = 1
    while spent < seconds * 1e9:
        spent += max(loop(calls), 1)
        calls = min(calls * 2, 1 << 20)


def calibrate(loop: Loop, target_ns: float) -> int:
    """The number of calls per sample that makes one sample last at least target_ns."""
    loops = 1
    while True:
        elapsed = loop(loops)
        if elapsed >= target_ns:
            return loops
        # grow by the shortfall (at least 2x, at most 100x) so slow calls converge in few steps
        factor = target_ns / elapsed if elapsed > 0 else 100.0
        loops = int(math.ceil(loops * min(max(factor * 1.1, 2.0), 100.0)))


def sample(loop: Loop, loops: int, settings: TimingSettings,
           clock: Callable[[], int] = time.perf_counter_ns) -> tuple[float, ...]:
    """Samples of `loop` back to back (not interleaved), each preempted one taken again up to
    `settings.retakes` times."""
    deadline = clock() + settings.max_time * 1e9
    samples: list[float] = []
    wanted = max(settings.samples, 1)
    take = sampler(loop)
    while len(samples) < wanted:
        samples.append(steady_sample(loop, take, loops, 0.0, settings.retakes)[0].wall_ns)
        if clock() > deadline and len(samples) >= min(MIN_SAMPLES, wanted):
            break
    return tuple(samples)


def warm_and_calibrate(loop: Loop, settings: TimingSettings, resolution_ns: float) -> int:
    """Warm the loop up, then the calls per sample that make a sample long enough to trust."""
    _warm_up(loop, settings.warmup)
    return calibrate(loop, max(settings.min_time * 1e9, RESOLUTION_FACTOR * resolution_ns))


def measure_loop(loop: Loop, settings: TimingSettings, resolution_ns: float,
                 clock: Callable[[], int] = time.perf_counter_ns) -> Measurement:
    """Warm-up, calibration and all the samples of one loop in a row (not interleaved)."""
    loops = warm_and_calibrate(loop, settings, resolution_ns)
    return Measurement(loops, sample(loop, loops, settings, clock))
