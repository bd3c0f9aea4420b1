"""gemmbench compare BASE NEW: which rows got slower, faster, broke or were fixed; exit 1 on a regression."""

from __future__ import annotations

import argparse
import json
import sys

from gemmbench.errors import UsageError

# scipy, pandas and pyarrow load when a comparison runs, not when the CLI starts.

NAME = "compare"
HELP = "compare two result sets (files or directories); exit 1 when a row regressed significantly"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="baseline results: a parquet file or a directory of them")
    parser.add_argument("new", help="new results: a parquet file or a directory of them")
    parser.add_argument("--threshold", type=float, default=0.05,
                        help="smallest change of the median that counts, as a fraction (default: 0.05)")
    parser.add_argument("--alpha", type=float, default=0.01,
                        help="significance level of the Mann-Whitney U test (default: 0.01)")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                        help="text for a terminal, markdown for a CI job summary, json for machines")
    parser.add_argument("--baseline", default=None, metavar="BACKEND[:VARIANT]",
                        help="the backend each row is paired with round by round within its run (default: numpy)")
    parser.add_argument("--drift-threshold", type=float, default=None, metavar="FRACTION",
                        help="the change a row's own time must pass when it is judged within one run only (no "
                             "pairing, no repeats): between-run drift hides below it (default: 0.5)")
    parser.add_argument("--all-runs", action="store_true",
                        help="use every run given on a side as a run-level sample (default: each row's newest "
                             "run, all its repeats)")
    parser.add_argument("--any-machine", action="store_true",
                        help="pair and gate rows whatever CPU feature key they have: for instruction counts "
                             "(run --metric instructions), the same on any x86-64 host with the same versions")
    parser.add_argument("--ignore-suite", action="store_true",
                        help="pair rows whatever suite they came from (your own suite against a shipped run)")
    parser.add_argument("--require-gated", action="store_true",
                        help="exit 3 when no pair was gated (every pair cross-machine, untimed or set aside for "
                             "changed dependencies, as when BASE comes from another CPU), so a CI gate cannot pass "
                             "on nothing")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="list every pair, unchanged and not timed ones too, and every unpaired row")


def run(args: argparse.Namespace) -> int:
    if not args.threshold >= 0:
        raise UsageError(f"--threshold: expected a fraction >= 0 such as 0.05; got {args.threshold}")
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha: expected a probability between 0 and 1 such as 0.01; got {args.alpha}")
    from gemmbench.data.results import load_results
    from gemmbench.report.comparison import as_json, as_text, mismatch_text
    from gemmbench.stats.compare import DRIFT_THRESHOLD, NOTHING_GATED, compare_frames, suite_mismatch
    from gemmbench.stats.decide import DEFAULT_BASELINE

    drift = DRIFT_THRESHOLD if args.drift_threshold is None else args.drift_threshold
    comparison = compare_frames(load_results(args.base), load_results(args.new), args.threshold, args.alpha,
                                args.ignore_suite, args.baseline or DEFAULT_BASELINE, args.all_runs, drift,
                                args.any_machine)
    mismatch = None if args.ignore_suite else suite_mismatch(comparison)
    if not comparison.pairs and not comparison.cross_machine:
        hint = f"; {mismatch_text(mismatch)}" if mismatch else ""
        raise UsageError(f"{args.base} and {args.new}: no row matches on suite, case, backend, variant, dtype, "
                         f"op, shape and threads; nothing to compare{hint}")
    status = comparison.status(args.require_gated)
    if args.format == "json":
        print(json.dumps({**as_json(comparison, args.base, args.new), "exit_status": status}, indent=2))
    else:
        text = as_text(comparison, args.base, args.new, as_markdown=args.format == "markdown", verbose=args.verbose)
        print(text + (f"\n{mismatch_text(mismatch)}" if mismatch else ""))
    if status == NOTHING_GATED:
        print(f"gemmbench: nothing gated: {comparison.nothing_gated()}; --require-gated refuses that "
              f"(exit {NOTHING_GATED})", file=sys.stderr)
    return status
