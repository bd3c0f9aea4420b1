"""Helpers for the fault-injection tests: real `gemmbench run` processes, real signals, real pids.

Imported by name (`from faultkit import ...`): pytest puts this folder on sys.path.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
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
