"""Helpers for the fault-injection tests: real `gemmbench run` processes, real signals, real pids.

Imported by name (`from faultkit import ...`): pytest puts this folder on sys.path.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from gemmbench.data.results import load_results

ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie waiting for its reaper does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def group_alive(pgid: int) -> bool:
    """Whether any running process is in process group `pgid`."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False


class Recorded:
    """Pids (and their process groups) that test backends wrote to GEMMBENCH_TEST_PIDS."""

    def __init__(self, folder: Path):
        self.folder = folder

    def pids(self) -> dict[int, int]:
        return {int(p.name): int(p.read_text()) for p in self.folder.iterdir()}

    def wait_until_gone(self, seconds: float = 10.0) -> list[int]:
        """Pids or groups still running after `seconds` (an empty list when all are gone)."""
        deadline = time.monotonic() + seconds
        while True:
            left = [pid for pid, pgid in self.pids().items() if alive(pid) or group_alive(pgid)]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.05)


def _as_a_foreground_job() -> None:
    # A shell gives a foreground job the default SIGINT and SIGHUP; run from `nohup` or a background
    # `&` (as CI scripts may be) the tests would otherwise hand down "ignored", which gemmbench,
    # like Python itself, respects.
    for number in (signal.SIGINT, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)


def start_cli(*args, **popen) -> subprocess.Popen:
    """`gemmbench ...` in its own session, as a shell would start a foreground job."""
    return subprocess.Popen([sys.executable, "-m", "gemmbench", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True,
                            preexec_fn=_as_a_foreground_job, **popen)


def wait_for_rows(out: Path, count: int, proc: subprocess.Popen, seconds: float = 60.0) -> Path:
    """The run's file once it holds `count` rows; every read on the way must succeed (atomic writes)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        files = list(out.glob("*.parquet")) if out.is_dir() else []
        if files:
            (path,) = files
            if len(load_results(path)) >= count:
                return path
        assert proc.poll() is None, f"the run ended early: {proc.communicate()}"
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"no {count} rows within {seconds} s")


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3


def as_ordinary_user() -> None:
    """Root writes anywhere: drop the capabilities that let it ignore file permissions (Linux)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


# ---------------------------------------------------------------- the fuzz targets' contract

# Every input either works or is refused in one line (exit 2) within a second per megabyte. The check
# allows five times that, at least five seconds, so a loaded CI machine never trips it while the inputs
# it guards against (minutes for a few hundred bytes) still do.
SECONDS_PER_MB = 1.0
SLACK = 5.0


@contextmanager
def within_promise(size: int):
    """The block handles an input of `size` bytes within the promised time (with SLACK)."""
    start = time.monotonic()
    try:
        yield  # a refusal (an exception) is held to the same time as success
    finally:
        allowed = SLACK * SECONDS_PER_MB * max(1.0, size / 1e6)
        elapsed = time.monotonic() - start
        assert elapsed <= allowed, f"{elapsed:.1f} s for {size} bytes; at most {allowed:.0f} s"


def one_line(message: str, names: str) -> None:
    """A refusal's message: one line, naming the input first."""
    assert message.startswith(names) and "\n" not in message, message


def places(node, found: list) -> list:
    """Every (container, key) in a tree of dicts and lists (a YAML or JSON document): where a fuzz target edits."""
    keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
    for key in keys:
        found.append((node, key))
        places(node[key], found)
    return found
