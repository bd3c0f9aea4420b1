"""Running a suite: plan measurement groups, run each in a worker, stream rows to parquet."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from gemmbench import registry
from gemmbench.backend import parse_isa
from gemmbench.errors import UsageError
from gemmbench.machine import Machine, fingerprint
from gemmbench.measure import case_columns
from gemmbench.progress import Progress
from gemmbench.results import FAILED_STATUSES, ResultsFile, RunInfo
from gemmbench.suite import Selection, Suite, SuiteCase, load_suite
from gemmbench.worker import Job, run_job
from gemmbench.workload import case_to_dict


@dataclass(frozen=True)
class RunOptions:
    out_dir: Path = Path("results")
    backends: tuple[Selection, ...] | None = None  # replaces the suite's choice
    threads: tuple[int, ...] | None = None  # replaces the suite's choice
    isa: str | None = None  # replaces the suite's ISA choice ('avx2' caps, 'scalar,avx512' lists)
    roofline: bool = False  # add roof_* columns from this machine's (cached) roofline
    progress: bool | None = None  # None: when stderr is a terminal


@dataclass(frozen=True)
class RunOutcome:
    path: Path
    rows: list[dict]

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
    entries = [{"case": case_to_dict(c.case), "timing": asdict(c.timing)} for c in group.cases]
    return Job(group.backend, group.threads, tuple(cpus[-group.threads:]), entries,
               list(group.variants) if group.variants else None, group.isa, registry.registered_targets())


def _common_columns(machine: Machine, run: RunInfo, group: _Group, cpus: list[int]) -> dict:
    return {
        **{k: v for k, v in machine.as_dict().items()}, "feature_key": machine.feature_key,
        "run_id": run.run_id, "suite": run.suite, "backend": group.backend, "threads": group.threads,
        "cpus": ",".join(str(c) for c in cpus[-group.threads:]),
    }


def new_run(suite: Suite, out_dir: Path, machine: Machine) -> tuple[RunInfo, Path]:
    now = dt.datetime.now(dt.timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%S")
    run_id = f"{stamp}-{machine.host}-{secrets.token_hex(3)}"
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in suite.name)
    return RunInfo(run_id, suite.name, now.isoformat()), out_dir / f"{safe}-{run_id}.parquet"


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops a run the way Ctrl-C does: completed rows are kept, the file marked partial."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_suite(suite: Suite | str | os.PathLike, options: RunOptions | None = None) -> RunOutcome:
    """Run every case x backend x variant x threads of a suite; rows go to one parquet file."""
    options = options or RunOptions()
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    check_selections(suite, options)
    if options.isa:
        parse_isa(options.isa)
    machine = fingerprint()
    run, path = new_run(suite, Path(options.out_dir), machine)
    results = ResultsFile(path, run)
    cpus = available_cpus()
    groups = plan(suite, options)
    show = Progress(sys.stderr, options.progress)
    with _sigterm_interrupts():
        try:
            for group in groups:
                _run_group(group, cpus, options, machine, run, results, show)
        except KeyboardInterrupt:
            show.close()
            results.close(complete=False)
            raise
    show.close()
    if options.roofline:
        _attach_roofline(results)
    results.close(complete=True)
    return RunOutcome(path, results.rows)


def _attach_roofline(results: ResultsFile) -> None:
    from gemmbench import roofline

    roof = roofline.load_or_measure()
    for row in results.rows:
        row.update(roofline.row_columns(roof, row))
    results.extra["roofline"] = json.loads(roof.to_json())


def _run_group(group: _Group, cpus: list[int], options: RunOptions, machine: Machine, run: RunInfo,
               results: ResultsFile, show: Progress) -> None:
    common = _common_columns(machine, run, group, cpus)

    def add(row: dict) -> None:
        results.add([{**row, **common, "timestamp": dt.datetime.now(dt.timezone.utc)}])
        show.row_done(row["status"])

    if group.threads > len(cpus):
        for suite_case in group.cases:
            add({"variant": "", **case_columns(suite_case.case), "status": "skipped",
                 "message": f"needs {group.threads} CPUs; this machine offers {len(cpus)}"})
        return
    job = _job(group, cpus, options)
    run_job(job, add, lambda case, variant: show.begin(f"{case} · {group.backend}:{variant} · {group.threads}t"))
