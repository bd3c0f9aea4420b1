"""Worker processes: one per measurement group (a backend at a thread count).

The parent starts `python -m gemmbench.worker FD` with CPU affinity and the BLAS/OpenMP
thread variables already set, so they are in force before numpy loads. The worker reads
its job as JSON on stdin and writes JSON lines to the pipe FD: a plan of (case, variant)
items, then `begin` and `row` for each. A worker that dies or stays silent past the
item's timeout costs that item only: it becomes a `crashed` or `timeout` row, and a new
worker picks up the rest.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
STARTUP_TIMEOUT = 120.0  # seconds for a worker to import and send its plan
# `python -m` puts its working directory first on sys.path; starting the worker beside the
# package that is running makes it import that same gemmbench, never a checkout in the cwd.
PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


@dataclass
class Job:
    """One measurement group, as the parent hands it to a worker."""

    backend: str
    threads: int
    cpus: tuple[int, ...]
    cases: list[dict]  # {"case": case_to_dict(...), "timing": {...}}
    variants: list[str] | None = None  # only these variants (None: all the backend offers)
    isa: str | None = None  # ISA levels to run ('avx2' caps, 'scalar,avx512' names them)
    registrations: dict[str, str] = field(default_factory=dict)  # register() calls made in the parent

    def payload(self, skip: set[tuple[str, str]]) -> bytes:
        return json.dumps({"backend": self.backend, "threads": self.threads, "cases": self.cases,
                           "variants": self.variants, "isa": self.isa,
                           "registrations": self.registrations, "skip": sorted(skip)}).encode()


# ---------------------------------------------------------------- parent side

@dataclass
class _Progress:
    plan: list[tuple[str, str]] | None = None
    current: tuple[str, str] | None = None
    deadline: float = 0.0
    finished: bool = False


def run_job(job: Job, on_row: Callable[[dict], None], on_begin: Callable[[str, str], None] = lambda c, v: None,
            python: str = sys.executable) -> None:
    """Run a job to the end, restarting the worker after a crash or timeout."""
    handled: set[tuple[str, str]] = set()
    while True:
        progress = _Progress()
        failure = _run_worker(job, handled, progress, on_row, on_begin, python)
        if failure is None:
            return
        status, message = failure
        item = progress.current or _next_item(progress.plan, handled)
        if item is None:
            for entry in job.cases:  # it died before saying what it would run
                on_row(_failed_row(entry, "", status, message))
            return
        on_row(_failed_row(_entry(job, item[0]), item[1], status, message))
        handled.add(item)


def _next_item(plan: list[tuple[str, str]] | None, handled: set[tuple[str, str]]) -> tuple[str, str] | None:
    remaining = [item for item in plan or [] if item not in handled]
    return remaining[0] if remaining else None


def _entry(job: Job, case_name: str) -> dict:
    return next(e for e in job.cases if e["case"]["name"] == case_name)


def _failed_row(entry: dict, variant: str, status: str, message: str) -> dict:
    from gemmbench.measure import case_columns
    from gemmbench.workload import case_from_dict

    return {"variant": variant, **case_columns(case_from_dict(entry["case"])), "status": status,
            "message": message}


def worker_environment(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    return env


def _spawn(job: Job, skip: set[tuple[str, str]], python: str, stderr) -> tuple[subprocess.Popen, int]:
    read_fd, write_fd = os.pipe()
    cpus = set(job.cpus)

    def pin() -> None:  # runs in the child before exec: affinity holds before any import
        if cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, cpus)

    try:
        proc = subprocess.Popen([python, "-m", "gemmbench.worker", str(write_fd)], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=stderr, pass_fds=(write_fd,),
                                env=worker_environment(job.threads), preexec_fn=pin, start_new_session=True,
                                cwd=PACKAGE_PARENT)
    finally:
        os.close(write_fd)
    try:
        proc.stdin.write(job.payload(skip))
        proc.stdin.close()
    except BrokenPipeError:  # it died at once; reading the pipe will tell
        pass
    return proc, read_fd


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _run_worker(job: Job, handled: set[tuple[str, str]], progress: _Progress, on_row, on_begin,
                python: str) -> tuple[str, str] | None:
    """Run one worker until it finishes (None) or fails ((status, message))."""
    with tempfile.TemporaryFile() as stderr:
        proc, fd = _spawn(job, handled, python, stderr)
        progress.deadline = time.monotonic() + max(STARTUP_TIMEOUT, _max_timeout(job))
        try:
            failure = _read_messages(job, proc, fd, handled, progress, on_row, on_begin)
        except BaseException:
            _kill(proc)
            raise
        finally:
            os.close(fd)
        if failure is not None:
            return failure
        if not progress.finished:
            proc.wait()
            return "crashed", _death_message(proc.returncode, stderr)
        proc.wait()
        return None


def _max_timeout(job: Job) -> float:
    return max(entry["timing"]["timeout"] for entry in job.cases)


def _read_messages(job, proc, fd, handled, progress, on_row, on_begin) -> tuple[str, str] | None:
    buffer = b""
    while True:
        wait = progress.deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(wait, 0))
        if not ready:
            _kill(proc)
            if progress.current is None:
                return "timeout", f"worker sent nothing for {STARTUP_TIMEOUT:g} s while starting; killed"
            timeout = _entry(job, progress.current[0])["timing"]["timeout"]
            return "timeout", f"no result within the {timeout:g} s timeout; worker killed"
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            _handle(json.loads(line), job, handled, progress, on_row, on_begin)


def _handle(message: dict, job: Job, handled, progress: _Progress, on_row, on_begin) -> None:
    kind = message["type"]
    if kind == "plan":
        progress.plan = [tuple(item) for item in message["items"]]
    elif kind == "begin":
        progress.current = (message["case"], message["variant"])
        timeout = _entry(job, message["case"])["timing"]["timeout"]
        progress.deadline = time.monotonic() + timeout
        on_begin(*progress.current)
    elif kind == "row":
        row = message["row"]
        handled.add((row["case"], row["variant"]))
        progress.current = None
        progress.deadline = time.monotonic() + STARTUP_TIMEOUT
        on_row(row)
    elif kind == "done":
        progress.finished = True


def _death_message(returncode: int, stderr) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        what = f"worker killed by {name}"
    else:
        what = f"worker exited with status {returncode} before finishing"
    stderr.seek(0)
    lines = [line.strip() for line in stderr.read().decode(errors="replace").splitlines() if line.strip()]
    # faulthandler's first line names the fault; a Python error's last line names the exception.
    detail = next((line for line in lines if line.startswith("Fatal Python error")), lines[-1] if lines else "")
    return f"{what} while running this case" + (f" ({detail[:300]})" if detail else "")


# ---------------------------------------------------------------- worker side

class _Channel:
    def __init__(self, fd: int):
        self.stream = os.fdopen(fd, "w", buffering=1)

    def send(self, kind: str, **fields) -> None:
        self.stream.write(json.dumps({"type": kind, **fields}) + "\n")
        self.stream.flush()


def _worker_main(fd: int) -> None:
    import faulthandler

    faulthandler.enable()
    channel = _Channel(fd)
    job = json.loads(sys.stdin.buffer.read())
    os.dup2(2, 1)  # whatever a backend prints goes to stderr, never into the pipe

    from gemmbench import registry
    from gemmbench.backend import Variant, select_isa
    from gemmbench.machine import cpu_flags
    from gemmbench.timing import TimingSettings, timer_resolution_ns
    from gemmbench.workload import case_from_dict

    for name, target in job["registrations"].items():
        registry.register(name, target, clobber=True)
    backend = registry.get(job["backend"])
    backend_ok, backend_reason = backend.available()
    variants = select_isa(backend.variants(), job["isa"]) if backend_ok else [Variant("default")]
    if job["variants"] is not None and backend_ok:
        variants = [v for v in variants if v.name in job["variants"]]
    skip = {tuple(item) for item in job["skip"]}
    cases = [(case_from_dict(e["case"]), TimingSettings(**e["timing"])) for e in job["cases"]]
    items = [(case, timing, variant) for case, timing in cases for variant in variants
             if (case.name, variant.name) not in skip]
    channel.send("plan", items=[[c.name, v.name] for c, _, v in items])

    state = _WorkerState(backend, backend_ok, backend_reason, job["threads"], cpu_flags(), timer_resolution_ns())
    for case, timing, variant in items:
        channel.send("begin", case=case.name, variant=variant.name)
        channel.send("row", row=state.measure(case, timing, variant))
    channel.send("done")


class _WorkerState:
    """What a worker keeps between items: its backend and the current case's arrays."""

    def __init__(self, backend, backend_ok: bool, reason: str, threads: int, flags, resolution: float):
        self.backend, self.backend_ok, self.reason = backend, backend_ok, reason
        self.threads, self.flags, self.resolution = threads, flags, resolution
        self.workload = None

    def measure(self, case, timing, variant) -> dict:
        from threadpoolctl import threadpool_limits

        from gemmbench.machine import blas_libraries, blas_summary
        from gemmbench.measure import Context, case_columns, failure_message, measure, not_run
        from gemmbench.workload import make_workload

        if not self.backend_ok:
            return {"variant": variant.name, **case_columns(case), **not_run("unavailable", self.reason)}
        with threadpool_limits(limits=self.threads):
            if self.workload is None or self.workload.case != case:
                self.workload = None  # one case's arrays alive at a time
                try:
                    self.workload = make_workload(case)
                except Exception as exc:
                    return {"variant": variant.name, **case_columns(case),
                            **not_run("error", "generating the data failed: " + failure_message(exc))}
            row = measure(self.backend, variant, self.workload, Context(timing, self.resolution, self.flags))
            libraries = blas_libraries()
        row["blas"] = blas_summary(libraries)
        row["blas_threads"] = max((lib["num_threads"] for lib in libraries if lib.get("user_api") == "blas"),
                                  default=None)
        return row


if __name__ == "__main__":
    _worker_main(int(sys.argv[1]))
