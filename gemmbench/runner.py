"""Running a suite: plan measurement groups, run each in a worker, stream rows to parquet.

A run claims its results file before anything runs and rewrites it atomically after each
row. SIGINT, SIGTERM and SIGHUP stop it cleanly: the workers are killed, the completed rows
stay in the file marked partial, and `resume_run` carries on where it stopped.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import secrets
import signal
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from gemmbench import interrupts, registry
from gemmbench.isa import parse_spec
from gemmbench.errors import UsageError
from gemmbench.interrupts import RunInterrupted
from gemmbench.machine import Machine, fingerprint
from gemmbench.measure import case_columns
from gemmbench.progress import Progress
from gemmbench.results import (COLUMN_NAMES, FAILED_STATUSES, ResultsFile, RunInfo, find_run, read_metadata,
                               read_table, writer_lock)
from gemmbench.suite import Selection, Suite, SuiteCase, load_suite, parse_selection, suite_from_dict, suite_to_dict
from gemmbench.worker import STARTUP_TIMEOUT, Job, default_memory_limit, run_job
from gemmbench.workload import case_to_dict


@dataclass(frozen=True)
class RunOptions:
    out_dir: Path = Path("results")
    backends: tuple[Selection, ...] | None = None  # replaces the suite's choice
    threads: tuple[int, ...] | None = None  # replaces the suite's choice
    isa: str | None = None  # replaces the suite's ISA choice ('avx2' caps, 'scalar,avx512' lists)
    roofline: bool = False  # add roof_* columns from this machine's (cached) roofline
    progress: bool | None = None  # None: when stderr is a terminal
    timeout: float | None = None  # seconds per row; replaces every case's timeout
    memory_limit: int | None = field(default_factory=default_memory_limit)  # bytes per worker; None: no limit
    startup_timeout: float = STARTUP_TIMEOUT  # seconds for a worker to start and send its plan

    def as_dict(self) -> dict:
        """What `resume_run` needs to carry on with the same settings."""
        return {"backends": None if self.backends is None else [str(s) for s in self.backends],
                "threads": None if self.threads is None else list(self.threads), "isa": self.isa,
                "roofline": self.roofline, "timeout": self.timeout, "memory_limit": self.memory_limit}

    @classmethod
    def from_dict(cls, data: dict, out_dir: Path, progress: bool | None) -> "RunOptions":
        backends = data["backends"]
        return cls(out_dir=out_dir, backends=None if backends is None else tuple(map(parse_selection, backends)),
                   threads=None if data["threads"] is None else tuple(data["threads"]), isa=data["isa"],
                   roofline=data.get("roofline", False), progress=progress, timeout=data["timeout"],
                   memory_limit=data["memory_limit"])


@dataclass(frozen=True)
class RunOutcome:
    path: Path
    rows: list[dict]
    complete: bool = True  # False: interrupted, the file is marked partial

    @property
    def failed(self) -> bool:
        return any(row["status"] in FAILED_STATUSES for row in self.rows)

    @property
    def exit_status(self) -> int:
        return 1 if self.failed else 0

    def frame(self):
        from gemmbench.results import load_results

        return load_results(self.path)


@dataclass(frozen=True)
class _Group:
    backend: str
    threads: int
    variants: tuple[str, ...] | None
    isa: str | None
    cases: tuple[SuiteCase, ...]


def available_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _selections(suite_case: SuiteCase, options: RunOptions) -> tuple[Selection, ...]:
    chosen = options.backends or suite_case.backends
    return chosen if chosen is not None else tuple(Selection(name) for name in registry.names())


def check_selections(suite: Suite, options: RunOptions) -> None:
    """Unknown backends or variants are bad input: refuse before anything runs."""
    known = registry.names()
    for suite_case in suite.cases:
        for selection in _selections(suite_case, options):
            if selection.backend not in known:
                raise UsageError(f"{suite.path}: case '{suite_case.case.name}': unknown backend "
                                 f"'{selection.backend}'; known backends: {', '.join(known) or 'none'}")
            if selection.variant is None:
                continue
            status = registry.status(selection.backend)
            if status.available and selection.variant not in status.variants:
                raise UsageError(f"{suite.path}: case '{suite_case.case.name}': backend '{selection.backend}' "
                                 f"has no variant '{selection.variant}'; it has: {', '.join(status.variants)}")


def plan(suite: Suite, options: RunOptions) -> list[_Group]:
    """Measurement groups: one worker per backend, thread count and variant choice."""
    groups: dict[tuple, list[SuiteCase]] = {}
    for suite_case in suite.cases:
        by_backend: dict[str, set[str] | None] = {}
        for selection in _selections(suite_case, options):
            if selection.variant is None or by_backend.get(selection.backend, set()) is None:
                by_backend[selection.backend] = None
            else:
                by_backend.setdefault(selection.backend, set()).add(selection.variant)
        isa = options.isa or suite_case.isa
        for threads in options.threads or suite_case.threads:
            for backend, variants in by_backend.items():
                key = (backend, threads, tuple(sorted(variants)) if variants else None, isa)
                groups.setdefault(key, []).append(suite_case)
    return [_Group(b, t, v, i, tuple(cases)) for (b, t, v, i), cases in groups.items()]


def _job(group: _Group, cpus: list[int], options: RunOptions) -> Job:
    timeout = {} if options.timeout is None else {"timeout": options.timeout}
    entries = [{"case": case_to_dict(c.case), "timing": {**asdict(c.timing), **timeout}} for c in group.cases]
    return Job(group.backend, group.threads, tuple(cpus[-group.threads:]), entries,
               list(group.variants) if group.variants else None, group.isa, registry.registered_targets(),
               options.memory_limit, options.startup_timeout)


def _common_columns(machine: Machine, run: RunInfo, group: _Group, cpus: list[int]) -> dict:
    return {
        **{k: v for k, v in machine.as_dict().items()}, "feature_key": machine.feature_key,
        "run_id": run.run_id, "suite": run.suite, "backend": group.backend, "threads": group.threads,
        "cpus": ",".join(str(c) for c in cpus[-group.threads:]),
    }


def _safe(text: str, length: int) -> str:
    """A file-name part: letters, digits, '-' and '_' only, so nothing escapes the output directory."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in text)[:length]


