"""gemmbench report RESULTS...: one self-contained HTML file with every plot and table."""

from __future__ import annotations

import argparse

from gemmbench.commands import add_progress_options
from gemmbench.stats.decide import DEFAULT_BASELINE

NAME = "report"
HELP = "write a self-contained HTML report (plots, tables, warnings) of results files or directories"


def add_row_options(parser: argparse.ArgumentParser) -> None:
    """--baseline and the row filters, shared by report and plot."""
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, metavar="BACKEND[:VARIANT]",
                        help=f"backend the speed-ups are measured against (default: {DEFAULT_BASELINE})")
    parser.add_argument("--case", action="append", default=None, metavar="PATTERN",
                        help="show only cases named so, or matching a shell pattern such as 'gru_a_*' "
                             "(repeat or comma-separate)")
    parser.add_argument("--backend", action="append", default=None, metavar="NAME[:VARIANT]",
                        help="show only these backends (repeat or comma-separate); the baseline's rows stay")


def row_filter(args: argparse.Namespace):
    from gemmbench.report.select import RowFilter, parse_list

    return RowFilter(parse_list(args.case), parse_list(args.backend))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", help="parquet results files, or directories searched for them")
    parser.add_argument("-o", "--out", default=None,
                        help="HTML file to write (default: reports/<results name>.html)")
    add_row_options(parser)
    parser.add_argument("--title", default=None, help="the report's title (default: names the suites)")
    parser.add_argument("--cache", default=None, choices=("hot", "between", "cold"),
                        help="the cache state the decision table holds for (default: hot where measured)")
    parser.add_argument("--pages", default=None, choices=("huge", "normal"),
                        help="the pages the decision table holds for (default: huge where measured)")
    parser.add_argument("--samples", action="store_true",
                        help="draw every sample of every row, and the reference-only rows in the plots "
                             "(a larger, slower report; by default the tables summarise the samples)")
    add_progress_options(parser)


def run(args: argparse.Namespace) -> int:
    from gemmbench.report.html import write_report
    from gemmbench.stats.decide import Conditions

    conditions = None
    if args.cache or args.pages:
        conditions = Conditions(args.cache or "hot", args.pages or "huge")
    print(write_report(args.results, args.out, args.baseline, args.title, row_filter(args), args.samples,
                       args.progress, conditions))
    return 0
