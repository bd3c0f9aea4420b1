"""gemmbench run SUITE: measure every case x backend x variant x threads and write parquet."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from gemmbench.commands import add_progress_options
from gemmbench.errors import UsageError
from gemmbench.machine.fingerprint import WORKER_MEMORY_SHARE, physical_memory

# The runner (numpy, pyarrow, ...) is imported when a run starts, so the CLI itself starts fast.

NAME = "run"
HELP = "run a suite and write its results to a parquet file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", nargs="?", help="suite YAML file, or the name of a shipped suite (gemmbench list shows them)")
    parser.add_argument("-o", "--out", default="results", type=Path,
                        help="directory for the results file (default: results/)")
    parser.add_argument("-b", "--backend", action="append", default=None, metavar="NAME[:VARIANT]",
                        help="run only these backends (repeat or comma-separate); replaces the suite's list")
    parser.add_argument("-t", "--threads", default=None, metavar="N[,N...]",
                        help="thread counts to run; replaces the suite's")
    parser.add_argument("--isa", default=None, metavar="LEVEL[,LEVEL...]",
                        help="ISA levels of ISA-specific variants: one level caps (avx2 runs scalar and avx2), "
                             "a comma list runs exactly those (scalar,avx2,avx512,avx512vnni)")
    parser.add_argument("--roofline", action="store_true",
                        help="add each row's attainable bound (roof_gflops, roof_pct) from this machine's "
                             "roofline, measured once and cached (see gemmbench roofline)")
    parser.add_argument("--timeout", default=None, type=float, metavar="SECONDS",
                        help="seconds a row may take, prepare included, before its worker is killed and the row "
                             "is a timeout; replaces every case's (default: the suite's, else 60)")
    parser.add_argument("--memory-limit", default=None, metavar="SIZE",
                        help="address space each worker may use, e.g. 8G, 512M, 50%% (of physical memory) or "
                             f"none; a backend that needs more gets an error or crashed row (default: "
                             f"{WORKER_MEMORY_SHARE * 100:.0f}%% of physical memory shared evenly among the run's "
                             f"workers, one per backend, thread count and variant choice)")
    parser.add_argument("--repeat", default=1, type=int, metavar="N",
                        help="measure the whole suite N times, each in fresh worker processes, into one file "
                             "(rows carry a repeat column); compare then tests on run-level figures")
    parser.add_argument("--cpus", default=None, metavar="N[,N...]",
                        help="measure on these CPUs, in this order (replaces the suite's cpus); default: the "
                             "least busy of those this run may use, chosen at its start")
    parser.add_argument("--cache", default=None, metavar="STATE[,STATE...]",
                        help="cache states to measure each row in (replaces the suite's): hot (calls back to "
                             "back), between (other layers' data read between calls), cold (weights pushed out "
                             "of the caches before each call)")
    parser.add_argument("--pages", default=None, metavar="PAGES[,PAGES...]",
                        help="pages the large arrays sit on (replaces the suite's): huge (2 MiB, the default "
                             "where the machine gives them) or normal (as a plain malloc gets them)")
    parser.add_argument("--seed", default=None, type=int, metavar="N",
                        help="seed of the shuffled round order (default: a new one, recorded in the file)")
    parser.add_argument("--metric", default="time", choices=("time", "instructions"),
                        help="time the calls (default), or count their instructions under valgrind: deterministic "
                             "figures for CI on shared machines (slow; AVX-512 variants are unavailable under it)")
    parser.add_argument("--no-check", dest="check", action="store_false",
                        help="skip the short noise check (gemmbench check, about 0.3 s) a run starts with")
    parser.add_argument("--resume", default=None, metavar="RUN",
                        help="finish an interrupted run: its results file, or its run id under --out; rows "
                             "already saved are kept and only the missing ones run")
    add_progress_options(parser)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="list every row, skipped and unavailable ones too")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the path of the results file")
    parser.add_argument("--report", action="store_true",
                        help="then write the HTML report to reports/<results name>.html and print its path")


def _parse_selections(values: list[str] | None) -> tuple | None:
    from gemmbench.cases.suite import parse_selection

    if not values:
        return None
    selections = []
    for value in values:
        selections.extend(parse_selection(item) for item in value.split(",") if item.strip())
    return tuple(selections) or None


def _parse_threads(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        threads = tuple(int(part) for part in value.split(","))
    except ValueError:
        threads = ()
    if not threads or min(threads) <= 0:
        raise UsageError(f"--threads: expected positive integers like 1 or 1,2; got {value!r}")
    return threads


def _parse_cpus(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        cpus = tuple(dict.fromkeys(int(part) for part in value.split(",")))
    except ValueError:
        cpus = ()
    if not cpus or min(cpus) < 0:
        raise UsageError(f"--cpus: expected CPU numbers like 1 or 0,1; got {value!r}")
    return cpus


def _parse_choices(option: str, value: str | None, allowed: tuple[str, ...]) -> tuple[str, ...] | None:
    """'cold' or 'hot,cold' from `allowed`; None when not given."""
    if value is None:
        return None
    chosen = tuple(dict.fromkeys(part.strip() for part in value.split(",")))
    if not chosen or any(part not in allowed for part in chosen):
        raise UsageError(f"{option}: expected one or more of {', '.join(allowed)} (comma-separated); got {value!r}")
    return chosen


def _parse_memory_limit(value: str | None) -> int | str | None:
    """'8G', '512M', '1.5GiB', '50%' (of physical memory) or 'none'; None gives the default (shared)."""
    from gemmbench.measure.runner import SHARED

    if value is None:
        return SHARED
    text = value.strip().lower()
    if text in ("none", "unlimited"):
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(%|[kmgt]?)(?:i?b)?", text)
    if match:
        number, unit = float(match[1]), match[2]
        limit = physical_memory() * number / 100 if unit == "%" else number * 1024 ** " kmgt".index(unit or " ")
        if limit >= 1 << 20:
            return int(limit)
    raise UsageError(f"--memory-limit: expected a size like 8G, 512M or 50%, or 'none' (at least 1M); "
                     f"got {value!r}")


def summary(rows: list[dict], every_row: bool = False) -> str:
    """The tables a run ends with (gemmbench.report.summary), for the terminal."""
    from gemmbench.report.summary import summary as tables
    from gemmbench.report.text import text

    return "\n\n".join(text(table) for table in tables(rows, every_row))


RESUME_KEEPS = ("backend", "threads", "isa", "roofline", "timeout", "memory_limit", "seed", "cpus", "cache",
                "pages")  # --metric too, below


def run(args: argparse.Namespace) -> int:
    from gemmbench.measure.interrupts import RunInterrupted, ignore_all

    try:
        outcome = _resume(args) if args.resume else _start(args)
    except RunInterrupted as stop:
        ignore_all()  # a second Ctrl-C must not cut the report short, nor kill us on exit
        if stop.outcome is None:
            raise
        _print_outcome(stop.outcome, args.quiet, f"partial results ({stop}): ", args.verbose)
        print(f"gemmbench: {stop}; {len(stop.outcome.rows)} completed rows are saved in "
              f"{stop.outcome.path}, marked partial; finish with: gemmbench run --resume {stop.outcome.path}",
              file=sys.stderr)
        return 128 + stop.signum
    _print_outcome(outcome, args.quiet, "results: ", args.verbose)
    if args.report:
        _render_report(outcome, args.quiet)
    elif not args.quiet:
        print(f"next: gemmbench report {outcome.path}")
    return outcome.exit_status


def _start(args: argparse.Namespace):
    from gemmbench.cases.suite import load_suite
    from gemmbench.measure.runner import RunOptions, run_suite

    if args.suite is None:
        raise UsageError("run: give a SUITE to run, or --resume RUN to finish an interrupted run")
    from gemmbench.measure import cache, pages

    options = RunOptions(out_dir=args.out, backends=_parse_selections(args.backend),
                         threads=_parse_threads(args.threads), isa=args.isa, roofline=args.roofline,
                         progress=args.progress,
                         timeout=args.timeout, memory_limit=_parse_memory_limit(args.memory_limit),
                         repeat=args.repeat, seed=args.seed, check=args.check, metric=args.metric,
                         cpus=_parse_cpus(args.cpus), cache=_parse_choices("--cache", args.cache, cache.STATES),
                         pages=_parse_choices("--pages", args.pages, pages.MODES))
    return run_suite(load_suite(args.suite), options)


def _resume(args: argparse.Namespace):
    given = [f"--{name.replace('_', '-')}" for name in RESUME_KEEPS if getattr(args, name) not in (None, False)]
    if given:
        raise UsageError(f"--resume continues a run with the options it started with; drop {', '.join(given)}")
    from gemmbench.measure.runner import resume_run

    return resume_run(args.resume, args.out, args.suite, args.progress)


def _print_outcome(outcome, quiet: bool, label: str, verbose: bool = False) -> None:
    if not quiet:
        print(summary(outcome.rows, verbose))
        print()
        if outcome.noise is not None and outcome.noise.noisy:
            print(outcome.noise.warning())
        if outcome.kept:
            print(f"resumed: {outcome.kept} rows were in the file already; {len(outcome.rows) - outcome.kept} "
                  f"measured now")
        from gemmbench.data.results import FAILED_STATUSES

        failed = sum(row["status"] in FAILED_STATUSES for row in outcome.rows)
        print(f"{len(outcome.rows)} rows, {failed} failed; {label}", end="")
    print(outcome.path)


def _render_report(outcome, quiet: bool) -> None:
    from gemmbench.report.html import write_report

    print(("" if quiet else "report: ") + str(write_report([outcome.path])))