def new_run(suite: Suite, out_dir: Path, machine: Machine) -> tuple[RunInfo, Path]:
    now = dt.datetime.now(dt.timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%S")
    run_id = f"{stamp}-{_safe(machine.host, 40)}-{secrets.token_hex(3)}"
    name = _safe(suite.name, 80).lstrip("-") or "suite"
    return RunInfo(run_id, suite.name, now.isoformat()), out_dir / f"{name}-{run_id}.parquet"


def _claim(suite: Suite, options: RunOptions, machine: Machine) -> ResultsFile:
    """A new results file, created before anything runs; two runs never share one."""
    resume = {"suite": suite_to_dict(suite), "path": suite.path, "options": options.as_dict()}
    for _ in range(100):
        info, path = new_run(suite, Path(options.out_dir), machine)
        results = ResultsFile(path, replace(info, resume=resume))
        try:
            results.create()
        except FileExistsError:
            continue
        return results
    raise UsageError(f"{options.out_dir}: no free results file name found")


def check_options(suite: Suite, options: RunOptions) -> None:
    """Everything about a run that can be refused before it starts."""
    check_selections(suite, options)
    if options.isa:
        parse_spec(options.isa)
    if options.timeout is not None and not (options.timeout > 0 and math.isfinite(options.timeout)):
        raise UsageError(f"--timeout: expected a positive number of seconds, got {options.timeout!r}")
    if options.memory_limit is not None and options.memory_limit <= 0:
        raise UsageError(f"--memory-limit: expected a positive number of bytes, got {options.memory_limit!r}")


def run_suite(suite: Suite | str | os.PathLike, options: RunOptions | None = None) -> RunOutcome:
    """Run every case x backend x variant x threads of a suite; rows go to one parquet file.

    Raises RunInterrupted (a KeyboardInterrupt) on SIGINT/SIGTERM/SIGHUP, after saving.
    """
    options = options or RunOptions()
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    check_options(suite, options)
    machine = fingerprint()
    results = _claim(suite, options, machine)
    with writer_lock(results.path):
        return _execute(suite, options, machine, results, frozenset())


def resume_run(run: str | os.PathLike, out_dir: str | os.PathLike = "results",
               suite: Suite | str | os.PathLike | None = None, progress: bool | None = None) -> RunOutcome:
    """Finish an interrupted run in its own file, with its own suite and options.

    `run` is the results file or its run id (looked up in out_dir). Rows already in the file
    are kept whatever their status (crashed and timeout included); only items without a row
    run. A `suite`, when given, must expand to exactly the suite the run started with.
    """
    path = Path(run) if Path(run).is_file() else find_run(Path(out_dir), str(run))
    with writer_lock(path):
        return _resume(path, suite, progress)


def _resume(path: Path, suite: Suite | str | os.PathLike | None, progress: bool | None) -> RunOutcome:
    table = read_table(path)  # checks the whole file, not only its metadata
    meta = read_metadata(path)
    if meta.get("complete"):
        raise UsageError(f"{path}: run {meta.get('run_id')} is complete; nothing to resume")
    resume = meta.get("resume")
    if not isinstance(resume, dict):
        raise UsageError(f"{path}: cannot resume: the file does not record its suite and options")
    try:
        stored = suite_from_dict(resume["suite"], resume["path"])
        options = RunOptions.from_dict(resume["options"], path.parent, progress)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"{path}: cannot resume: its resume data is damaged ({type(exc).__name__}: {exc})") from None
    if suite is not None:
        given = suite if isinstance(suite, Suite) else load_suite(suite)
        if suite_to_dict(given) != resume["suite"]:
            raise UsageError(f"{path}: run {meta['run_id']} was started from a different suite than "
                             f"{given.path} (its cases or settings differ); resume without naming a suite, "
                             f"or start a new run")
    check_options(stored, options)
    rows = [{k: v for k, v in row.items() if k in COLUMN_NAMES} for row in table.to_pylist()]
    machine = fingerprint()
    _check_same_cpu(path, rows, machine)
    results = ResultsFile(path, RunInfo(meta["run_id"], meta["suite"], meta["started"], resume), rows)
    done = frozenset((r["case"], r["backend"], r["variant"], r["threads"]) for r in rows)
    return _execute(stored, options, machine, results, done)


