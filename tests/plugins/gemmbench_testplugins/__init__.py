"""Backends that misbehave on purpose, installed for tests as a third-party distribution would be.

Put tests/plugins on PYTHONPATH and gemmbench finds them through the entry-point group.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from gemmbench.backend import Backend, Variant


class GoodBackend(Backend):
    name = "test-good"

    def prepare(self, workload, variant):
        return workload.weights

    def run(self, prepared, x, out):
        np.matmul(prepared, x, out=out)


class PeerBackend(GoodBackend):
    """A stand-in for a production runtime (role "peer"): numpy's product, called the way a deployment
    would call it. Tests hold our best against a peer with it, whatever runtimes are installed."""

    name = "test-peer"
    role = "peer"

    def caller(self, prepared, x, out):
        return functools.partial(np.matmul, prepared, x, out=out)


class DawdlingBackend(GoodBackend):
    """One of ours that waits GEMMBENCH_TEST_DAWDLE seconds (default 0.0005) in every call: any peer beats it,
    by hundreds of times, in every round."""

    name = "test-dawdle"

    def run(self, prepared, x, out):
        np.matmul(prepared, x, out=out)
        time.sleep(float(os.environ.get("GEMMBENCH_TEST_DAWDLE", "0.0005")))


class PlacementsBackend(GoodBackend):
    """Copies the weights through gemmbench's aligned allocator (2 MiB pages when large); its
    'third-copy-wrong' variant gets every third copy it prepares wrong."""

    name = "test-placements"

    def __init__(self):
        self.copies: dict[tuple[str, str], int] = {}

    def variants(self):
        return [Variant("fine"), Variant("third-copy-wrong")]

    def prepare(self, workload, variant):
        from gemmbench.cases.workload import aligned_copy

        key = (workload.case.name, variant.name)
        self.copies[key] = self.copies.get(key, 0) + 1
        weights = aligned_copy(workload.weights)
        if variant.name == "third-copy-wrong" and self.copies[key] == 3:
            weights *= 1.05
        return weights


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
    """numpy under ISA-level names: exercises ISA selection and CPU-flag checks without C. Tests
    choose which of them the CPU has with GEMMBENCH_CPU_FLAGS (a simulation only takes flags away)."""

    name = "test-isa"

    def variants(self):
        return [Variant("scalar", isa="scalar"), Variant("avx2", isa="avx2", requires=("avx2", "fma")),
                Variant("avx512", isa="avx512", requires=("avx512f",)),
                Variant("bf16", isa="avx512bf16", requires=("avx512_bf16",)), Variant("generic")]


# ---------------------------------------------------------------- faults for tests/faults
# Backends that leave processes behind record their pids, one file each, in the directory
# named by GEMMBENCH_TEST_PIDS, so a test can check that nothing outlived the run.

def record_pid(pid: int) -> None:
    folder = os.environ.get("GEMMBENCH_TEST_PIDS")
    if folder:
        Path(folder, str(pid)).write_text(str(os.getpgid(pid)))


class SlowBackend(GoodBackend):
    """Correct, but takes GEMMBENCH_TEST_SLOW seconds (default 0.3) per row: a run to interrupt.

    With GEMMBENCH_TEST_HOLD_AFTER=N, a worker's rows after its N-th wait until the run is
    interrupted: the interrupt lands mid-run however slowly the test reading the file is scheduled."""

    name = "test-slow"
    prepared = 0

    def prepare(self, workload, variant):
        record_pid(os.getpid())
        time.sleep(float(os.environ.get("GEMMBENCH_TEST_SLOW", "0.3")))
        SlowBackend.prepared += 1
        hold = os.environ.get("GEMMBENCH_TEST_HOLD_AFTER")
        if hold is not None and SlowBackend.prepared > int(hold):
            time.sleep(3600)  # the interrupted run kills this worker's process group
        return workload.weights


class LeakingBackend(GoodBackend):
    """Leaks 32 MiB at a time, touched, and never lets go: only a memory limit stops it.

    'python' leaks numpy arrays (MemoryError at the limit); 'native' leaks malloc'd memory
    and, like careless C, writes through the NULL it finally gets (SIGSEGV).
    """

    name = "test-leak"
    leaked: list = []

    def variants(self):
        return [Variant("python"), Variant("native")]

    def prepare(self, workload, variant):
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        while True:
            if variant.name == "python":
                self.leaked.append(np.ones(4 << 20))
            else:
                block = libc.malloc(32 << 20)
                ctypes.memset(block, 1, 32 << 20)


class NoisyBackend(GoodBackend):
    """Prints everywhere, protocol-like lines included: none of it may reach the result pipe."""

    name = "test-noisy"

    def prepare(self, workload, variant):
        print('{"type": "done"}', flush=True)
        os.write(1, b'{"type": "row", "row": {}}\n')
        os.write(2, b"noise on stderr\n")
        print("preparing", workload.case.name, flush=True)
        print('{"type": "plan", "items": []}', file=sys.stderr, flush=True)
        return workload.weights

    def run(self, prepared, x, out):
        os.write(1, b"x")
        np.matmul(prepared, x, out=out)


class ExitingBackend(GoodBackend):
    """Ends its own process mid-row: os._exit(0) skips all cleanup, sys.exit(3) raises SystemExit."""

    name = "test-exit"

    def variants(self):
        return [Variant("os_exit"), Variant("sys_exit"), Variant("fine")]

    def prepare(self, workload, variant):
        if variant.name == "os_exit":
            os._exit(0)
        if variant.name == "sys_exit":
            sys.exit(3)
        return workload.weights


class ForkingBackend(GoodBackend):
    """Correct, but leaves processes running forever: 'fork' a forked child and a `sleep`
    subprocess, 'thread' a non-daemon thread that keeps its worker from exiting, 'detach' a daemon
    (forked twice, its own session: in no process group of the worker's), 'detach-crash' such a
    daemon and then a worker that dies on its own (SIGABRT)."""

    name = "test-fork"

    def variants(self):
        return [Variant("fork"), Variant("thread"), Variant("detach"), Variant("detach-crash")]

    def prepare(self, workload, variant):
        if variant.name == "thread":
            threading.Thread(target=time.sleep, args=(3600,)).start()
            return workload.weights
        if variant.name.startswith("detach"):
            detach_a_daemon()
            if variant.name == "detach-crash":
                os.abort()
            return workload.weights
        child = os.fork()
        if child == 0:
            try:
                time.sleep(3600)
            finally:
                os._exit(0)
        record_pid(child)
        record_pid(subprocess.Popen(["sleep", "3600"]).pid)
        return workload.weights


def detach_a_daemon() -> None:
    """Fork, setsid, fork again and let the middle process go: the daemon's parent is gone, its group new."""
    reader, writer = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.setsid()
        daemon = os.fork()
        if daemon == 0:
            try:
                os.close(reader)
                record_pid(os.getpid())
                os.write(writer, b"x")
                time.sleep(3600)
            finally:
                os._exit(0)
        os._exit(0)
    os.close(writer)
    os.read(reader, 1)  # the daemon has recorded itself
    os.close(reader)
    os.waitpid(middle, 0)


class LimitsBackend(GoodBackend):
    """Correct; records the worker's address-space limit (RLIMIT_AS soft, -1 unlimited) in `detail`."""

    name = "test-limits"

    def describe(self, prepared, variant):
        import resource

        return str(resource.getrlimit(resource.RLIMIT_AS)[0])


class ScribblingBackend(GoodBackend):
    """Writes straight into the worker's result pipe: garbage, or a row whose values do not fit."""

    name = "test-scribble"

    def variants(self):
        return [Variant("garbage"), Variant("bad_row")]

    def prepare(self, workload, variant):
        fake = {"type": "started", "variant": "x", "row": {"status": "ok", "m": "many"}}
        os.write(int(sys.argv[1]), b"this is not json\n" if variant.name == "garbage" else
                 json.dumps(fake).encode() + b"\n")
        return workload.weights


class HangAtStartBackend(GoodBackend):
    """Never finishes starting (like an import waiting on a licence server) when GEMMBENCH_TEST_HANG_AT_START is set."""

    name = "test-start-hang"

    def __init__(self):
        if os.environ.get("GEMMBENCH_TEST_HANG_AT_START"):
            time.sleep(3600)


class BulkyBackend(GoodBackend):
    """Correct; records 16 kB of incompressible detail per row, so each row grows the results file a lot."""

    name = "test-bulky"

    def describe(self, prepared, variant):
        return os.urandom(8192).hex()


class CrashInRoundsBackend(GoodBackend):
    """Its 'crash' variant dies (SIGABRT) once sampling is well under way; its 'fine' variant never does."""

    name = "test-crash-in-rounds"

    def variants(self):
        return [Variant("crash"), Variant("fine")]

    def prepare(self, workload, variant):
        return {"w": workload.weights, "crash_at": time.monotonic() + 0.3 if variant.name == "crash" else None}

    def run(self, prepared, x, out):
        if prepared["crash_at"] is not None and time.monotonic() > prepared["crash_at"]:
            os.abort()
        np.matmul(prepared["w"], x, out=out)


class ShoutingBackend(GoodBackend):
    """Writes GEMMBENCH_TEST_SHOUT_MIB MiB (default 64) to stderr, then aborts."""

    name = "test-shout"

    def prepare(self, workload, variant):
        chunk = b"x" * 1023 + b"\n"
        for _ in range(int(os.environ.get("GEMMBENCH_TEST_SHOUT_MIB", "64")) * 1024):
            os.write(2, chunk)
        os.abort()


class SiblingsBackend(GoodBackend):
    """Variants that change the case's arrays their siblings share, each computing from its own copy (so on
    its own it is right): 'scale' scales the weights in place, 'zero-reference' zeroes the reference,
    'poke' writes into the weights through a pointer as native code would. 'first' and 'last' are correct
    and use the shared weights, before and after them."""

    name = "test-siblings"

    def variants(self):
        return [Variant(name) for name in ("first", "scale", "zero-reference", "poke", "last")]

    def prepare(self, workload, variant):
        own = np.array(workload.weights)
        if variant.name == "scale":
            np.multiply(workload.weights, 2.0, out=workload.weights)
        elif variant.name == "zero-reference":
            workload.reference[...] = 0.0
        elif variant.name == "poke":
            weights = workload.weights
            ctypes.memset(weights.ctypes.data, 0, weights.nbytes)
        return own if variant.name in ("scale", "zero-reference", "poke") else workload.weights


class WritingBackend(SiblingsBackend):
    """Declares that it writes into the case's arrays: each variant gets a copy of its own."""

    name = "test-writes"
    writable_workload = True
