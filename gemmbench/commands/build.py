"""gemmbench build: compile every C kernel variant ahead of time and report each one's status."""

from __future__ import annotations

import argparse
import time

from gemmbench import isa, native
from gemmbench.textable import render

NAME = "build"
HELP = "compile the C kernels for every ISA variant into the cache and report each one's status"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", action="append", choices=list(isa.LEVELS), default=None,
                        help="build only this ISA variant (repeatable)")


def _build_one(name: str) -> list[str]:
    from gemmbench.backends.csimd import kernels

    missing = native.missing_cpu_flags(name)
    runs_here = "yes" if not missing else f"no: CPU lacks {', '.join(missing)}"
    try:
        target = native.library_path(kernels.sources(), name, name="csimd")
        cached = target.exists()
        start = time.perf_counter()
        native.build(kernels.sources(), name, name="csimd")
    except native.NativeBuildError as exc:
        return [name, "failed", "", runs_here, str(exc)]
    status = "cached" if cached else f"built in {time.perf_counter() - start:.1f} s"
    return [name, status, " ".join(native.compile_flags(name)), runs_here, str(target)]


def kernels_levels() -> list[str]:
    from gemmbench.backends.csimd import kernels

    return [level.name for level in isa.levels_for() if level.name in kernels.LEVELS]


def run(args: argparse.Namespace) -> int:
    rows = [_build_one(name) for name in args.variant or kernels_levels()]
    print(render(["variant", "status", "flags", "runs here", "library / error"], rows))
    return 1 if any(row[1] == "failed" for row in rows) else 0
