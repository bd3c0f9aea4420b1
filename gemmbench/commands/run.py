"""gemmbench run SUITE: measure every case x backend x variant x threads and write parquet."""

from __future__ import annotations

import argparse
from pathlib import Path

from gemmbench.errors import UsageError
from gemmbench.runner import RunOptions, run_suite
from gemmbench.suite import Selection, load_suite
from gemmbench.textable import duration, number, render

NAME = "run"
HELP = "run a suite and write its results to a parquet file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", help="suite YAML file, or the name of a shipped suite (gru384, quick)")
    parser.add_argument("-o", "--out", default="results", type=Path,
                        help="directory for the results file (default: results/)")
    parser.add_argument("-b", "--backend", action="append", default=None, metavar="NAME[:VARIANT]",
                        help="run only these backends (repeat or comma-separate); replaces the suite's list")
    parser.add_argument("-t", "--threads", default=None, metavar="N[,N...]",
                        help="thread counts to run; replaces the suite's")
    parser.add_argument("--isa", default=None, metavar="LEVEL[,LEVEL...]",
                        help="ISA levels of ISA-specific variants: one level caps (avx2 runs scalar and avx2), "
                             "a comma list runs exactly those (scalar,avx2,avx512,avx512vnni)")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="show progress even when stderr is not a terminal")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the path of the results file")
    parser.add_argument("--report", action="store_true",
                        help="then write the HTML report to reports/<results name>.html and print its path")


def parse_selections(values: list[str] | None) -> tuple[Selection, ...] | None:
    if not values:
        return None
    selections = []
    for value in values:
        for item in filter(None, (part.strip() for part in value.split(","))):
            backend, _, variant = item.partition(":")
            selections.append(Selection(backend, variant or None))
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


def summary(rows: list[dict]) -> str:
    headers = ["case", "backend:variant", "thr", "status", "median", "native", "GFLOP/s", "rel_err", "note"]
    body = []
    for row in rows:
        note = row.get("message") or ("noisy (cv %.0f%%)" % (100 * row["cv"]) if row.get("noisy") else "")
        body.append([row["case"], f"{row['backend']}:{row['variant']}", str(row["threads"]), row["status"],
                     duration(row.get("median_ns")), duration(row.get("native_median_ns")),
                     number(row.get("gflops"), ".1f"), number(row.get("rel_err"), ".1e"), note[:70]])
    return render(headers, body, right={2, 4, 5, 6, 7})


def run(args: argparse.Namespace) -> int:
    options = RunOptions(out_dir=args.out, backends=parse_selections(args.backend),
                         threads=parse_threads(args.threads), isa=args.isa, progress=args.progress)
    outcome = run_suite(load_suite(args.suite), options)
    if not args.quiet:
        print(summary(outcome.rows))
        print()
        failed = sum(row["status"] not in ("ok", "unavailable", "skipped") for row in outcome.rows)
        print(f"{len(outcome.rows)} rows, {failed} failed; results: ", end="")
    print(outcome.path)
    if args.report:
        from gemmbench.report.html import write_report

        print(("" if args.quiet else "report: ") + str(write_report([outcome.path])))
    return outcome.exit_status
