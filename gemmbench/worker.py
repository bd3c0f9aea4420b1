"""Worker processes: one per measurement group (a backend at a thread count).

The parent starts `python -m gemmbench.worker FD` with CPU affinity, the memory limit and
the BLAS/OpenMP thread variables already set, so they are in force before numpy loads. The
worker reads its job as JSON on stdin and writes JSON lines to the pipe FD: a plan of
(case, variant) items, then `begin` and `row` for each, then `done`. A worker that dies,
stays silent past the item's timeout or breaks the protocol costs that item only: it
becomes a `crashed` or `timeout` row, and a new worker picks up the rest. Each worker leads
its own process group, and the whole group is killed when the worker is done with, so
processes a backend forked never outlive it.
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

from gemmbench import interrupts
from gemmbench.machine import physical_memory, worker_cpu_environment

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
STARTUP_TIMEOUT = 120.0  # seconds for a worker to import and send its plan
EXIT_GRACE = 2.0  # seconds a worker that has finished gets to exit before its group is killed
POLL = 0.25  # seconds between checks that a silent worker is still alive
MEMORY_SHARE = 0.75  # default memory limit of a worker, as a share of physical memory
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
    memory_limit: int | None = None  # bytes of address space (RLIMIT_AS); None: unlimited
    startup_timeout: float = STARTUP_TIMEOUT

    def payload(self, skip: set[tuple[str, str]]) -> bytes:
        return json.dumps({"backend": self.backend, "threads": self.threads, "cases": self.cases,
                           "variants": self.variants, "isa": self.isa, "memory_limit": self.memory_limit,
                           "registrations": self.registrations, "skip": sorted(skip)}).encode()


def default_memory_limit() -> int:
    return int(physical_memory() * MEMORY_SHARE)


def format_bytes(count: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20)):
        if count >= scale:
            return f"{count / scale:.4g} {unit}"
    return f"{count} bytes"


# ---------------------------------------------------------------- parent side

@dataclass
class _Progress:
    plan: list[tuple[str, str]] | None = None
    current: tuple[str, str] | None = None
    deadline: float = 0.0
    finished: bool = False  # the worker said `done`
    retired: bool = False  # the worker asked to be replaced (after running out of memory)
    peak_kib: int = 0  # the worker's peak resident memory, once it is reaped


def run_job(job: Job, on_row: Callable[[dict], None], on_begin: Callable[[str, str], None] = lambda c, v: None,
            python: str = sys.executable, done: frozenset[tuple[str, str]] = frozenset()) -> None:
    """Run a job to the end, restarting the worker after a crash or timeout.

    `done` holds (case, variant) items that already have a row (variant '' for a whole case).
    """
    handled: set[tuple[str, str]] = set(done)
    while True:
        progress = _Progress()
        failure = _run_worker(job, handled, progress, on_row, on_begin, python)
        if failure is None:
            if progress.finished:
                return
            continue  # retired: a fresh worker takes the rest
        status, message = failure
        if progress.plan is None:  # it died before saying what it would run
            for entry in job.cases:
                if (entry["case"]["name"], "") not in handled:
                    on_row(_failed_row(entry, "", status, message))
            return
        item = progress.current or _next_item(progress.plan, handled)
        if item is None:  # it died after its last row: nothing was lost
            return
        on_row(_failed_row(_entry(job, item[0]), item[1], status, message))
        handled.add(item)


def _next_item(plan: list[tuple[str, str]], handled: set[tuple[str, str]]) -> tuple[str, str] | None:
    remaining = [item for item in plan if item not in handled]
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
    env.update(worker_cpu_environment())
    return env


def _child_setup(cpus: set[int], memory_limit: int | None) -> Callable[[], None]:
    """What the child does between fork and exec: limits that hold before any import."""
    import ctypes
    import resource

    libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
    parent = os.getpid()

    def setup() -> None:
        interrupts.release_in_child()
        if libc is not None:  # PR_SET_PDEATHSIG: the worker dies with the parent, even on SIGKILL
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:
                os._exit(1)
        if cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, cpus)
        if memory_limit is not None:
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            soft = memory_limit if hard == resource.RLIM_INFINITY else min(memory_limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

    return setup


def _spawn(job: Job, skip: set[tuple[str, str]], python: str, stderr) -> tuple[subprocess.Popen, int]:
    read_fd, write_fd = os.pipe()
    try:
        with interrupts.held():  # see gemmbench/interrupts.py: a signal during fork would be dropped
            proc = subprocess.Popen([python, "-m", "gemmbench.worker", str(write_fd)], stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=stderr, pass_fds=(write_fd,),
                                    env=worker_environment(job.threads), start_new_session=True,
                                    preexec_fn=_child_setup(set(job.cpus), job.memory_limit), cwd=PACKAGE_PARENT)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    try:
        proc.stdin.write(job.payload(skip))
        proc.stdin.close()
    except BrokenPipeError:  # it died at once; reading the pipe will tell
        pass
    return proc, read_fd


def _reap(proc: subprocess.Popen, progress: _Progress, block: bool) -> bool:
    """Collect the worker's exit status and peak memory; False while it still runs."""
    if proc.returncode is not None:
        return True
    try:
        pid, status, usage = os.wait4(proc.pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        proc.returncode = 0
        return True
    if pid == 0:
        return False
    proc.returncode = os.waitstatus_to_exitcode(status)
    progress.peak_kib = usage.ru_maxrss
    return True


def _kill(proc: subprocess.Popen, progress: _Progress) -> None:
    """Kill the worker's whole process group (what it forked too) and reap the worker."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _reap(proc, progress, block=True)


def _finish(proc: subprocess.Popen, progress: _Progress) -> None:
    """Let a worker that has stopped talking exit by itself, then sweep its group."""
    deadline = time.monotonic() + EXIT_GRACE
    while not _reap(proc, progress, block=False) and time.monotonic() < deadline:
        time.sleep(0.01)
    _kill(proc, progress)


def _run_worker(job: Job, handled: set[tuple[str, str]], progress: _Progress, on_row, on_begin,
                python: str) -> tuple[str, str] | None:
    """Run one worker until it finishes or retires (None) or fails ((status, message))."""
    with tempfile.TemporaryFile() as stderr:
        proc = fd = None
        try:
            try:
                proc, fd = _spawn(job, handled, python, stderr)
            except (OSError, subprocess.SubprocessError) as exc:  # no process to blame: the machine refused
                return "crashed", f"could not start a worker: {' '.join(str(exc).split())[:300]}"
            progress.deadline = time.monotonic() + job.startup_timeout
            failure = _read_messages(job, proc, fd, handled, progress, on_row, on_begin)
            _finish(proc, progress)
        except BaseException:
            if proc is not None:
                _kill(proc, progress)
            raise
        finally:
            if fd is not None:
                os.close(fd)
        if failure is not None or progress.finished or progress.retired:
            return failure
        return "crashed", _death_message(proc.returncode, stderr, progress, job.memory_limit)


def _read_messages(job, proc, fd, handled, progress, on_row, on_begin) -> tuple[str, str] | None:
    """Read until the worker finishes, retires or goes away (None), or fails ((status, message))."""
    buffer = b""
    while True:
        interrupts.raise_if_pending()
        wait = progress.deadline - time.monotonic()
        if wait <= 0:
            _kill(proc, progress)
            return "timeout", _timeout_message(job, progress)
        ready, _, _ = select.select([fd], [], [], min(wait, POLL))
        if not ready:
            if _reap(proc, progress, block=False) and not select.select([fd], [], [], 0)[0]:
                return None  # gone, all it wrote is read, and something it forked holds the pipe open
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            try:
                _handle(_message(line, job), job, handled, progress, on_row, on_begin)
            except _ProtocolError as exc:
                _kill(proc, progress)
                return "crashed", f"worker broke the result protocol ({exc}); killed"
            if progress.finished or progress.retired:
                return None


def _timeout_message(job: Job, progress: _Progress) -> str:
    if progress.current is None:
        return f"worker sent nothing for {job.startup_timeout:g} s while starting; killed"
    timeout = _entry(job, progress.current[0])["timing"]["timeout"]
    return f"no result within the {timeout:g} s timeout; worker killed"


class _ProtocolError(Exception):
    pass


def _message(line: bytes, job: Job) -> dict:
    """One decoded, checked message; a backend that scribbles on the pipe must not crash the run."""
    from gemmbench.results import FAILED_STATUSES, OK_STATUSES, check_row

    try:
        message = json.loads(line)
        kind = message["type"]
        if kind in ("begin", "row"):
            item = message["row"] if kind == "row" else message
            if not isinstance(item, dict) or not isinstance(item.get("variant"), str):
                raise ValueError("no variant")
            _entry(job, item["case"])
            if kind == "row":
                if item.get("status") not in OK_STATUSES | FAILED_STATUSES:
                    raise ValueError(f"unknown status {item.get('status')!r}")
                check_row(item)
        elif kind == "plan":
            message["items"] = [(str(case), str(variant)) for case, variant in message["items"]]
        elif kind not in ("done", "retire"):
            raise ValueError(f"unknown message type {kind!r}")
    except (ValueError, TypeError, KeyError, StopIteration) as exc:
        what = " ".join(f"{type(exc).__name__}: {exc}".split())[:120]
        raise _ProtocolError(f"{what}; the message began {line[:60].decode(errors='replace')!r}") from None
    return message


def _handle(message: dict, job: Job, handled, progress: _Progress, on_row, on_begin) -> None:
    kind = message["type"]
    if kind == "plan":
        progress.plan = message["items"]
    elif kind == "begin":
        progress.current = (message["case"], message["variant"])
        timeout = _entry(job, message["case"])["timing"]["timeout"]
        progress.deadline = time.monotonic() + timeout
        on_begin(*progress.current)
    elif kind == "row":
        row = message["row"]
        handled.add((row["case"], row["variant"]))
        progress.current = None
        progress.deadline = time.monotonic() + job.startup_timeout
        on_row(row)
    elif kind == "done":
        progress.finished = True
    elif kind == "retire":
        progress.retired = True


def _death_message(returncode: int, stderr, progress: _Progress, memory_limit: int | None) -> str:
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
    memory = f"peak memory {format_bytes(progress.peak_kib * 1024)}"
    if memory_limit is not None:
        memory += f" of the {format_bytes(memory_limit)} limit (--memory-limit)"
    return f"{what} while running this case" + (f" ({detail[:300]})" if detail else "") + f"; {memory}"


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
             if (case.name, variant.name) not in skip and (case.name, "") not in skip
             and (variant.ops is None or case.op in variant.ops)]
    channel.send("plan", items=[[c.name, v.name] for c, _, v in items])

    state = _WorkerState(backend, backend_ok, backend_reason, job["threads"], cpu_flags(), timer_resolution_ns())
    for case, timing, variant in items:
        channel.send("begin", case=case.name, variant=variant.name)
        row = state.measure(case, timing, variant)
        out_of_memory = row["status"] == "error" and "MemoryError" in row["message"]
        if out_of_memory and job["memory_limit"] is not None:
            row["message"] += f" [worker memory limit {format_bytes(job['memory_limit'])}; see --memory-limit]"
        channel.send("row", row=row)
        if out_of_memory:  # what the backend leaked stays with this process: start afresh
            channel.send("retire")
            return
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
