"""gemmbench check: is this machine quiet enough to measure on, and what would make it quieter."""

from __future__ import annotations

import argparse
import json

from gemmbench.textable import render

NAME = "check"
HELP = "diagnose noise before a run: load, CPU steal, busy processes, governor/turbo, SMT, a calibration loop"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpu", type=int, default=None, help="CPU to run the calibration loop on "
                                                              "(default: the one single-threaded rows use)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def describe(check) -> str:
    """The check as a table, its verdict and what to change."""
    rows = [[f.name, f.value, "noisy" if f.noisy else "ok"] for f in check.findings]
    lines = [render(["what", "seen", ""], rows), "", f"verdict: {check.verdict}"]
    lines += [f"  - {advice}" for advice in dict.fromkeys(check.advice())]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from gemmbench.noise import observe

    check = observe(args.cpu)
    print(json.dumps(check.as_dict(), indent=2) if args.json else describe(check))
    return 0
