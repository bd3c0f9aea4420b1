"""gemmbench list: backends with their availability and variants (their methods' included), and the shipped suites."""

from __future__ import annotations

import argparse

from gemmbench import registry
from gemmbench.report.textable import render

NAME = "list"
HELP = "list backends (available or why not, variants this CPU can run) and shipped suites"
LACKING = "*"  # marks a variant the CPU (real or simulated) lacks a flag for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from gemmbench.machine.fingerprint import simulation
    from gemmbench.measure import probe

    simulated = simulation()
    if simulated is not None:
        print(f"simulated CPU: {simulated.describe()}")
        print()
    rows = []
    statuses = probe.statuses()  # asked of a child process: no plugin code runs here
    for name, status in statuses.items():
        state = "available" if status.available else "unavailable"
        rows.append([name, state, _variants(status), status.reason or status.target])
    print(render(["backend", "status", "variants", "reason / source"], rows))
    if any(LACKING in row[2] for row in rows):
        print(f"{LACKING} this CPU lacks a flag the variant needs: a run records it as unavailable")
    problems = list(dict.fromkeys(problem for status in statuses.values() for problem in status.method_problems))
    if problems:
        print("\nmethods not offered:\n" + "\n".join(f"  {problem}" for problem in problems))
    print()
    from gemmbench.cases.suite import shipped_suites

    suites = shipped_suites()
    print("shipped suites: " + (", ".join(sorted(suites)) if suites else "none"))
    return 0


def _variants(status: registry.BackendStatus) -> str:
    return ", ".join(v + (LACKING if v in status.lacking else "") for v in status.variants)
