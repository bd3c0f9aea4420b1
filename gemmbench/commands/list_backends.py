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
    problems = _method_problems()
    if problems:
        print("\nmethods not offered:\n" + "\n".join(f"  {problem}" for problem in problems))
    print()
    from gemmbench.cases.suite import shipped_suites

    suites = shipped_suites()
    print("shipped suites: " + (", ".join(sorted(suites)) if suites else "none"))
    return 0


def _variants(name: str, status: registry.BackendStatus, flags: frozenset[str]) -> str:
    if not status.available:
        return ", ".join(status.variants)
    backend = registry.backends.get(name)
    lacking = {v.name for v in registry.variants_of(backend) if not backend.variant_available(v, flags)[0]}
    return ", ".join(v + (LACKING if v in lacking else "") for v in status.variants)


def _method_problems() -> list[str]:
    """Method plugins that failed to load, and variants a method could not add to a backend."""
    problems = [method.reason for method in registry.broken_methods()]
    for name in registry.backends.names():
        try:
            problems += registry.method_problems(registry.backends.get(name))
        except Exception:  # the backend's own variants() raised: its row in the table says so
            continue
    return problems
