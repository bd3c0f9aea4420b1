"""gemmbench build: run each backend's build() ahead of time (compile C kernels, fetch what they need)."""

from __future__ import annotations

import argparse
import time

from gemmbench import registry
from gemmbench.report.textable import render

NAME = "build"
HELP = "compile or fetch what each backend needs ahead of any run (e.g. csimd's C kernels for every ISA level)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-b", "--backend", action="append", default=None, metavar="NAME",
                        help="build only this backend (repeatable; default: every backend that has a build step)")


def _build_one(name: str) -> list[str]:
    backend = registry.backends.get(name)
    ok, reason = backend.available()
    if not ok:
        return [name, "unavailable", reason]
    start = time.perf_counter()
    try:
        what = backend.build(frozenset(registry.ops.names()))
    except Exception as exc:  # a failed build is reported, and the others still run
        return [name, "failed", f"{type(exc).__name__}: {exc}"]
    return [name, f"done in {time.perf_counter() - start:.1f} s", what]


def run(args: argparse.Namespace) -> int:
    names = args.backend or [n for n in registry.backends.names() if registry.backends.get(n).offers("build")]
    for name in names:
        registry.backends.get(name)  # unknown names are refused before anything is built
    rows = [_build_one(name) for name in names]
    print(render(["backend", "status", "what"], rows))
    return 1 if any(row[1] == "failed" for row in rows) else 0
