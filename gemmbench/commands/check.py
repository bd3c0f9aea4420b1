"""gemmbench check: is this machine quiet enough to measure on, and what would make it quieter."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from gemmbench.report.textable import render

NAME = "check"
HELP = ("diagnose noise before a run: busy CPUs, CPU steal, busy processes, governor/turbo, SMT, a calibration "
        "loop and how many of its samples were preempted")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpu", type=int, default=None, help="CPU to run the calibration loop on "
                                                              "(default: the least busy, as a run chooses)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--levels", action="store_true",
                        help="also find where the variance lives: between samples of one process, between fresh "
                             "processes, across minutes (GRU-A on numpy and csimd, about a minute)")
    parser.add_argument("--processes", type=int, default=6, help="fresh processes per level with --levels (default 6)")
    parser.add_argument("--minutes", type=float, default=0.0,
                        help="with --levels, also spread the processes over this many minutes")


def describe(check) -> str:
    """The check as a table, its verdict and what to change."""
    rows = [[f.name, f.value, "noisy" if f.noisy else "ok"] for f in check.findings]
    lines = [render(["what", "seen", ""], rows), "", f"verdict: {check.verdict}"]
    lines += [f"  - {advice}" for advice in dict.fromkeys(check.advice())]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from gemmbench.stats.noise import observe

    check = observe(args.cpu)
    levels = _levels(args) if args.levels else []
    if args.json:
        print(json.dumps({**check.as_dict(), "levels": [asdict(level) for level in levels]}, indent=2))
        return 0
    print(describe(check))
    if levels:
        print("\nwhere the variance lives (coefficient of variation at each level; GRU-A 1152x384 float32):")
        print(render(["level", "n", "numpy", "csimd", "csimd/numpy paired"], [level.row() for level in levels],
                     right={1, 2, 3, 4}))
    return 0


def _levels(args: argparse.Namespace) -> list:
    import sys

    from gemmbench.stats.variance import measure_levels

    return measure_levels(processes=args.processes, minutes=args.minutes,
                          progress=lambda text: print(f"  {text}", file=sys.stderr))
