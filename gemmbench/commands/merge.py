"""gemmbench merge RESULTS... --into DIR: one Hive-partitioned dataset from many machines' runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from gemmbench.report.textable import render

NAME = "merge"
HELP = "merge result files or directories into a dataset partitioned by feature_key and date"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", help="results files or directories of them")
    parser.add_argument("--into", required=True, type=Path, metavar="DIR",
                        help="dataset directory: DIR/feature_key=.../date=.../part-<run_id>.parquet")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the closing line")


def run(args: argparse.Namespace) -> int:
    from gemmbench.data.merge import merge_results

    written = merge_results(args.results, args.into)
    if not args.quiet:
        rows = [[w.part.run_id, w.part.feature_key, w.part.date, str(w.part.table.num_rows),
                 "" if w.part.complete else "partial", w.action] for w in written]
        print(render(["run", "feature key", "date", "rows", "", "action"], rows, right={3}))
        print()
    actions = {action: sum(w.action == action for w in written) for action in ("added", "replaced", "unchanged")}
    print(f"{len(written)} run file(s) in {args.into}: "
          + ", ".join(f"{n} {action}" for action, n in actions.items()))
    return 0
