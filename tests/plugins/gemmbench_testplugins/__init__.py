"""Backends that misbehave on purpose, installed for tests as a third-party distribution would be.

Put tests/plugins on PYTHONPATH and gemmbench finds them through the entry-point group.
"""

from __future__ import annotations

import ctypes
import time

import numpy as np

from gemmbench.backend import Backend, Variant


class GoodBackend(Backend):
    name = "test-good"

    def prepare(self, workload, variant):
        return workload.weights

    def run(self, prepared, x, out):
        np.matmul(prepared, x, out=out)


class WrongBackend(GoodBackend):
    """Off by a few percent: the gate must catch it before any timing."""

    name = "test-wrong"
    timed = False

    def run(self, prepared, x, out):
        np.matmul(prepared, x, out=out)
        out *= 1.05


class RaisingBackend(GoodBackend):
    name = "test-raises"

    def prepare(self, workload, variant):
        raise RuntimeError("deliberate failure in prepare")


class SegfaultBackend(GoodBackend):
    """Dies with SIGSEGV on its 'crash' variant; the 'fine' variant works."""

    name = "test-segfault"

    def variants(self):
        return [Variant("crash"), Variant("fine")]

    def run(self, prepared, x, out):
        np.matmul(prepared, x, out=out)

    def prepare(self, workload, variant):
        if variant.name == "crash":
            ctypes.string_at(0)  # a real segmentation fault
        return workload.weights


class HangingBackend(GoodBackend):
    name = "test-hang"

    def prepare(self, workload, variant):
        time.sleep(3600)


class DriftingBackend(GoodBackend):
    """Right on the first call, then accumulates: only the re-check after timing sees it."""

    name = "test-drift"

    def prepare(self, workload, variant):
        return {"w": workload.weights, "calls": 0}

    def run(self, prepared, x, out):
        prepared["calls"] += 1
        np.matmul(prepared["w"], x, out=out)
        if prepared["calls"] > 2:
            out += 1.0


class IsaLevelsBackend(GoodBackend):
    """numpy under ISA-level names: exercises ISA selection and CPU-flag checks without C."""

    name = "test-isa"

    def variants(self):
        return [Variant("scalar", isa="scalar"), Variant("avx2", isa="avx2", requires=("avx2", "fma")),
                Variant("avx512", isa="avx512", requires=("avx512f",)),
                Variant("amx", isa="amx", requires=("amx_tile", "no_such_flag")), Variant("generic")]
