"""The instruction-count metric: each row's calls counted by valgrind (callgrind), not timed.

On a shared machine wall time moves with the neighbours; instructions do not. With
`gemmbench run --metric instructions`, workers run under callgrind with collection off; a row
is prepared and verified as usual, then its call (the native loop where the backend has one,
else the Python call) runs N and 2N times between client requests that zero, collect and
dump the counters. The difference of the two dumps, divided by N, is per call: the fixed
cost of starting and stopping the count cancels, and N is large enough (a budget of
instructions) that what the interpreter does now and then stays below 0.1% of a call. Caches are simulated with one fixed
geometry on every host, so counts do not depend on the machine they were taken on:

    est_cycles = Ir + 10 x (I1 + D1 misses) + 100 x LL misses     (KCachegrind's estimate)

Counts move with the compiler and with numpy/OpenBLAS releases; they are stored with their
versions, and compare gates on them only where both sides ran the same versions.
Valgrind runs no AVX-512: its CPUID hides it, so under it csimd's AVX-512 variants are
unavailable (machine.cpu_flags reads CPUID there), never a SIGILL.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from gemmbench.machine import compiler

MIN_CALLS, MAX_CALLS = 10, 5000  # counted calls of the short run; the long run makes twice as many
BUDGET = 20_000_000  # instructions the short run aims at
DIRECTORY_VARIABLE = "GEMMBENCH_CALLGRIND_DIR"  # set in a worker that runs under callgrind
SLOWDOWN = 100  # how much slower a worker runs under callgrind with a cache simulation, for its timeouts
CACHES = ("--I1=32768,8,64", "--D1=32768,8,64", "--LL=8388608,16,64")  # one geometry on every host
INSTALL_HINT = "install valgrind (Debian: apt-get install valgrind)"
PROBE = Path(__file__).resolve().parent.parent / "probes" / "callgrind.c"


@dataclass(frozen=True)
class Counts:
    instructions: float
    d1_misses: float
    ll_misses: float
    est_cycles: float

    def columns(self) -> dict:
        return {"instructions": self.instructions, "d1_misses": self.d1_misses, "ll_misses": self.ll_misses,
                "est_cycles": self.est_cycles}


def available() -> tuple[bool, str]:
    """Whether runs can count instructions here; the reason (with the install line) when not."""
    if shutil.which("valgrind") is None:
        return False, f"valgrind is not installed ({INSTALL_HINT})"
    try:
        _probe()
    except compiler.NativeBuildError as exc:
        return False, f"the callgrind client requests do not compile ({exc}; {INSTALL_HINT})"
    return True, ""


def worker_prefix(directory: Path) -> list[str]:
    """The command a worker runs under: callgrind, collecting nothing until asked."""
    return [shutil.which("valgrind") or "valgrind", "--tool=callgrind", "--cache-sim=yes", *CACHES,
            "--collect-atstart=no", "-q", f"--callgrind-out-file={directory}/count"]


def under_valgrind() -> bool:
    return bool(os.environ.get(DIRECTORY_VARIABLE))


@functools.cache
def _probe() -> ctypes.CDLL:
    lib = ctypes.CDLL(str(compiler.build([PROBE], "scalar", name="callgrind")))
    lib.gb_callgrind_stop.argtypes = [ctypes.c_char_p]
    return lib


def _counted(loop, calls: int, label: str) -> dict[str, int]:
    lib = _probe()
    lib.gb_callgrind_start()
    loop(calls)
    lib.gb_callgrind_stop(label.encode())
    return _read_dump(Path(os.environ[DIRECTORY_VARIABLE]), label)


def count(loop, label: str) -> Counts:
    """Per-call counts of `loop(n)` (n calls): the dumps of N and 2N calls, differenced.

    N is chosen so that a count runs about BUDGET instructions: the interpreter's own state
    (Python 3.11 specialises bytecode as it warms up) adds a few thousand instructions here
    and there, which over N calls stays far below 0.1% of a call."""
    probe = _counted(loop, MIN_CALLS, f"{label}/probe")  # also warms code, data and the simulated caches
    calls = int(min(MAX_CALLS, max(MIN_CALLS, BUDGET / max(probe.get("Ir", 1) / MIN_CALLS, 1))))
    loop(calls)  # settle the interpreter at this loop length too
    short, long = _counted(loop, calls, f"{label}/short"), _counted(loop, 2 * calls, f"{label}/long")
    # A miss count can differ by a line or two between the runs in the wrong direction: never below 0.
    per_call = {event: max(0.0, (long.get(event, 0) - short.get(event, 0)) / calls)
                for event in set(short) | set(long)}
    d1 = per_call.get("D1mr", 0) + per_call.get("D1mw", 0)
    ll = per_call.get("ILmr", 0) + per_call.get("DLmr", 0) + per_call.get("DLmw", 0)
    ir = per_call.get("Ir", 0)
    return Counts(ir, d1, ll, ir + 10 * (per_call.get("I1mr", 0) + d1) + 100 * ll)


def _read_dump(directory: Path, label: str) -> dict[str, int]:
    """The totals of the dump callgrind wrote for `label` (each dump is a file of its own), then removed."""
    for path in sorted(directory.glob("count.*"), key=lambda p: p.stat().st_mtime, reverse=True):
        text = path.read_text()
        if f"desc: Trigger: Client Request: {label}\n" in text:
            path.unlink()
            return parse_totals(text)
    raise RuntimeError(f"callgrind wrote no dump for {label} in {directory}")


def parse_totals(text: str) -> dict[str, int]:
    """event -> count from a callgrind dump's `events:` and `totals:` lines (trailing zeros are omitted)."""
    events = re.search(r"^events: (.+)$", text, re.M)
    totals = re.search(r"^totals: (.+)$", text, re.M) or re.search(r"^summary: (.+)$", text, re.M)
    if events is None or totals is None:
        raise RuntimeError("not a callgrind dump: no events or totals line")
    values = [int(v) for v in totals[1].split()]
    return {name: values[i] if i < len(values) else 0 for i, name in enumerate(events[1].split())}
