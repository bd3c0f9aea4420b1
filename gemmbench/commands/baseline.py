"""gemmbench baseline RESULTS: the committed baseline directory of the machine RESULTS come from."""

from __future__ import annotations

import argparse
import sys

NAME = "baseline"
HELP = ("print the baseline directory for one machine's results (the directory named by their feature "
        "key); exit 1 when there is none")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="one machine's results: a file, or a directory such as fleet/feature_key=KEY")
    parser.add_argument("--root", default="results/baseline", metavar="DIR",
                        help="where baselines live, one directory per feature key (default: results/baseline)")


def run(args: argparse.Namespace) -> int:
    from gemmbench.data.baseline import find

    found = find(args.results, args.root)
    if found is None:
        print(f"gemmbench: no baseline for {args.results} under {args.root}", file=sys.stderr)
        return 1
    print(found)
    return 0
