"""Compile C sources once per ISA variant, cache the shared library by hash, load it with ctypes.

The cache key follows codepy's jit: the bytes of every source and header, the compiler's
path and `--version` line, and the full command line. The library is written to a temp
file in the cache directory and moved into place with os.replace, so processes compiling
the same key at once each publish a complete file and never a torn one.

Compiler flags come only from `VARIANTS`; the variant, never -march=native, decides the ISA.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from gemmbench.machine import cpu_flags

# -ffp-contract=off: no silent a*b+c -> fma, so int8 dequantisation stays bit-exact with numpy.
COMMON_FLAGS = ("-fPIC", "-shared", "-std=c11", "-ffp-contract=off")
_AVX2 = ("-mavx2", "-mfma")
_AVX512 = (*_AVX2, "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq")


@dataclass(frozen=True)
class IsaVariant:
    """An ISA level: the compiler flags that select it and the CPU flags it needs."""

    name: str
    cflags: tuple[str, ...]
    cpu_flags: tuple[str, ...]  # as named in /proc/cpuinfo


VARIANTS: dict[str, IsaVariant] = {
    v.name: v
    for v in (
        IsaVariant("scalar", ("-O2", "-fno-tree-vectorize", "-fno-tree-slp-vectorize"), ()),
        IsaVariant("avx2", ("-O3", *_AVX2), ("avx2", "fma")),
        IsaVariant("avx512", ("-O3", *_AVX512), ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq")),
        IsaVariant(
            "avx512vnni",
            ("-O3", *_AVX512, "-mavx512vnni"),
            ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"),
        ),
    )
}


class NativeBuildError(RuntimeError):
    """The C compiler is missing or failed; the message is its first error line."""


class UnsupportedCpuError(RuntimeError):
    """The CPU lacks a flag the variant was compiled for; loading it would crash on SIGILL."""


@dataclass(frozen=True)
class CompilerIdentity:
    path: str
    version: str  # first line of `--version`


def get_variant(name: str) -> IsaVariant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown ISA variant {name!r} (known: {', '.join(VARIANTS)})") from None


def compile_flags(variant: str | IsaVariant) -> tuple[str, ...]:
    """Every flag the variant is compiled with, for the results."""
    isa = variant if isinstance(variant, IsaVariant) else get_variant(variant)
    return (*isa.cflags, *COMMON_FLAGS)


def find_compiler() -> list[str] | None:
    """The compiler command: $CC (may carry a wrapper, e.g. 'ccache gcc'), else cc or gcc on PATH."""
    env = os.environ.get("CC", "").strip()
    if env:
        argv = shlex.split(env)
        exe = shutil.which(argv[0])
        return [exe, *argv[1:]] if exe else None
    for name in ("cc", "gcc"):
        exe = shutil.which(name)
        if exe:
            return [exe]
    return None


@functools.lru_cache(maxsize=8)
def _version_line(argv: tuple[str, ...]) -> str:
    try:
        out = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise NativeBuildError(f"C compiler {argv[0]} did not run: {exc}") from exc
    lines = out.stdout.splitlines()
    return lines[0].strip() if lines else ""


def compiler_identity() -> CompilerIdentity:
    """Path and version line of the compiler `build` would use; raises when there is none."""
    argv = find_compiler()
    if argv is None:
        raise NativeBuildError("no C compiler found (set CC or put cc/gcc on PATH)")
    return CompilerIdentity(" ".join(argv), _version_line(tuple(argv)))


def cache_dir() -> Path:
    """$GEMMBENCH_CACHE, else $XDG_CACHE_HOME/gemmbench, else ~/.cache/gemmbench."""
    explicit = os.environ.get("GEMMBENCH_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gemmbench"


def compile_command(compiler: Sequence[str], sources: Sequence[Path], variant: IsaVariant, output: str) -> list[str]:
    c_files = [str(p) for p in sources if p.suffix == ".c"]
    include_dirs = sorted({str(p.parent) for p in sources})
    includes = [arg for d in include_dirs for arg in ("-I", d)]
    return [*compiler, *variant.cflags, *COMMON_FLAGS, *includes, *c_files, "-o", output]


def cache_key(compiler: Sequence[str], sources: Sequence[Path], variant: IsaVariant, version: str) -> str:
    """sha256 over sources (name + bytes), compiler path and version, and the command line.

    Sources enter the command by file name, not directory, so a copy of the same sources
    elsewhere (an installed package, an editable checkout) reuses the same library.
    """
    digest = hashlib.sha256()
    for path in sorted(sources, key=lambda p: p.name):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(f"{' '.join(compiler)}\0{version}\0".encode())
    command = compile_command(compiler, [Path(p.name) for p in sources], variant, "OUTPUT")
    digest.update("\0".join(command).encode())
    return digest.hexdigest()[:32]


def _first_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if re.search(r"\berror:", line):  # gcc/clang: "file:line:col: error: ..."; also "fatal error:"
            return line
    return lines[0] if lines else "compiler failed without a message"


def build(sources: Iterable[str | os.PathLike], variant: str | IsaVariant, name: str = "kernels") -> Path:
    """Compile the .c files among `sources` for `variant`; the path of the cached shared library.

    List every header the .c files include among `sources`: only listed files enter the key.
    """
    target = library_path(sources, variant, name)
    if target.exists():
        return target
    isa = variant if isinstance(variant, IsaVariant) else get_variant(variant)
    target.parent.mkdir(parents=True, exist_ok=True)
    _compile(find_compiler(), [Path(s).resolve() for s in sources], isa, target.parent, target)
    return target


def library_path(sources: Iterable[str | os.PathLike], variant: str | IsaVariant, name: str = "kernels") -> Path:
    """Where `build` puts (or finds) the library for these sources, variant and compiler."""
    isa = variant if isinstance(variant, IsaVariant) else get_variant(variant)
    paths = [Path(s).resolve() for s in sources]
    if not any(p.suffix == ".c" for p in paths):
        raise NativeBuildError("no .c file among the sources")
    compiler = find_compiler()
    if compiler is None:
        raise NativeBuildError("no C compiler found (set CC or put cc/gcc on PATH)")
    key = cache_key(compiler, paths, isa, _version_line(tuple(compiler)))
    return cache_dir() / f"{name}-{isa.name}-{key}.so"


def _compile(compiler: list[str], paths: list[Path], isa: IsaVariant, directory: Path, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.stem}-", suffix=".so.tmp")
    os.close(fd)
    try:
        proc = subprocess.run(compile_command(compiler, paths, isa, tmp), capture_output=True, text=True)
        if proc.returncode != 0:
            raise NativeBuildError(_first_error_line(proc.stderr))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def missing_cpu_flags(variant: str | IsaVariant, flags: Iterable[str] | None = None) -> tuple[str, ...]:
    isa = variant if isinstance(variant, IsaVariant) else get_variant(variant)
    have = cpu_flags() if flags is None else frozenset(flags)
    return tuple(f for f in isa.cpu_flags if f not in have)


def check_cpu(variant: str | IsaVariant, flags: Iterable[str] | None = None) -> None:
    isa = variant if isinstance(variant, IsaVariant) else get_variant(variant)
    missing = missing_cpu_flags(isa, flags)
    if missing:
        raise UnsupportedCpuError(f"CPU lacks {', '.join(missing)}: cannot run the {isa.name} variant")


def load(
    sources: Iterable[str | os.PathLike],
    variant: str | IsaVariant,
    name: str = "kernels",
    flags: Iterable[str] | None = None,
) -> ctypes.CDLL:
    """Build (or reuse) and dlopen the variant; refuses before compiling if the CPU lacks its flags.

    `flags` overrides the CPU flags read from /proc/cpuinfo (tests force a missing one).
    """
    check_cpu(variant, flags)
    return ctypes.CDLL(str(build(sources, variant, name)))
