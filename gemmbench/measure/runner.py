"""Running a suite: build what backends need, measure case after case, stream rows to parquet.

A run claims its results file before anything runs. Each backend's `build()` runs first (so
compiling never lands in a row's prepare time); then every case is measured by the
supervisor in interleaved rounds over all of its rows, and the case's rows are written.
SIGINT, SIGTERM and SIGHUP stop it cleanly: the workers are killed, the completed rows stay
in the file marked partial, and `resume_run` carries on where it stopped.
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

from gemmbench import registry
from gemmbench.cases.fields import brief, did_you_mean, is_int, is_number
from gemmbench.cases.suite import (
    Selection,
    Suite,
    SuiteCase,
    load_suite,
    parse_selection,
    parse_suite,
    suite_from_dict,
    suite_json,
)
from gemmbench.data import filekind
from gemmbench.data.results import (
    FAILED_STATUSES,
    ResultsFile,
    RunInfo,
    column_names,
    find_run,
    read_metadata,
    read_table,
    writer_lock,
)
from gemmbench.errors import SuiteError, UsageError
from gemmbench.machine.fingerprint import Machine, default_worker_memory_limit, fingerprint
from gemmbench.machine.isa import parse_spec
from gemmbench.measure import interrupts, probe
from gemmbench.measure.interrupts import RunInterrupted
from gemmbench.measure.progress import Progress
from gemmbench.measure.rows import Sampled, finished_row, not_run_row
from gemmbench.measure.supervisor import Group, Settings, Slot, Supervisor, startup_timeout
from gemmbench.stats import decide
from gemmbench.stats.decide import DEFAULT_BASELINE
from gemmbench.stats.noise import Check

METRICS = ("time", "instructions")
SHARED = "shared"  # RunOptions.memory_limit: the default budget shared among the run's workers
RUN_CHECK_SECONDS = 0.3  # the calibration loop of the noise check a run starts with


@dataclass(frozen=True)
class RunOptions:
    out_dir: Path = Path("results")
    backends: tuple[Selection, ...] | None = None  # replaces the suite's choice
    threads: tuple[int, ...] | None = None  # replaces the suite's choice
    isa: str | None = None  # replaces the suite's ISA choice ('avx2' caps, 'scalar,avx512' lists)
    roofline: bool = False  # add roof_* columns from this machine's (cached) roofline
    progress: bool | None = None  # None: when stderr is a terminal
    timeout: float | None = None  # seconds per row; replaces every case's timeout
    # Bytes of address space each worker may use; None: no limit; SHARED (the default): the machine's
    # budget (default_worker_memory_limit) shared evenly among the run's workers, which all live until the
    # run ends (one per backend, thread count and variant choice).
    memory_limit: int | None | str = SHARED
    startup_timeout: float = field(default_factory=startup_timeout)  # seconds for a worker to start and say it is ready
    repeat: int = 1  # the suite measured this many times, each in fresh worker processes
    check: bool = False  # diagnose the machine's noise first (gemmbench check) and keep the verdict
    metric: str = "time"  # or "instructions": rows counted under valgrind (callgrind) instead of timed
    seed: int | None = None  # of the round order; None: a new one, recorded
    cpus: tuple[int, ...] | None = None  # CPUs to measure on (replaces the suite's); None: the least busy
    cache: tuple[str, ...] | None = None  # cache states (replaces the suite's)
    pages: tuple[str, ...] | None = None  # page settings (replaces the suite's)

    def as_dict(self) -> dict:
        """What `resume_run` needs to carry on with the same settings."""
        listed = {name: None if getattr(self, name) is None else list(getattr(self, name))
                  for name in ("threads", "cpus", "cache", "pages")}
        return {"backends": None if self.backends is None else [str(s) for s in self.backends], **listed,
                "isa": self.isa, "roofline": self.roofline, "timeout": self.timeout,
                "memory_limit": self.memory_limit, "repeat": self.repeat, "seed": self.seed, "metric": self.metric}

    @classmethod
    def from_dict(cls, data: dict, out_dir: Path, progress: bool | None) -> "RunOptions":
        """The options a run stored for --resume; ValueError naming the first one that is not of the
        type a run stores (check_options then judges their values as it judges a new run's)."""
        if not isinstance(data, dict):
            raise ValueError("the options are not a mapping")
        backends = _stored(data, "backends", lambda v: v is None or (isinstance(v, list) and
                                                                   all(isinstance(b, str) for b in v)))
        listed = {name: _listed(data, name, is_int) for name in ("threads", "cpus")}
        listed |= {name: _listed(data, name, lambda v: isinstance(v, str)) for name in ("cache", "pages")}
        return cls(out_dir=out_dir, backends=None if backends is None else tuple(map(parse_selection, backends)),
                   isa=_stored(data, "isa", lambda v: v is None or isinstance(v, str)),
                   roofline=_stored(data, "roofline", lambda v: isinstance(v, bool), False), progress=progress,
                   timeout=_stored(data, "timeout", lambda v: v is None or is_number(v)),
                   memory_limit=_stored(data, "memory_limit", lambda v: v is None or v == SHARED or is_int(v)),
                   repeat=_stored(data, "repeat", is_int, 1), seed=_stored(data, "seed", lambda v: v is None or is_int(v)),
                   metric=_stored(data, "metric", lambda v: isinstance(v, str), "time"), **listed)


_REQUIRED = object()


def _stored(data: dict, key: str, valid, default=_REQUIRED):
    """data[key] (or `default` for an option older files lack), ValueError unless `valid` says it is."""
    if key not in data:
        if default is _REQUIRED:
            raise ValueError(f"option '{key}' is missing")
        return default
    if not valid(data[key]):
        raise ValueError(f"option '{key}' is {brief(data[key])}")
    return data[key]


def _listed(data: dict, key: str, valid_item) -> tuple | None:
    """An optional list option (None when absent or null) as a tuple, each item `valid_item`."""
    value = _stored(data, key, lambda v: v is None or (isinstance(v, list) and all(map(valid_item, v))), None)
    return None if value is None else tuple(value)


@dataclass(frozen=True)
class RunOutcome:
    path: Path
    rows: list[dict]
    complete: bool = True  # False: interrupted, the file is marked partial
    kept: int = 0  # rows a resumed run found in its file and kept
    noise: Check | None = None  # the noise check the run started with (RunOptions.check), kept in its file too

    @property
    def failed(self) -> bool:
        return any(row["status"] in FAILED_STATUSES for row in self.rows)

    @property
    def exit_status(self) -> int:
        return 1 if self.failed else 0

    def frame(self):
        from gemmbench.data.results import load_results

        return load_results(self.path)


def _selections(suite_case: SuiteCase, options: RunOptions) -> tuple[Selection, ...]:
    chosen = options.backends or suite_case.backends
    return chosen if chosen is not None else tuple(Selection(name) for name in registry.backends.names())


def check_selections(suite: Suite, options: RunOptions) -> None:
    """Unknown backends or variants are bad input: refuse before anything runs, saying where they came from."""
    known = registry.backends.names()
    for selection in options.backends or ():
        if selection.backend not in known:
            raise UsageError(f"--backend: unknown backend '{selection.backend}'"
                             f"{did_you_mean(selection.backend, known)}; known backends: {', '.join(known)}")
    for suite_case in suite.cases:
        for selection in _selections(suite_case, options):
            where = "--backend" if options.backends else f"{suite.path}: case '{suite_case.case.name}': field 'backends'"
            if selection.backend not in known:  # a suite's own names were checked when it was loaded
                raise UsageError(f"{where}: unknown backend '{selection.backend}'"
                                 f"{did_you_mean(selection.backend, known)}; known backends: {', '.join(known)}")
            if selection.variant is None:
                continue
            status = probe.status(selection.backend)
            if status.available and selection.variant not in status.variants:
                raise UsageError(f"{where}: backend '{selection.backend}' has no variant '{selection.variant}'"
                                 f"{did_you_mean(selection.variant, status.variants)}; it has: "
                                 f"{', '.join(status.variants)}")


def _groups_of(suite_case: SuiteCase, options: RunOptions) -> list[Group]:
    """The workers a case's rows need: one per backend, thread count and variant choice."""
    by_backend: dict[str, set[str] | None] = {}
    for selection in _selections(suite_case, options):
        if selection.variant is None or by_backend.get(selection.backend, set()) is None:
            by_backend[selection.backend] = None
        else:
            by_backend.setdefault(selection.backend, set()).add(selection.variant)
    isa = options.isa or suite_case.isa
    # The baseline first: a run cut short still has what the speed-ups are measured against.
    backends = sorted(by_backend, key=lambda name: name != DEFAULT_BASELINE)
    return [Group(backend, threads, tuple(sorted(by_backend[backend])) if by_backend[backend] else None, isa,
                  cache, pages)
            for threads in options.threads or suite_case.threads for cache in options.cache or suite_case.cache
            for pages in _page_settings(suite_case, options) for backend in backends]


def _page_settings(suite_case: SuiteCase, options: RunOptions) -> tuple[str, ...]:
    """The case's page settings; by default huge pages where the machine gives them (else normal)."""
    from gemmbench.measure import pages

    return options.pages or suite_case.pages or (pages.effective("huge"),)


def _common_columns(machine: Machine, run: RunInfo, group: Group, cpus: list[int], repeat: int,
                    metric: str) -> dict:
    return {**machine.as_dict(), "feature_key": machine.feature_key, "run_id": run.run_id, "suite": run.suite,
            "backend": group.backend, "threads": group.threads, "repeat": repeat, "metric": metric,
            "cpus": ",".join(str(c) for c in cpus), "cache": group.cache, "pages": group.pages}


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
    resume = {"suite": suite_json(suite), "path": suite.path, "text": suite.text, "base": suite.base,
              "options": options.as_dict()}
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
    if options.memory_limit not in (None, SHARED) and options.memory_limit <= 0:
        raise UsageError(f"--memory-limit: expected a positive number of bytes, got {options.memory_limit!r}")
    if options.repeat < 1:
        raise UsageError(f"--repeat: expected a positive number of repeats, got {options.repeat!r}")
    if options.metric not in METRICS:
        raise UsageError(f"--metric: expected one of {', '.join(METRICS)}, got {options.metric!r}")
    _check_conditions(suite, options)
    if options.metric == "instructions":
        from gemmbench.measure import instructions

        usable, reason = instructions.available()
        if not usable:
            raise UsageError(f"--metric instructions: {reason}")


def _check_conditions(suite: Suite, options: RunOptions) -> None:
    """The CPUs, cache states and pages a run asks for, refused in one line where this machine cannot give them."""
    from gemmbench.measure import cache, cpus, pages

    pinned, where = (options.cpus, "--cpus") if options.cpus else (suite.cpus, f"{suite.path}: field 'cpus'")
    allowed = cpus.allowed()
    for cpu in pinned or ():
        if cpu not in allowed:
            raise UsageError(f"{where}: CPU {cpu} is not one this run may use (allowed: "
                             f"{', '.join(map(str, allowed))})")
    for suite_case in suite.cases:
        states = options.cache or suite_case.cache
        settings = options.pages or suite_case.pages or ()
        source = (lambda flag, field: flag if getattr(options, field) else
                  f"{suite.path}: case '{suite_case.case.name}': field '{field}'")
        for state in states:
            problem = cache.unavailable(state)
            if problem:
                raise UsageError(f"{source('--cache', 'cache')}: {problem}")
            if state != "hot" and options.metric == "instructions":
                raise UsageError(f"{source('--cache', 'cache')}: --metric instructions counts calls back to back "
                                 f"(cache hot); cache {state} is timed only")
        for mode in settings:
            problem = pages.unavailable(mode)
            if problem:
                raise UsageError(f"{source('--pages', 'pages')}: {problem}")


def run_suite(suite: Suite | str | os.PathLike, options: RunOptions | None = None) -> RunOutcome:
    """Run every case x backend x variant x threads of a suite; rows go to one parquet file.

    Raises RunInterrupted (a KeyboardInterrupt) on SIGINT/SIGTERM/SIGHUP, after saving.
    """
    options = options or RunOptions()
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    check_options(suite, options)
    if options.seed is None:
        options = replace(options, seed=secrets.randbits(31))
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
    given = Path(run)
    if given.exists():
        kind = filekind.irregular(given)
        if kind:  # never opened: a FIFO would wait for a writer
            raise UsageError(f"{given}: is {kind}, not a results file")
    path = given if given.is_file() else find_run(Path(out_dir), str(run))
    with writer_lock(path):
        return _resume(path, suite, progress)


def _resume(path: Path, suite: Suite | str | os.PathLike | None, progress: bool | None) -> RunOutcome:
    plan = resume_plan(path, suite, progress)
    machine = fingerprint()
    _check_same_cpu(path, plan.rows, machine)
    meta = plan.meta
    results = ResultsFile(path, RunInfo(meta["run_id"], meta["suite"], meta["started"], meta["resume"]), plan.rows)
    results.extra = {k: meta[k] for k in ("round_seed", "builds", "noise_check", "cpu_choice") if k in meta}
    done = frozenset(_done_key(r) for r in plan.rows)
    outcome = _execute(plan.suite, plan.options, machine, results, done)
    return replace(outcome, kept=len(plan.rows))


@dataclass(frozen=True)
class ResumePlan:
    """What `run --resume` carries on with, every part of it checked again."""

    suite: Suite
    options: RunOptions
    rows: list[dict]
    meta: dict


def resume_plan(path: Path, suite: Suite | str | os.PathLike | None = None,
                progress: bool | None = None) -> ResumePlan:
    """A partial run's suite, options and rows, as its file stores them, each checked as a new run's
    would be: the suite is validated again from the text it was read from (a file's metadata is
    input like any other, and may have been edited), and must expand to the suite the run stored.
    UsageError (or SuiteError, one line per problem) names the file."""
    table = read_table(path)  # checks the whole file, not only its metadata
    meta = read_metadata(path)
    if meta.get("complete"):
        raise UsageError(f"{path}: run {brief(meta.get('run_id'))} is complete; nothing to resume")
    resume = meta.get("resume")
    if not isinstance(resume, dict):
        raise UsageError(f"{path}: cannot resume: the file does not record its suite and options")
    damaged = [k for k in ("run_id", "suite", "started") if not isinstance(meta.get(k), str)] + \
              [k for k in ("text", "path", "base") if not isinstance(resume.get(k), str)]
    if damaged == ["text"] or not resume.get("text"):
        raise UsageError(f"{path}: cannot resume: the file does not store the text of its suite (written by an "
                         f"older gemmbench, or started from a suite built in code); start a new run")
    if damaged:
        raise UsageError(f"{path}: cannot resume: its resume data is damaged ('{damaged[0]}' is not text)")
    try:
        options = RunOptions.from_dict(resume.get("options"), path.parent, progress)
        started_with = suite_from_dict(resume["suite"], resume["path"])
    except (KeyError, TypeError, ValueError, AttributeError, UsageError) as exc:
        raise UsageError(f"{path}: cannot resume: its resume data is damaged "
                         f"({' '.join(f'{type(exc).__name__}: {exc}'.split())[:200]})") from None
    _check_files_unchanged(path, started_with)
    try:
        stored = parse_suite(resume["text"], resume["path"], Path(resume["base"]))
    except SuiteError as exc:
        raise SuiteError([f"{path}: cannot resume: the suite it stores is not valid: {problem}"
                          for problem in exc.problems]) from None
    if suite_json(stored) != resume["suite"]:
        raise UsageError(f"{path}: cannot resume: its stored suite differs from the suite text it stores "
                         f"(the metadata was edited); start a new run")
    if suite is not None:
        given = suite if isinstance(suite, Suite) else load_suite(suite)
        if suite_json(given) != resume["suite"]:
            raise UsageError(f"{path}: run {meta['run_id']} was started from a different suite than "
                             f"{given.path} (its cases or settings differ); resume without naming a suite, "
                             f"or start a new run")
    try:
        check_options(stored, options)
    except UsageError as exc:
        raise UsageError(f"{path}: cannot resume: its stored options are not valid ({exc})") from None
    names = set(column_names())
    rows = [{k: v for k, v in row.items() if k in names} for row in table.to_pylist()]
    return ResumePlan(stored, options, rows, meta)


def _done_key(row: dict) -> tuple:
    """What identifies a row of a run: (repeat, case, backend, variant, threads, cache, pages)."""
    return (row.get("repeat") or 0, row["case"], row["backend"], row["variant"], row["threads"],
            row.get("cache") or "hot", row.get("pages") or "huge")


def _check_files_unchanged(path: Path, suite: Suite) -> None:
    """The weights and inputs a run read must be the very files it started with (SHA-256)."""
    from gemmbench.cases.arrayfile import changed
    from gemmbench.cases.workload import op_of

    for suite_case in suite.cases:
        for ref in op_of(suite_case.case).files(suite_case.case.spec):
            problem = changed(ref)
            if problem:
                raise UsageError(f"{path}: cannot resume: {problem}; start a new run")


def _check_same_cpu(path: Path, rows: list[dict], machine: Machine) -> None:
    """One run, one kind of machine: its rows must stay comparable with each other."""
    for row in rows[:1]:
        if row["feature_key"] != machine.feature_key:
            raise UsageError(f"{path}: measured on another CPU ({row['feature_key']}; this one is "
                             f"{machine.feature_key}); resume a run on the kind of machine it started on")


def _execute(suite: Suite, options: RunOptions, machine: Machine, results: ResultsFile,
             done: frozenset[tuple]) -> RunOutcome:
    show = Progress(sys.stderr, options.progress, total=len(suite.cases) * options.repeat, unit="cases")
    with interrupts.catching():
        try:
            roof = _roofline(options, results)
            results.extra["plots"] = _plot_kinds(suite)
            if machine.cpu_simulation:
                results.extra["cpu_simulation"] = {"hidden": machine.cpu_simulation,
                                                   "worker_environment": _settings(options).environment}
            choice = _choose_cpus(suite, options, results, show)
            if options.check:
                from gemmbench.stats.noise import observe

                show.begin("checking how noisy the machine is")
                show.begin("checking how noisy the machine is")
                results.extra["noise_check"] = observe(choice.cpus[0], RUN_CHECK_SECONDS, choice).as_dict()
            settings = replace(_settings(options), cpus=list(choice.cpus), ops=frozenset(c.case.op for c in suite.cases),
                               memory_limit=_worker_memory_limit(options, _workers_of(suite, options)))
            for repeat in range(options.repeat):
                supervisor = Supervisor(settings, on_begin=show.begin)
                results.extra["round_seed"] = options.seed
                try:
                    for suite_case in suite.cases:
                        _run_case(suite_case, repeat, supervisor, options, machine, results, done, roof, show)
                finally:
                    supervisor.close()
                    results.extra["builds"] = {**supervisor.builds, **results.extra.get("builds", {})}
        except KeyboardInterrupt as exc:
            show.close()
            results.close(complete=False)
            signum = exc.signum if isinstance(exc, RunInterrupted) else signal.SIGINT
            raise RunInterrupted(signum, RunOutcome(results.path, results.rows, complete=False,
                                                    noise=_noise(results))) from None
        show.close()
        results.close(complete=True)
    return RunOutcome(results.path, results.rows, noise=_noise(results))


def _noise(results: ResultsFile) -> Check | None:
    check = results.extra.get("noise_check")
    return Check.from_dict(check) if check else None


def _plot_kinds(suite: Suite) -> list[dict]:
    """The plot kinds of the suite's ops, kept in the file: a report of it asks no registry for them."""
    ops = dict.fromkeys(suite_case.case.op for suite_case in suite.cases)
    return [asdict(kind) for op in ops for kind in registry.ops.get(op).plots]


def _workers_of(suite: Suite, options: RunOptions) -> int:
    """How many workers the run has alive at its end: one per group (the supervisor keeps each)."""
    from gemmbench.measure.cpus import allowed

    cpus = len(allowed())
    return len({group for suite_case in suite.cases for group in _groups_of(suite_case, options)
                if group.threads <= cpus})


def _worker_memory_limit(options: RunOptions, workers: int) -> int | None:
    """Each worker's limit: the one given, else (SHARED) an even share of the machine's budget."""
    if options.memory_limit == SHARED:
        return default_worker_memory_limit() // max(1, workers)
    return options.memory_limit
def _choose_cpus(suite: Suite, options: RunOptions, results: ResultsFile, show: Progress):
    """The CPUs to measure on (gemmbench.measure.cpus), kept in the file; said at once when all are busy."""
    from gemmbench.measure import cpus

    show.begin("choosing the CPU to measure on")
    choice = cpus.choose(options.cpus or suite.cpus)
    results.extra["cpu_choice"] = choice.as_dict()
    if choice.warning():
        show.note(f"warning: {choice.warning()}")
    return choice


def _settings(options: RunOptions) -> Settings:
    from gemmbench.machine.fingerprint import simulation_environment
    from gemmbench.measure.cpus import allowed

    return Settings(cpus=allowed(), memory_limit=options.memory_limit, startup_timeout=options.startup_timeout,
                    timeout=options.timeout, seed=options.seed, registrations=registry.backends.registered_targets(),
                    op_registrations=registry.ops.registered_targets(),
                    method_registrations=registry.methods.registered_targets(), environment=simulation_environment(),
                    metric=options.metric)


def _roofline(options: RunOptions, results: ResultsFile):
    """The machine's roof the rows are measured against (kept in the file), or None without --roofline."""
    if not options.roofline:
        return None
    from gemmbench.machine import roofline

    roof = roofline.load_or_measure()
    results.extra["roofline"] = json.loads(roof.to_json())
    return roof


def _run_case(suite_case: SuiteCase, repeat: int, supervisor: Supervisor, options: RunOptions, machine: Machine,
              results: ResultsFile, done: frozenset[tuple], roof, show: Progress) -> None:
    """Every row of one case, measured in interleaved rounds, written together."""
    case, cpus = suite_case.case, supervisor.settings.cpus
    groups, rows = [], []
    for group in _groups_of(suite_case, options):
        if group.threads > len(cpus):
            if (repeat, case.name, group.backend, "", group.threads, group.cache, group.pages) not in done:
                rows.append((group, not_run_row(case, "", "skipped",
                                                f"needs {group.threads} CPUs; this run may use {len(cpus)}")))
        else:
            groups.append(group)
    finished = {(g, v) for g in groups for (r, c, b, v, t, state, mode) in done
                if (r, c, b, t, state, mode) == (repeat, case.name, g.backend, g.threads, g.cache, g.pages)}
    slots = supervisor.measure_case(case, suite_case.timing, groups, finished, repeat)
    rows += [(slot.group, _row(case, slot, supervisor.resolution_ns)) for slot in slots]
    if roof is not None:
        from gemmbench.cases.workload import op_of

        for _, row in rows:
            if row.get("status") == "ok":
                row.update(op_of(case).roof(case, row, roof))
    now = dt.datetime.now(dt.timezone.utc)
    written = [{**row, **_common_columns(machine, results.info, group, supervisor.settings.worker_cpus(group.threads),
                                         repeat, options.metric), "timestamp": now}
               for group, row in rows]
    _pair(written, [r for r in results.rows if r["case"] == case.name and (r.get("repeat") or 0) == repeat])
    results.add(written)
    show.unit_done([row["status"] for row in written])


def _pair(rows: list[dict], earlier: list[dict]) -> None:
    """Each row's baseline and speed-up over it (gemmbench.stats.decide), stored so reading asks nothing;
    a resumed case's rows from before count as candidates for the baseline."""
    for row, columns in zip(rows, decide.pair(earlier + rows)[len(earlier):]):
        row.update(columns)


def _row(case, slot: Slot, resolution_ns: float) -> dict:
    started = {**slot.started, **(slot.failure or {}), "variant": slot.variant}
    if slot.counts is not None:
        return {**finished_row(case, started, Sampled([], []), dict(slot.finish or {}), resolution_ns), **slot.counts}
    if not slot.samples:
        return {**not_run_row(case, slot.variant, "error", ""), **started}
    sampled = Sampled(slot.samples, slot.rounds, slot.native or None, slot.cpu, slot.native_cpu, slot.placements,
                      slot.preempted, slot.marked)
    return finished_row(case, started, sampled, dict(slot.finish or {}), resolution_ns)
