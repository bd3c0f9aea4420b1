"""gemmbench check: is this machine quiet enough to measure on, and what would make it quieter."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from gemmbench import defaults
from gemmbench.errors import UsageError
from gemmbench.report.textable import render
from gemmbench.stats.decide import DEFAULT_BASELINE

if TYPE_CHECKING:
    from gemmbench.cases.suite import Selection
    from gemmbench.stats.variance import Pair

NAME = "check"
HELP = ("diagnose noise before a run: busy CPUs, CPU steal, busy processes, governor/turbo, SMT, a calibration "
        "loop and how many of its samples were preempted")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpu", type=int, default=None, help="CPU to run the calibration loop on "
                                                              "(default: the least busy, as a run chooses)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--levels", action="store_true",
                        help="also find where the variance lives: between samples of one process, between fresh "
                             "processes, across minutes (GRU-A on --baseline and --kernel, about a minute)")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, metavar="BACKEND[:VARIANT]",
                        help=f"with --levels, the row the kernel is paired with (default: {DEFAULT_BASELINE})")
    parser.add_argument("--kernel", default=defaults.LEVELS_KERNEL, metavar="BACKEND[:VARIANT]",
                        help=f"with --levels, the row measured against the baseline (default: {defaults.LEVELS_KERNEL}); "
                             f"a backend alone stands for its float32 GEMV of the highest ISA level this CPU runs")
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

    pair = _pair(args) if args.levels else None  # bad choices are refused before anything is measured
    check = observe(args.cpu)
    levels = _levels(args, pair) if pair else []
    if args.json:
        chosen = {"baseline": str(pair.baseline), "kernel": str(pair.kernel)} if pair else {}
        print(json.dumps({**check.as_dict(), **chosen, "levels": [asdict(level) for level in levels]}, indent=2))
        return 0
    print(describe(check))
    if levels:
        base, kernel = str(pair.baseline), str(pair.kernel)
        print("\nwhere the variance lives (coefficient of variation at each level; GRU-A 1152x384 float32):")
        print(render(["level", "n", base, kernel, f"{kernel} / {base} paired"], [level.row() for level in levels],
                     right={1, 2, 3, 4}))
    return 0


def _levels(args: argparse.Namespace, pair: Pair) -> list:
    import sys

    from gemmbench.stats.variance import measure_levels

    return measure_levels(pair, processes=args.processes, minutes=args.minutes,
                          progress=lambda text: print(f"  {text}", file=sys.stderr))


def _pair(args: argparse.Namespace) -> Pair:
    from gemmbench.stats.variance import Pair

    return Pair(chosen_row(args.baseline, "--baseline"), chosen_row(args.kernel, "--kernel"))


def chosen_row(text: str, option: str) -> Selection:
    """BACKEND[:VARIANT] as a Selection with its variant: as given, else the backend's float32 GEMV
    variant of the highest ISA level this CPU runs (its first such variant when none names a level)."""
    from gemmbench.cases.fields import did_you_mean
    from gemmbench.cases.suite import Selection, parse_selection
    from gemmbench.machine import isa

    selection = parse_selection(text)
    runnable = _float32_gemv_variants(selection.backend, option)
    names = list(runnable)
    if selection.variant is not None:
        if selection.variant not in names:
            raise UsageError(f"{option}: {selection.backend} has no float32 GEMV variant '{selection.variant}' "
                             f"this CPU runs{did_you_mean(selection.variant, names)}; it has: {', '.join(names) or 'none'}")
        return selection
    if not runnable:
        raise UsageError(f"{option}: {selection.backend} has no float32 GEMV variant this CPU runs")
    best = max(runnable, key=lambda name: isa.rank(runnable[name]) if runnable[name] else -1)
    return Selection(selection.backend, best)


def _float32_gemv_variants(name: str, option: str) -> dict[str, str]:
    """The variants (name -> ISA level) of an installed, available backend that run a float32 GEMV on this CPU
    (real or simulated), asked of a child process: no backend's code runs here."""
    from gemmbench.commands import known_backend
    from gemmbench.measure import probe

    status = probe.status(known_backend(name, option))
    if not status.available:
        raise UsageError(f"{option}: backend '{name}' is unavailable: {status.reason}")
    levels = dict(zip(status.variants, status.isas))
    return {variant: levels.get(variant, "") for variant in status.plain_gemv}
