"""Load compiled C kernels for this CPU: build (or reuse) the variant's library, refusing first when the
CPU lacks a flag the variant needs, and dlopen it with ctypes.

Compiling and the cache live in gemmbench.machine.compiler; their names are here too, so a backend
needs this one module.
"""

from __future__ import annotations

import ctypes
import os
from typing import Iterable

from gemmbench.machine.compiler import (  # noqa: F401
    COMMON_FLAGS,
    COMPILE_TIMEOUT,
    CompilerIdentity,
    NativeBuildError,
    build,
    cache_dir,
    cache_key,
    compile_command,
    compile_flags,
    compiler_identity,
    find_compiler,
    level_of,
    library_path,
)
from gemmbench.machine.fingerprint import cpu_flags
from gemmbench.machine.isa import IsaLevel


class UnsupportedCpuError(RuntimeError):
    """The CPU lacks a flag the variant was compiled for; loading it would crash on SIGILL."""


def missing_cpu_flags(variant: str | IsaLevel, flags: Iterable[str] | None = None) -> tuple[str, ...]:
    level = level_of(variant)
    have = cpu_flags() if flags is None else frozenset(flags)
    return tuple(f for f in level.cpu_flags if f not in have)


def check_cpu(variant: str | IsaLevel, flags: Iterable[str] | None = None) -> None:
    level = level_of(variant)
    missing = missing_cpu_flags(level, flags)
    if missing:
        raise UnsupportedCpuError(f"CPU lacks {', '.join(missing)}: cannot run the {level.name} variant")


def load(
    sources: Iterable[str | os.PathLike],
    variant: str | IsaLevel,
    name: str = "kernels",
    flags: Iterable[str] | None = None,
) -> ctypes.CDLL:
    """Build (or reuse) and dlopen the variant; refuses before compiling if the CPU lacks its flags.

    `flags` overrides the CPU flags read from /proc/cpuinfo (tests force a missing one).
    """
    check_cpu(variant, flags)
    return ctypes.CDLL(str(build(sources, variant, name)))
