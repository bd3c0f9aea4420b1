"""gemmbench run SUITE: measure every case x backend x variant x threads and write parquet."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from gemmbench.commands import add_progress_options
from gemmbench.errors import UsageError
from gemmbench.machine.fingerprint import WORKER_MEMORY_SHARE, default_worker_memory_limit, physical_memory
from gemmbench.report.textable import duration, is_missing, number, render

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
                             f"{WORKER_MEMORY_SHARE * 100:.0f}%% of physical memory)")
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


def parse_selections(values: list[str] | None) -> tuple | None:
    from gemmbench.cases.suite import parse_selection

    if not values:
        return None
    selections = []
    for value in values:
        selections.extend(parse_selection(item) for item in value.split(",") if item.strip())
    return tuple(selections) or None


def parse_threads(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        threads = tuple(int(part) for part in value.split(","))
    except ValueError:
        threads = ()
    if not threads or min(threads) <= 0:
        raise UsageError(f"--threads: expected positive integers like 1 or 1,2; got {value!r}")
    return threads


def parse_cpus(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        cpus = tuple(dict.fromkeys(int(part) for part in value.split(",")))
    except ValueError:
        cpus = ()
    if not cpus or min(cpus) < 0:
        raise UsageError(f"--cpus: expected CPU numbers like 1 or 0,1; got {value!r}")
    return cpus


def parse_choices(option: str, value: str | None, allowed: tuple[str, ...]) -> tuple[str, ...] | None:
    """'cold' or 'hot,cold' from `allowed`; None when not given."""
    if value is None:
        return None
    chosen = tuple(dict.fromkeys(part.strip() for part in value.split(",")))
    if not chosen or any(part not in allowed for part in chosen):
        raise UsageError(f"{option}: expected one or more of {', '.join(allowed)} (comma-separated); got {value!r}")
    return chosen


def parse_memory_limit(value: str | None) -> int | None:
    """'8G', '512M', '1.5GiB', '50%' (of physical memory) or 'none'; None gives the default."""
    if value is None:
        return default_worker_memory_limit()
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
    """Failures first, then the decision table, then what did not run; `every_row` lists all rows first."""
    from gemmbench.stats.decide import decide
    from gemmbench.data.results import FAILED_STATUSES

    failed = [row for row in rows if row["status"] in FAILED_STATUSES]
    parts = []
    if every_row:
        parts.append(row_table(rows))
    elif failed:
        parts.append(f"FAILED: {len(failed)} row{'s' if len(failed) != 1 else ''}\n" + failure_table(failed))
    counted = [row for row in rows if row.get("metric") == "instructions" and row["status"] == "ok"]
    decision = decide(rows)
    parts.append(counts_table(counted) if counted else decision_text(decision))
    if not counted:
        parts += conditions_text(rows, decision)
    if not every_row:
        parts.append(_not_run(rows))
    parts.append(sample_notes(rows))
    return "\n\n".join(part for part in parts if part)


def conditions_text(rows: list[dict], decision) -> list[str]:
    """The decision's choices under the other cache states and pages measured, and vocoder steps'
    GRU-A products beside the same product measured alone."""
    from gemmbench.report import conditions

    chosen = {(c.case, c.series) for c in decision.choices}
    chosen |= {(row["case"], f"{row['backend']}:{row['variant']}") for row in rows
               if row["backend"] == decision.baseline}
    return [conditions.text(conditions.cache_table(rows, chosen),
                            f"the best rows and {decision.baseline} in each cache state measured (native time "
                            f"where measured):"),
            conditions.text(conditions.pages_table(rows, chosen),
                            f"the best rows and {decision.baseline} on 2 MiB and on 4 KiB pages:"),
            conditions.text(conditions.step_table(rows),
                            "GRU-A's product in the vocoder step beside the same product measured alone:")]


def sample_notes(rows: list[dict]) -> str:
    """What the samples' own checks found: preempted samples, noisy rows, placement spread; what each means."""
    from gemmbench.measure.timing import NOISY_SPREAD, PLACEMENT_NOTE

    timed = [row for row in rows if row["status"] == "ok" and row.get("samples_ns") is not None]
    lines = []
    preempted = sum(int(row.get("preempted_samples") or 0) for row in timed)
    if preempted:
        marked = sum(len(row.get("preempted_rounds") or ()) for row in timed)
        lines.append(f"preempted samples: {preempted} (their thread was switched out), each taken again"
                     + (f"; {marked} kept after the retakes ran out, marked (preempted_rounds) and left out of "
                        f"the noise figure" if marked else ""))
    noisy = [row for row in timed if row.get("noisy")]
    if noisy:
        lines.append(f"noisy: {len(noisy)} of {len(timed)} timed rows spread more than a quiet machine's "
                     f"(half their samples further than {100 * NOISY_SPREAD:.0f}% from their placement's median, preempted "
                     f"samples left out): their intervals "
                     f"are wider; rerun on a quieter machine, or --repeat to see the spread between runs")
    spread = [row for row in timed if (row.get("placement_spread") or 0) > PLACEMENT_NOTE]
    if spread:
        lines.append(f"placement spread: on {len(spread)} rows the copies of the data on different pages differ "
                     f"by more than {100 * PLACEMENT_NOTE:.0f}% (the cache placement, not noise; the median is over "
                     f"them: docs/measurement.md, Placements)")
    return "\n".join(lines)