def _check_same_cpu(path: Path, rows: list[dict], machine: Machine) -> None:
    """One run, one kind of machine: its rows must stay comparable with each other."""
    for row in rows[:1]:
        if row["feature_key"] != machine.feature_key:
            raise UsageError(f"{path}: measured on another CPU ({row['feature_key']}; this one is "
                             f"{machine.feature_key}); resume a run on the kind of machine it started on")


def _execute(suite: Suite, options: RunOptions, machine: Machine, results: ResultsFile,
             done: frozenset[tuple]) -> RunOutcome:
    cpus = available_cpus()
    show = Progress(sys.stderr, options.progress)
    with interrupts.catching():
        try:
            for group in plan(suite, options):
                _run_group(group, cpus, options, machine, results, show, done)
        except KeyboardInterrupt as exc:
            show.close()
            results.close(complete=False)
            signum = exc.signum if isinstance(exc, RunInterrupted) else signal.SIGINT
            raise RunInterrupted(signum, RunOutcome(results.path, results.rows, complete=False)) from None
        show.close()
        if options.roofline:
            _attach_roofline(results)
        results.close(complete=True)
    return RunOutcome(results.path, results.rows)


def _attach_roofline(results: ResultsFile) -> None:
    from gemmbench import roofline

    roof = roofline.load_or_measure()
    for row in results.rows:
        row.update(roofline.row_columns(roof, row))
    results.extra["roofline"] = json.loads(roof.to_json())


def _run_group(group: _Group, cpus: list[int], options: RunOptions, machine: Machine, results: ResultsFile,
               show: Progress, done: frozenset[tuple]) -> None:
    common = _common_columns(machine, results.info, group, cpus)

    def add(row: dict) -> None:
        results.add([{**row, **common, "timestamp": dt.datetime.now(dt.timezone.utc)}])
        show.row_done(row["status"])

    if group.threads > len(cpus):
        for suite_case in group.cases:
            if (suite_case.case.name, group.backend, "", group.threads) not in done:
                add({"variant": "", **case_columns(suite_case.case), "status": "skipped",
                     "message": f"needs {group.threads} CPUs; this machine offers {len(cpus)}"})
        return
    job = _job(group, cpus, options)
    group_done = frozenset((case, variant) for case, backend, variant, threads in done
                           if backend == group.backend and threads == group.threads)
    run_job(job, add, lambda case, variant: show.begin(f"{case} · {group.backend}:{variant} · {group.threads}t"),
            done=group_done)
