"""gemmbench report RESULTS...: one self-contained HTML file with every plot and table."""

from __future__ import annotations

import argparse

from gemmbench.report import DEFAULT_BASELINE

NAME = "report"
HELP = "write a self-contained HTML report (plots, tables, warnings) of results files or directories"


def add_baseline(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, metavar="BACKEND[:VARIANT]",
                        help=f"backend the speed-ups are measured against (default: {DEFAULT_BASELINE})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", help="parquet results files, or directories searched for them")
    parser.add_argument("-o", "--out", default=None,
                        help="HTML file to write (default: reports/<results name>.html)")
    add_baseline(parser)
    parser.add_argument("--title", default=None, help="the report's title (default: names the suites)")


def run(args: argparse.Namespace) -> int:
    from gemmbench.report.html import write_report

    print(write_report(args.results, args.out, args.baseline, args.title))
    return 0
