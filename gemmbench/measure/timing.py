"""Warm-up, inner-loop calibration, samples and their statistics.

Everything here works on a `loop(loops) -> elapsed ns` function, so the same rules time a
Python call (`python_loop`) and a loop that runs inside native code.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

NOISY_CV = 0.10  # coefficient of variation above which a row is flagged noisy
RESOLUTION_FACTOR = 1000  # a sample lasts at least this many timer ticks
MIN_SAMPLES = 5  # a time-bounded row still gets this many samples
# A reference-only variant (Backend.Variant.reference_only) is shown, never chosen nor the
# baseline of a ratio: this many samples say its time well enough, and its rows cost a fifth.
REFERENCE_SAMPLES = MIN_SAMPLES

Loop = Callable[[int], int]


@dataclass(frozen=True)
class TimingSettings:
    warmup: float = 0.02  # seconds of discarded calls before calibration
    min_time: float = 0.002  # seconds each sample lasts at least
    samples: int = 25  # samples per row ...
    max_time: float = 2.0  # ... unless sampling has taken this many seconds
    timeout: float = 60.0  # seconds a row may take (prepare included) before it is killed
    placements: int = 4  # copies of a row whose data sits on 2 MiB pages, its samples taking turns (item.py)


@dataclass(frozen=True)
class Stats:
    median: float
    min: float
    mean: float
    std: float
    iqr: float
    cv: float

    @property
    def noisy(self) -> bool:
        return self.cv > NOISY_CV


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


def warm_up(loop: Loop, seconds: float) -> None:
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
    deadline = clock() + settings.max_time * 1e9
    samples: list[float] = []
    wanted = max(settings.samples, 1)
    while len(samples) < wanted:
        samples.append(loop(loops) / loops)
        if clock() > deadline and len(samples) >= min(MIN_SAMPLES, wanted):
            break
    return tuple(samples)


def warm_and_calibrate(loop: Loop, settings: TimingSettings, resolution_ns: float) -> int:
    """Warm the loop up, then the calls per sample that make a sample long enough to trust."""
    warm_up(loop, settings.warmup)
    return calibrate(loop, max(settings.min_time * 1e9, RESOLUTION_FACTOR * resolution_ns))


def rewarmed_sample(loop: Loop, loops: int, share: float) -> float:
    """ns per call of one sample of `loops` calls, after `share` of them untimed."""
    loop(max(1, math.ceil(loops * share)))
    return loop(loops) / loops


def measure_loop(loop: Loop, settings: TimingSettings, resolution_ns: float,
                 clock: Callable[[], int] = time.perf_counter_ns) -> Measurement:
    """Warm-up, calibration and all the samples of one loop in a row (not interleaved)."""
    loops = warm_and_calibrate(loop, settings, resolution_ns)
    return Measurement(loops, sample(loop, loops, settings, clock))