def case_order(rows: list[dict]) -> dict[str, int]:
    """Each case's position: where its first row is."""
    return {case: i for i, case in reversed(list(enumerate(row["case"] for row in rows)))}


def row_table(rows: list[dict]) -> str:
    """Every given row by case, in the order the cases first appear."""
    order = case_order(rows)
    shown = sorted(rows, key=lambda row: order[row["case"]])
    headers = ["case", "backend:variant", "thr", "status", "median", "native", "GFLOP/s", "rel_err", "note"]
    body = []
    for row in shown:
        note = row.get("message") or (f"noisy ({100 * row['sample_spread']:.0f}% spread; wider interval)"
                                      if row.get("noisy") else "")
        body.append([row["case"], f"{row['backend']}:{row['variant']}", str(row["threads"]), row["status"],
                     duration(row.get("median_ns")), duration(row.get("native_median_ns")),
                     number(row.get("gflops"), ".1f"), number(row.get("rel_err"), ".1e"), note[:70]])
    return render(headers, body, right={2, 4, 5, 6, 7}) if body else "no row was measured"


def counts_table(rows: list[dict]) -> str:
    """Instruction-count rows (run --metric instructions): per call, fewest first within each case."""
    order = case_order(rows)
    shown = sorted(rows, key=lambda row: (order[row["case"]], row["instructions"]))
    headers = ["case", "backend:variant", "instructions", "est. cycles", "D1 misses", "LL misses"]
    body, previous = [], None
    for row in shown:
        body.append([row["case"] if row["case"] != previous else "", f"{row['backend']}:{row['variant']}",
                     number(row["instructions"], ",.0f"), number(row.get("est_cycles"), ",.0f"),
                     number(row.get("d1_misses"), ",.0f"), number(row.get("ll_misses"), ",.0f")])
        previous = row["case"]
    return ("instructions per call, counted under valgrind (deterministic; compare gates on them):\n"
            + render(headers, body, right={2, 3, 4, 5}))


def failure_table(rows: list[dict]) -> str:
    headers = ["case", "backend:variant", "thr", "status", "why"]
    body = [[row["case"], f"{row['backend']}:{row['variant']}", str(row["threads"]), row["status"],
             (row.get("message") or "")[:100]] for row in rows]
    return render(headers, body, right={2})


def decision_text(decision) -> str:
    """The decision table for a terminal: one line per case and precision, the case named once."""
    from gemmbench.stats.decide import INTERVAL_LEVEL

    if not decision.choices:
        return "best per case: no row was timed"
    headers = ["case", *(["thr"] if decision.several_threads else []), "precision", "best", "native",
               "Python call", *(["RTF"] if decision.has_rtf else []), "SNR dB",
               f"speed-up vs {decision.baseline} ({100 * INTERVAL_LEVEL:.0f}% interval)",
               *(["fastest from Python"] if decision.any_from_python else [])]
    body, previous = [], None
    for choice in decision.choices:
        group = (choice.run_id, choice.case, choice.threads)
        body.append([choice.case if group != previous else "",
                     *([str(choice.threads)] if decision.several_threads else []), choice.precision,
                     choice.series + (" *" if choice.fastest and _precisions(decision, group) > 1 else ""),
                     duration(choice.native_ns), duration(choice.python_ns),
                     *([number(choice.rtf, ".3g")] if decision.has_rtf else []), snr_text(choice.snr_db),
                     "baseline" if choice.is_baseline else choice.speedup.text() if choice.speedup else "",
                     *([choice.from_python] if decision.any_from_python else [])])
        previous = group
    right = {i for i, name in enumerate(headers) if name in ("thr", "native", "Python call", "RTF", "SNR dB")}
    lines = [f"best per case and precision, {decision.heading()} (verified rows; by native time where "
             "measured, else the Python call; * fastest of the case, for a vocoder calling it from C; 'fastest "
             "from Python' where a Python loop's winner is another):",
             render(headers, body, right=right)]
    if decision.folded:
        lines.append(f"reference only, never a choice: {decision.folded_text()} (-v lists them)")
    if decision.untimed:
        lines.append(f"no timed row: {', '.join(decision.untimed)}")
    return "\n".join(lines)


