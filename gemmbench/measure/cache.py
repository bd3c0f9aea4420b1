"""The cache state a row's calls find: `hot`, `between` or `cold` (a case setting, `cache`).

- `hot`: call after call on the same data, as every microbenchmark does: the data a call
  leaves in the caches is there for the next one.
- `between`: before every call, untimed, a fixed disturbance reads `between_bytes` through the
  caches (default: what LPCNet's step reads between two GRU-A products, `default_between_bytes`),
  as a vocoder's other layers do; each call is then timed on its own.
- `cold`: every call runs on the next of a pile of prepared copies of the row, so large that
  the copies used since a copy's last call (at least `COLD_PILE` times the caches one CPU's data
  can sit in) have pushed it out of every level: benchdnn's `--cold-cache=wei`. The input and
  output vectors stay hot, as they are in a network where they are the previous layer's output.

With `between` and `cold` each call is timed on its own, Python call and native loop alike (a
native call timing itself in native code), so the untimed work between calls is left out of
both; a sample's thread CPU time then spans that work too and is not kept.

docs/measurement.md, "Cache state", says what each costs and what it leaves out.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Callable

import numpy as np

from gemmbench.measure.timing import Loop

STATES = ("hot", "between", "cold")
DEFAULT = "hot"
COLD_PILE = 2  # the pile of copies holds this many times the caches' capacity: replacement is not exact LRU
COLD_MAX_COPIES = 4096  # a prepared row too small to count (a backend allocating outside numpy) gets this many
LINE = 64  # bytes the disturbance steps by: one read per cache line


def default_between_bytes() -> int:
    """Bytes LPCNet's step (1152x384 GRU-A, its default sizes, float32) reads between two GRU-A products."""
    from gemmbench.ops.lpcnet_step import StepSpec, between_products_bytes

    return between_products_bytes(StepSpec(1152, 384), np.dtype(np.float32).itemsize)


def cache_capacity() -> int:
    """Bytes of data one CPU's caches hold: one data (or unified) cache of each level; 0 when unknown."""
    from gemmbench.machine import caches

    return sum(caches.data_cache_sizes(caches.caches(caches.SYSFS_CPUS)).values())


def unavailable(state: str) -> str:
    """Why this machine cannot give the state ('' when it can)."""
    if state == "cold" and cache_capacity() <= 0:
        return ("cache: cold sizes its pile of copies from the caches' sizes, and "
                "/sys/devices/system/cpu/cpu*/cache does not give them here")
    return ""


def cold_copies(footprint: int, capacity: int) -> int:
    """Copies of a row whose data takes `footprint` bytes, so the others push each out of the caches."""
    if footprint <= 0:
        return COLD_MAX_COPIES
    return min(COLD_MAX_COPIES, max(2, math.ceil(COLD_PILE * capacity / footprint) + 1))


class Disturbance:
    """`between_bytes` of data read through the caches, one load per cache line."""

    def __init__(self, nbytes: int):
        from gemmbench.cases.workload import aligned_empty

        self.nbytes = nbytes
        buffer = aligned_empty(max(nbytes // 4, 1), np.float32)
        buffer[:] = 1.0
        self.lines = buffer[::LINE // 4]
        self.reduce = np.add.reduce

    def __call__(self) -> None:
        self.reduce(self.lines)


def one_by_one(calls: list[Callable[[], int]], touch: Callable[[], None] | None) -> Loop:
    """A loop of `calls` taken in turn, each returning its own ns (timed on its own), with an untimed
    `touch` before each where given."""
    cycle = itertools.cycle(calls)

    def loop(loops: int) -> int:
        total = 0
        for call in itertools.islice(cycle, loops):
            if touch is not None:
                touch()
            total += int(call())
        return total

    return loop


def timed_alone(call: Callable[[], None], clock: Callable[[], int] = time.perf_counter_ns) -> Callable[[], int]:
    """A Python call that returns its own ns: the two clock reads around it are part of its time (tens of ns)."""

    def timed() -> int:
        start = clock()
        call()
        return clock() - start

    return timed
