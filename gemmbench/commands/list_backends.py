"""gemmbench list: backends with their availability and variants, and the shipped suites."""

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
    from gemmbench.machine.fingerprint import cpu_flags, simulation

    simulated = simulation()
    if simulated is not None:
        print(f"simulated CPU: {simulated.describe()}")
        print()
    flags = cpu_flags()
    rows = []
    for name in registry.backends.names():
        status = registry.status(name)
        state = "available" if status.available else "unavailable"
        rows.append([name, state, _variants(name, status, flags), status.reason or status.target])
    print(render(["backend", "status", "variants", "reason / source"], rows))
    if any(LACKING in row[2] for row in rows):
        print(f"{LACKING} this CPU lacks a flag the variant needs: a run records it as unavailable")
    print()
    from gemmbench.cases.suite import shipped_suites

    suites = shipped_suites()
    print("shipped suites: " + (", ".join(sorted(suites)) if suites else "none"))
    return 0


def _variants(name: str, status: registry.BackendStatus, flags: frozenset[str]) -> str:
    if not status.available:
        return ", ".join(status.variants)
    backend = registry.backends.get(name)
    lacking = {v.name for v in backend.variants() if not backend.variant_available(v, flags)[0]}
    return ", ".join(v + (LACKING if v in lacking else "") for v in status.variants)
