"""The parent side of measuring: worker processes, interleaved rounds, timeouts and crashes.

Every row of a case (each backend x variant x thread count) is measured in rounds: in each
round every live row takes one sample, in an order shuffled afresh (seeded, the seed kept),
so all rows of a case share one wall-clock window and drift on a shared machine hits them
alike; samples keep their round, so rows can be compared round by round. Workers stay alive
across rounds and cases with their prepared data, one per backend, thread count and variant
choice (`Group`). A worker that dies, stays silent past the case's timeout or breaks the
protocol costs the row it was busy with: that row becomes `crashed` or `timeout`, a fresh
worker re-prepares the others, and they go on sampling. Each worker leads its own process
group and its own cgroup (where one can be made), and adopts what its descendants orphan; all of
it is killed when the worker is done with, so what a backend forked never outlives it, even a
process that left the group (gemmbench/measure/reaping.py).
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from gemmbench.cases.workload import case_to_dict
from gemmbench.measure import interrupts
from gemmbench.measure.reaping import Cage
from gemmbench.measure.tail import Tail
from gemmbench.measure.timing import MIN_SAMPLES, TimingSettings
from gemmbench.op import Case
from gemmbench.report.textable import size

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
STARTUP_TIMEOUT = 120.0  # seconds for a worker to import and say it is ready (GEMMBENCH_STARTUP_TIMEOUT)
EXIT_GRACE = 2.0  # seconds a worker told to quit gets to exit before its group is killed
POLL = 0.25  # seconds between checks that a silent worker is still alive
SILENT_START = "worker sent nothing for {timeout:g} s while starting; killed"
NO_RESULT = "no result within the {timeout:g} s timeout; worker killed"
# `python -m` puts its working directory first on sys.path; starting the worker beside the
# package that is running makes it import that same gemmbench, never a checkout in the cwd.
PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


def startup_timeout() -> float:
    """Seconds a child may take to load a backend: GEMMBENCH_STARTUP_TIMEOUT, else STARTUP_TIMEOUT."""
    from gemmbench.errors import UsageError

    text = os.environ.get("GEMMBENCH_STARTUP_TIMEOUT")
    if text is None:
        return STARTUP_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise UsageError(f"GEMMBENCH_STARTUP_TIMEOUT: expected a positive number of seconds, got {text!r}")
    return seconds


@dataclass(frozen=True)
class Group:
    """The rows one worker measures: a backend at a thread count, optionally some variants only."""

    backend: str
    threads: int
    variants: tuple[str, ...] | None = None  # None: every variant the backend offers
    isa: str | None = None  # ISA levels of ISA-specific variants ('avx2' caps, 'scalar,avx512' lists)
    cache: str = "hot"  # the cache state its calls find (gemmbench.measure.cache)
    pages: str = "huge"  # the pages its large arrays sit on (gemmbench.measure.pages), as this machine gives them


@dataclass
class Slot:
    """One row of the case being measured, as the supervisor sees it."""

    group: Group
    variant: str
    started: dict  # the worker's report after prepare (status, errors, prepare_ns, loops, ...)
    wanted: int = 0  # samples the row takes (the worker says: fewer for a reference-only variant); 0: no limit
    samples: list[float] = field(default_factory=list)
    native: list[float] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)
    cpu: list[float | None] = field(default_factory=list)  # thread CPU ns per call of each sample (None: not kept)
    native_cpu: list[float | None] = field(default_factory=list)
    placements: list[int] = field(default_factory=list)  # the placement each sample ran on
    preempted: int = 0  # samples found preempted, each taken again (up to the retakes) or kept marked
    marked: list[int] = field(default_factory=list)  # rounds whose kept sample was still preempted
    counts: dict | None = None  # instructions per call and cache misses (metric instructions)
    finish: dict | None = None  # the worker's last checks, after the samples
    failure: dict | None = None  # status and message when the worker was lost on this row

    @property
    def live(self) -> bool:
        """Prepared, verified and still taking samples."""
        return self.failure is None and self.finish is None and self.started.get("status") == "ok"

    @property
    def sampling(self) -> bool:
        """Live and still short of the samples it wants."""
        return self.live and (not self.wanted or len(self.samples) < self.wanted)

    @property
    def measured(self) -> bool:
        return bool(self.samples) or self.counts is not None


class WorkerFailed(Exception):
    """The worker crashed, timed out or broke the protocol; status and message for the row it was on."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Settings:
    """What the supervisor needs from the run's options."""

    cpus: list[int]  # the CPUs workers may measure on, the preferred first (gemmbench.measure.cpus)
    memory_limit: int | None
    startup_timeout: float = STARTUP_TIMEOUT
    timeout: float | None = None  # seconds per row, replacing every case's
    seed: int = 0  # of the round order
    registrations: dict[str, str] = field(default_factory=dict)
    op_registrations: dict[str, str] = field(default_factory=dict)
    method_registrations: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)  # more variables for every worker
    python: str = sys.executable
    metric: str = "time"  # or "instructions": workers run under callgrind and count instead of timing
    ops: frozenset[str] = frozenset()  # the ops of the run, for the backends' build()

    def worker_cpus(self, threads: int) -> list[int]:
        """The CPUs a worker of `threads` threads is pinned to: the first of the preferred."""
        return self.cpus[:threads]

    @property
    def slowdown(self) -> float:
        """How much longer than usual a worker may take for anything (valgrind is slow)."""
        from gemmbench.measure.instructions import SLOWDOWN

        return SLOWDOWN if self.metric == "instructions" else 1.0


