"""gemmbench list: backends with their availability and variants, and the shipped suites."""

from __future__ import annotations

import argparse

from gemmbench import registry
from gemmbench.textable import render

NAME = "list"
HELP = "list backends (available or why not, variants) and shipped suites"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    rows = []
    for name in registry.backends.names():
        status = registry.status(name)
        state = "available" if status.available else "unavailable"
        rows.append([name, state, ", ".join(status.variants), status.reason or status.target])
    print(render(["backend", "status", "variants", "reason / source"], rows))
    print()
    from gemmbench.suite import shipped_suites

    suites = shipped_suites()
    print("shipped suites: " + (", ".join(sorted(suites)) if suites else "none"))
    return 0
