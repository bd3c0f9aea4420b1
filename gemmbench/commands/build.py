"""gemmbench build: run each backend's build() ahead of time (compile C kernels, fetch what they need)."""

from __future__ import annotations

import argparse

from gemmbench import registry
from gemmbench.report.textable import render

NAME = "build"
HELP = "compile or fetch what each backend needs ahead of any run (e.g. csimd's C kernels for every ISA level)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-b", "--backend", action="append", default=None, metavar="NAME",
                        help="build only this backend (repeatable; default: every backend that has a build step)")


def run(args: argparse.Namespace) -> int:
    from gemmbench.measure import probe

    # Unknown names are refused before anything is built; the builds run in a child process.
    known = probe.statuses(args.backend)
    names = args.backend or [name for name, status in known.items() if status.builds]
    rows = [[b.backend, f"done in {b.seconds:.1f} s" if b.state == "done" else b.state, b.what]
            for b in probe.build(names, registry.ops.names())]
    print(render(["backend", "status", "what"], rows))
    return 1 if any(row[1] == "failed" for row in rows) else 0