def _precisions(decision, group: tuple) -> int:
    return sum((c.run_id, c.case, c.threads) == group for c in decision.choices)


def snr_text(db: float) -> str:
    if is_missing(db):
        return ""
    return "exact" if db == float("inf") else f"{db:.1f}"


NOT_RUN = ("skipped", "unavailable")


def _not_run(rows: list[dict]) -> str:
    """One line per backend with rows that did not run: how many, and the most common reason."""
    lines = []
    for backend in dict.fromkeys(row["backend"] for row in rows):
        for status in NOT_RUN:
            messages = [row["message"] for row in rows if row["backend"] == backend and row["status"] == status]
            if messages:
                common = max(set(messages), key=messages.count)
                lines.append(f"  {backend}: {len(messages)} {status}, e.g. {common}")
    return "not run (-v lists every row):\n" + "\n".join(lines) if lines else ""


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
        print_outcome(stop.outcome, args.quiet, f"partial results ({stop}): ", args.verbose)
        print(f"gemmbench: {stop}; {len(stop.outcome.rows)} completed rows are saved in "
              f"{stop.outcome.path}, marked partial; finish with: gemmbench run --resume {stop.outcome.path}",
              file=sys.stderr)
        return 128 + stop.signum
    print_outcome(outcome, args.quiet, "results: ", args.verbose)
    if args.report:
        render_report(outcome, args.quiet)
    elif not args.quiet:
        print(f"next: gemmbench report {outcome.path}")
    return outcome.exit_status


def _start(args: argparse.Namespace):
    from gemmbench.measure.runner import RunOptions, run_suite
    from gemmbench.cases.suite import load_suite

    if args.suite is None:
        raise UsageError("run: give a SUITE to run, or --resume RUN to finish an interrupted run")
    from gemmbench.measure import cache, pages

    options = RunOptions(out_dir=args.out, backends=parse_selections(args.backend),
                         threads=parse_threads(args.threads), isa=args.isa, roofline=args.roofline,
                         progress=args.progress,
                         timeout=args.timeout, memory_limit=parse_memory_limit(args.memory_limit),
                         repeat=args.repeat, seed=args.seed, check=args.check, metric=args.metric,
                         cpus=parse_cpus(args.cpus), cache=parse_choices("--cache", args.cache, cache.STATES),
                         pages=parse_choices("--pages", args.pages, pages.MODES))
    return run_suite(load_suite(args.suite), options)


def _resume(args: argparse.Namespace):
    given = [f"--{name.replace('_', '-')}" for name in RESUME_KEEPS if getattr(args, name) not in (None, False)]
    if given:
        raise UsageError(f"--resume continues a run with the options it started with; drop {', '.join(given)}")
    from gemmbench.measure.runner import resume_run

    return resume_run(args.resume, args.out, args.suite, args.progress)


def print_outcome(outcome, quiet: bool, label: str, verbose: bool = False) -> None:
    if not quiet:
        print(summary(outcome.rows, verbose))
        print()
        warning = noise_warning(outcome.path)
        if warning:
            print(warning)
        if outcome.kept:
            print(f"resumed: {outcome.kept} rows were in the file already; {len(outcome.rows) - outcome.kept} "
                  f"measured now")
        from gemmbench.data.results import FAILED_STATUSES

        failed = sum(row["status"] in FAILED_STATUSES for row in outcome.rows)
        print(f"{len(outcome.rows)} rows, {failed} failed; {label}", end="")
    print(outcome.path)


def noise_warning(path) -> str:
    """A line when the run's own noise check found the machine noisy ('' when it was quiet or not checked)."""
    from gemmbench.data.results import read_metadata

    check = read_metadata(path).get("noise_check")
    if not check or check.get("verdict") == "quiet":
        return ""
    noisy = [f"{f['name']}: {f['value']}" + (f" ({f['affects']})" if f.get("affects") else "")
             for f in check["findings"] if f["noisy"]]
    return (f"warning: the machine looked {check['verdict']} when the run started ({'; '.join(noisy)}); "
            f"ratios paired by round hold better than single times; see gemmbench check for what to change")


def render_report(outcome, quiet: bool) -> None:
    from gemmbench.report.html import write_report

    print(("" if quiet else "report: ") + str(write_report([outcome.path])))