# ---------------------------------------------------------------- one worker process

class WorkerProcess:
    """A live worker: its process, the command stream into it and the message pipe out of it."""

    def __init__(self, group: Group, settings: Settings):
        self.group, self.settings = group, settings
        self.cpus = settings.worker_cpus(group.threads)
        self.stderr = Tail()  # its last part only: a backend may print without end
        self.cage = Cage()  # it and everything it starts, even what leaves its process group
        self.counts_dir = tempfile.TemporaryDirectory(prefix="gemmbench-callgrind-") \
            if settings.metric == "instructions" else None
        self.buffer = b""
        self.peak_kib = 0
        self.proc, self.fd = self._spawn()
        self.resolution_ns = self.expect("ready", settings.startup_timeout * settings.slowdown,
                                         SILENT_START)["resolution_ns"]

    def _spawn(self) -> tuple[subprocess.Popen, int]:
        read_fd, write_fd = os.pipe()
        try:
            with interrupts.held():  # see gemmbench/measure/interrupts.py: a signal during fork would be dropped
                proc = subprocess.Popen([*self._prefix(), self.settings.python, "-m", "gemmbench.measure.worker", str(write_fd)],
                                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.stderr.writer,
                                        pass_fds=(write_fd,), env=self._environment(), start_new_session=True,
                                        preexec_fn=child_setup(set(self.cpus), self.settings.memory_limit, self.cage),
                                        cwd=PACKAGE_PARENT)
        except (OSError, subprocess.SubprocessError) as exc:  # no process to blame: the machine refused
            os.close(read_fd)
            self.stderr.close()
            self.cage.remove()
            raise WorkerFailed("crashed", f"could not start a worker: {' '.join(str(exc).split())[:300]}") from None
        finally:
            os.close(write_fd)
        self.stderr.started()
        self.cage.pid = proc.pid
        job = {"backend": self.group.backend, "threads": self.group.threads,
               "variants": list(self.group.variants) if self.group.variants else None, "isa": self.group.isa,
               "registrations": self.settings.registrations, "op_registrations": self.settings.op_registrations,
               "method_registrations": self.settings.method_registrations, "memory_limit": self.settings.memory_limit,
               "cache": self.group.cache, "pages": self.group.pages}
        self.proc = proc
        self._write(job)
        return proc, read_fd

    def _prefix(self) -> list[str]:
        if self.counts_dir is None:
            return []
        from gemmbench.measure.instructions import worker_prefix

        return worker_prefix(Path(self.counts_dir.name))

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, **self.settings.environment}
        if self.counts_dir is not None:
            from gemmbench.measure.instructions import DIRECTORY_VARIABLE

            env[DIRECTORY_VARIABLE] = self.counts_dir.name
            env["PYTHONHASHSEED"] = "0"  # the interpreter's own work must not vary with its hash seed
        env.update({name: str(self.group.threads) for name in THREAD_VARIABLES})
        return env

    def _write(self, message: dict) -> None:
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):  # it died: reading the pipe will tell
            pass

    def send(self, **command) -> None:
        self._write(command)

    def messages(self, timeout: float, silence: str = NO_RESULT) -> Iterator[dict]:
        """Messages as they come; WorkerFailed when the worker dies, scribbles, or stays silent `timeout`
        seconds (then `silence`, formatted with the timeout, says so). Each message restarts the clock."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                yield self._decode(line)
                deadline = time.monotonic() + timeout
            interrupts.raise_if_pending()
            wait = deadline - time.monotonic()
            if wait <= 0:
                self.kill()
                raise WorkerFailed("timeout", silence.format(timeout=timeout))
            ready, _, _ = select.select([self.fd, *self.stderr.open_fds()], [], [], min(wait, POLL))
            if self.stderr.fd in ready:
                self.stderr.drain()
            if self.fd not in ready:
                if self._reap(block=False) and not select.select([self.fd], [], [], 0)[0]:
                    raise WorkerFailed("crashed", self._death_message())
                continue
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                self._finish_exit()
                raise WorkerFailed("crashed", self._death_message())
            self.buffer += chunk

    def expect(self, kind: str, timeout: float, silence: str = NO_RESULT) -> dict:
        for message in self.messages(timeout, silence):
            if message["type"] == kind:
                return message
            raise self._protocol(f"expected {kind!r}, got {message['type']!r}")
        raise AssertionError("unreachable")

    def _decode(self, line: bytes) -> dict:
        from gemmbench.data.results import check_row

        try:
            message = json.loads(line)
            kind = message["type"]
            if kind == "started":
                if not isinstance(message["variant"], str) or not isinstance(message["row"], dict):
                    raise ValueError("a started row needs a variant and a row")
                check_row(message["row"])
            elif kind not in ("ready", "built", "plan", "begin", "prepared", "retire", "sample", "counted", "finished",
                              "done"):
                raise ValueError(f"unknown message type {kind!r}")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            what = " ".join(f"{type(exc).__name__}: {exc}".split())[:120]
            raise self._protocol(f"{what}; the message began {line[:60].decode(errors='replace')!r}") from None
        return message

    def _protocol(self, problem: str) -> WorkerFailed:
        self.kill()
        return WorkerFailed("crashed", f"worker broke the result protocol ({problem}); killed")

    def quit(self) -> None:
        self.cage.end_descendants()  # while it lives: what its backend detached is re-parented to it
        self.send(cmd="quit")
        self._finish_exit()

    def _finish_exit(self) -> None:
        """Let a worker that has stopped talking exit by itself, then sweep its group."""
        deadline = time.monotonic() + EXIT_GRACE
        while not self._reap(block=False) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.kill()

    def kill(self) -> None:
        """Kill the worker and everything it started (its group, its cgroup, its process tree) and reap it."""
        self.cage.end(alive=self.proc.returncode is None)
        self._reap(block=True)
        self.cage.remove()

    def close(self) -> None:
        self.cage.remove()
        if self.counts_dir is not None:
            self.counts_dir.cleanup()
        self.stderr.close()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass

    def _reap(self, block: bool) -> bool:
        """Collect the worker's exit status and peak memory; False while it still runs."""
        if self.proc.returncode is not None:
            return True
        try:
            pid, status, usage = os.wait4(self.proc.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            self.proc.returncode = 0
            return True
        if pid == 0:
            return False
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.peak_kib = usage.ru_maxrss
        return True

    def _death_message(self) -> str:
        self._reap(block=True)
        returncode = self.proc.returncode
        if returncode is not None and returncode < 0:
            try:
                name = signal.Signals(-returncode).name
            except ValueError:
                name = f"signal {-returncode}"
            what = f"worker killed by {name}"
        else:
            what = f"worker exited with status {returncode} before finishing"
        lines = self.stderr.lines()
        # faulthandler's first line names the fault; a Python error's last line names the exception.
        detail = next((line for line in lines if line.startswith("Fatal Python error")), lines[-1] if lines else "")
        memory = f"peak memory {size(self.peak_kib * 1024)}"
        if self.settings.memory_limit is not None:
            memory += f" of the {size(self.settings.memory_limit)} limit (--memory-limit)"
        return f"{what} while running this case" + (f" ({detail[:300]})" if detail else "") + f"; {memory}"


def child_setup(cpus: set[int], memory_limit: int | None, cage: Cage | None = None) -> Callable[[], None]:
    """What the child does between fork and exec: limits that hold before any import, and the cage
    that keeps what it starts (gemmbench/measure/reaping.py)."""
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
            if cage is not None:
                cage.join(libc)
        if cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, cpus)
        if memory_limit is not None:
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            soft = memory_limit if hard == resource.RLIM_INFINITY else min(memory_limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

    return setup


# ---------------------------------------------------------------- the rounds of one case

class Supervisor:
    """Worker processes kept across the cases of a run, and the rounds of each case."""

    def __init__(self, settings: Settings, on_begin: Callable[[str], None] = lambda label: None):
        self.settings = settings
        self.workers: dict[Group, WorkerProcess] = {}
        self.unstartable: dict[Group, WorkerFailed] = {}  # a worker that could not start is not tried again
        self.builds: dict[str, str] = {}  # backend -> what its build() did, in its first worker
        self.on_begin = on_begin
        self.resolution_ns = 0.0

    def close(self) -> None:
        """Every worker told to quit, its process group swept."""
        for worker in self.workers.values():
            try:
                worker.quit()
            finally:
                worker.close()
        self.workers.clear()

    # ---- one case

    def measure_case(self, case: Case, timing: TimingSettings, groups: list[Group], done: set[tuple[Group, str]],
                repeat: int = 0) -> list[Slot]:
        """Prepare every group's rows of `case`, sample them in shuffled rounds, finish them.

        `done` holds (group, variant) rows that already have a result (a resumed run)."""
        timeout = self.settings.timeout if self.settings.timeout is not None else timing.timeout
        counting = self.settings.metric == "instructions"  # counts do not depend on the pages: one copy
        timing = TimingSettings(**{**asdict(timing), "timeout": timeout * self.settings.slowdown,
                                   **({"placements": 1} if counting else {})})
        slots: list[Slot] = []
        for group in groups:
            slots += self._prepare(group, case, timing, {v for g, v in done if g == group}, slots)
        if self.settings.metric == "instructions":
            self._count(case, timing, slots)
        else:
            self._rounds(case, timing, slots, repeat)
        for group in dict.fromkeys(slot.group for slot in slots if slot.live):
            self._finish(group, case, timing, slots)
        return slots

    def _worker(self, group: Group) -> WorkerProcess:
        if group in self.unstartable:
            raise self.unstartable[group]
        if group not in self.workers:
            try:
                worker = self.workers[group] = WorkerProcess(group, self.settings)
            except WorkerFailed as failure:
                self.unstartable[group] = failure
                raise
            self.resolution_ns = worker.resolution_ns
            if group.backend not in self.builds:
                self.builds[group.backend] = self._build(worker)
        return self.workers[group]

    def _build(self, worker: WorkerProcess) -> str:
        """The backend's build() (compiling its kernels) in its first worker, before its first row is
        prepared: compiling is never part of a row's prepare time."""
        self.on_begin(f"building {worker.group.backend}")
        worker.send(cmd="build", ops=sorted(self.settings.ops))
        reply = worker.expect("built", self.settings.startup_timeout, "worker did not finish building in {timeout:g} s; killed")
        return f"{reply['what']} ({reply['seconds']:.1f} s)" if reply["what"] else ""

    def _drop(self, group: Group) -> None:
        worker = self.workers.pop(group, None)
        if worker is not None:
            worker.kill()
            worker.close()

    def _prepare(self, group: Group, case: Case, timing: TimingSettings, skip: set[str],
                 slots: list[Slot]) -> list[Slot]:
        """Start the group's rows of the case in its worker; a worker lost on the way costs the
        row it was preparing, and a fresh one prepares the rest."""
        mine = {s.variant: s for s in slots if s.group == group}
        new: list[Slot] = []
        while True:
            settled = skip | {v for v, s in mine.items() if not s.live} | {s.variant for s in new if not s.live}
            current = plan = None
            try:
                worker = self._worker(group)
                worker.send(cmd="prepare", case=case_to_dict(case), timing=asdict(timing), skip=sorted(settled))
                for message in worker.messages(timing.timeout):
                    kind = message["type"]
                    if kind == "plan":
                        plan = message["variants"]
                    elif kind == "begin":
                        current = message["variant"]
                        self.on_begin(f"{case.name} · {group.backend}:{current} · {group.threads}t")
                    elif kind == "started":
                        self._started(group, message, mine, new)
                        current = None
                    elif kind == "retire":
                        self._drop(group)
                        break
                    elif kind == "prepared":
                        return new
                    else:
                        raise worker._protocol(f"unexpected {kind!r} while preparing")
            except WorkerFailed as failure:
                self._drop(group)
                failed = current if current is not None else _first_unsettled(plan, settled, new)
                if failed is None:
                    return new
                if failed in mine:
                    mine[failed].failure = _failure_row(failed, failure)
                else:
                    new.append(Slot(group, failed, {}, failure=_failure_row(failed, failure)))
                if plan is None:  # it died before saying what it would run: that row stands for them all
                    return new

    @staticmethod
    def _started(group: Group, message: dict, mine: dict[str, Slot], new: list[Slot]) -> None:
        variant, row, wanted = message["variant"], message["row"], message.get("samples", 0)
        if variant in mine:  # re-prepared in a fresh worker: keep its samples, take the new start
            mine[variant].started, mine[variant].wanted = row, wanted
        else:
            new.append(Slot(group, variant, row, wanted))

    def _rounds(self, case: Case, timing: TimingSettings, slots: list[Slot], repeat: int) -> None:
        shuffle = random.Random(round_seed(self.settings.seed, repeat, case.name))
        budget = timing.max_time * 1e9 * max(1, sum(s.live for s in slots))
        spent = 0
        for round_index in range(timing.samples):
            live = [s for s in slots if s.sampling]
            if not live:
                return
            shuffle.shuffle(live)
            self.on_begin(f"{case.name} · round {round_index + 1}/{timing.samples} · {len(live)} rows")
            start = time.perf_counter_ns()
            for slot in live:
                if slot.sampling:
                    self._sample(slot, case, timing, slots, round_index)
            spent += time.perf_counter_ns() - start
            if spent > budget and round_index + 1 >= MIN_SAMPLES:
                return

    def _sample(self, slot: Slot, case: Case, timing: TimingSettings, slots: list[Slot], round_index: int) -> None:
        try:
            if slot.group not in self.workers:  # lost with another row: prepare this group's live rows again
                self._prepare(slot.group, case, timing, set(), slots)
                if not slot.live:
                    return
            worker = self.workers[slot.group]
            worker.send(cmd="sample", variant=slot.variant)
            reply = worker.expect("sample", timing.timeout)
        except WorkerFailed as failure:
            self._drop(slot.group)
            slot.failure = _failure_row(slot.variant, failure, f" (sampling round {round_index + 1})")
            return
        slot.samples.append(float(reply["ns"]))
        slot.cpu.append(_number(reply.get("cpu_ns")))
        if reply.get("native_ns") is not None:
            slot.native.append(float(reply["native_ns"]))
            slot.native_cpu.append(_number(reply.get("native_cpu_ns")))
        slot.rounds.append(round_index)
        slot.placements.append(int(reply.get("placement", 0)))
        slot.preempted += int(reply.get("preempted", 0))
        if reply.get("marked"):
            slot.marked.append(round_index)

    def _count(self, case: Case, timing: TimingSettings, slots: list[Slot]) -> None:
        """Instruction counts are the same every time: one count per row, no rounds."""
        for slot in slots:
            if not slot.live:
                continue
            self.on_begin(f"{case.name} · {slot.group.backend}:{slot.variant} · counting instructions")
            try:
                if slot.group not in self.workers:
                    self._prepare(slot.group, case, timing, set(), slots)
                    if not slot.live:
                        continue
                worker = self.workers[slot.group]
                worker.send(cmd="count", variant=slot.variant)
                slot.counts = worker.expect("counted", timing.timeout)["columns"]
            except WorkerFailed as failure:
                self._drop(slot.group)
                slot.failure = _failure_row(slot.variant, failure, " (counting instructions)")

    def _finish(self, group: Group, case: Case, timing: TimingSettings, slots: list[Slot]) -> None:
        """The worker's last checks of the group's rows; rows lost with a worker are prepared again."""
        for _ in range(3):
            pending = {s.variant: s for s in slots if s.group == group and s.live}
            if not pending:
                return
            current = None
            try:
                if group not in self.workers:
                    self._prepare(group, case, timing, set(), slots)
                worker = self.workers[group]
                worker.send(cmd="finish")
                for message in worker.messages(timing.timeout):
                    if message["type"] == "done":
                        return
                    if message["type"] == "begin":
                        current = pending.get(message["variant"])
                    elif message["type"] == "finished" and message["variant"] in pending:
                        pending.pop(message["variant"]).finish = message["columns"]
                        current = None
                    else:
                        raise worker._protocol(f"unexpected {message['type']!r} while finishing")
            except WorkerFailed as failure:
                self._drop(group)
                if current is not None:
                    current.failure = _failure_row(current.variant, failure, " (checking the output after the samples)")


def round_seed(seed: int, repeat: int, case: str) -> str:
    """Each case's rounds have an order of their own, reproducible from the run's seed."""
    return f"{seed}/{repeat}/{case}"


def _first_unsettled(plan: list[str] | None, settled: set[str], new: list[Slot]) -> str | None:
    if plan is None:
        return ""  # it died before saying what it would run: one row for the whole case
    done = settled | {s.variant for s in new}
    return next((v for v in plan if v not in done), None)


def _number(value) -> float | None:
    return None if value is None else float(value)


def _failure_row(variant: str, failure: WorkerFailed, where: str = "") -> dict:
    return {"variant": variant, "status": failure.status, "message": failure.message + where}
