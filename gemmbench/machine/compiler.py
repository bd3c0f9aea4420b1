"""Compile C sources once per ISA variant and cache the shared library by hash.

The cache key follows codepy's jit: the bytes of every source and header, the compiler's
path and `--version` line, and the full command line. The library is written to a temp
file in the cache directory and moved into place with os.replace, so a reader never sees a
torn file. One process compiles a key at a time: it holds an flock on a hidden lock file
beside the library while it compiles, and another process that needs the same library waits
for it and then finds it (parallel test workers, runs started together: a library is compiled
once, not once per process).

Compiler flags come only from the ISA table (gemmbench.machine.isa); the level, never -march=native, decides the ISA.
Compiling does not ask which CPU this is (the machine's fingerprint compiles its own probe with it);
loading a library for this CPU does (gemmbench.machine.native).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from gemmbench.data import atomic
from gemmbench.machine import isa
from gemmbench.machine.isa import IsaLevel

# -ffp-contract=off: no silent a*b+c -> fma, so int8 dequantisation stays bit-exact with numpy.
# Functions and loops start on 64-byte boundaries: a kernel's time must not move when another
# function of its library grows, or a timing gate flags a kernel nobody touched
# (docs/journal/2026-11-29-csimd-kernels.md, "Code alignment").
COMMON_FLAGS = ("-fPIC", "-shared", "-std=c11", "-ffp-contract=off", "-falign-functions=64", "-falign-loops=64")
COMPILE_TIMEOUT = 300  # seconds; a compiler that hangs must not hang the run


class NativeBuildError(RuntimeError):
    """The C compiler is missing or failed; the message is its first error line."""


@dataclass(frozen=True)
class CompilerIdentity:
    path: str
    version: str  # first line of `--version`


def level_of(variant: str | IsaLevel) -> IsaLevel:
    """The ISA level a variant names (or the level itself)."""
    return variant if isinstance(variant, IsaLevel) else isa.get(variant)


def compile_flags(variant: str | IsaLevel) -> tuple[str, ...]:
    """Every flag the variant is compiled with, for the results."""
    level = level_of(variant)
    return (*level.cflags, *COMMON_FLAGS)


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


def compile_command(compiler: Sequence[str], sources: Sequence[Path], variant: IsaLevel, output: str) -> list[str]:
    """The one command that builds the library (what the cache key hashes; `build` runs it as its parts)."""
    c_files = [str(p) for p in sources if p.suffix == ".c"]
    return [*compiler, *variant.cflags, *COMMON_FLAGS, *_includes(sources), *c_files, "-o", output]


def _includes(sources: Sequence[Path]) -> list[str]:
    return [arg for d in sorted({str(p.parent) for p in sources}) for arg in ("-I", d)]


def cache_key(compiler: Sequence[str], sources: Sequence[Path], variant: IsaLevel, version: str) -> str:
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


def build(sources: Iterable[str | os.PathLike], variant: str | IsaLevel, name: str = "kernels") -> Path:
    """Compile the .c files among `sources` for `variant`; the path of the cached shared library.

    List every header the .c files include among `sources`: only listed files enter the key.
    """
    paths = [Path(s).resolve() for s in sources]  # read once: `sources` may be a generator
    target = library_path(paths, variant, name)
    if target.exists():
        return target
    _compile(find_compiler(), paths, level_of(variant), target)
    return target


def library_path(sources: Iterable[str | os.PathLike], variant: str | IsaLevel, name: str = "kernels") -> Path:
    """Where `build` puts (or finds) the library for these sources, variant and compiler."""
    level = level_of(variant)
    paths = [Path(s).resolve() for s in sources]
    if not any(p.suffix == ".c" for p in paths):
        raise NativeBuildError("no .c file among the sources")
    compiler = find_compiler()
    if compiler is None:
        raise NativeBuildError("no C compiler found (set CC or put cc/gcc on PATH)")
    key = cache_key(compiler, paths, level, _version_line(tuple(compiler)))
    return cache_dir() / f"{name}-{level.name}-{key}.so"


def _compile(compiler: list[str], paths: list[Path], level: IsaLevel, target: Path) -> None:
    try:
        with _compiling(target):
            if target.exists():  # another process compiled it while this one waited for the lock
                return
            with atomic.publishing(target) as tmp, tempfile.TemporaryDirectory(dir=target.parent,
                                                                                 prefix=f".{target.name}.") as scratch:
                _compile_and_link(compiler, paths, level, tmp, Path(scratch), target.name)
    except OSError as exc:  # the cache, not the compiler: say where and how to choose another
        raise NativeBuildError(f"the kernel cache {target.parent} cannot be written ({exc.strerror or exc}); set "
                               f"GEMMBENCH_CACHE to a folder that can") from None


def _compile_and_link(compiler: list[str], paths: list[Path], level: IsaLevel, output: Path, scratch: Path,
                      name: str) -> None:
    """What compile_command does in one call, with the .c files compiled side by side on the CPUs this process
    may use, then linked in the same order: the same library, sooner (a level's slowest file sets the pace)."""
    c_files = [p for p in paths if p.suffix == ".c"]
    objects = [scratch / f"{i}-{p.stem}.o" for i, p in enumerate(c_files)]
    flags = [*compiler, *level.cflags, *COMMON_FLAGS, *_includes(paths)]
    commands = [[*flags, "-c", str(c), "-o", str(o)] for c, o in zip(c_files, objects)]
    with ThreadPoolExecutor(max_workers=min(len(commands), len(os.sched_getaffinity(0)))) as pool:
        for proc in list(pool.map(_run, commands)):  # every compile ends before an error is raised
            _check(proc, name)
    _check(_run([*compiler, *level.cflags, *COMMON_FLAGS, *map(str, objects), "-o", str(output)]), name)


def _run(command: list[str]) -> subprocess.CompletedProcess | None:
    """The command's outcome, or None when it outlived COMPILE_TIMEOUT (then it was killed)."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None


def _check(proc: subprocess.CompletedProcess | None, name: str) -> None:
    if proc is None:
        raise NativeBuildError(f"the C compiler took longer than {COMPILE_TIMEOUT} s for {name}; killed")
    if proc.returncode != 0:
        raise NativeBuildError(_first_error_line(proc.stderr))


@contextmanager
def _compiling(target: Path) -> Iterator[None]:
    """Held while this process compiles `target`: an flock on `.NAME.lock` beside it. The kernel drops it
    when its holder dies; the empty lock file stays, so a waiter never holds a lock on a removed file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target.parent / f".{target.name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
