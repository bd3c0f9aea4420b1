"""gemmbench.machine.native: per-ISA compilation, the hash-keyed cache, CPU checks; real compiler, no fakes."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gemmbench.backends.csimd import kernels
from gemmbench.machine import isa, native

pytestmark = pytest.mark.skipif(native.find_compiler() is None, reason="no C compiler found")

TINY_C = textwrap.dedent("""\
    #include "answer.h"
    int answer(void) { return ANSWER; }
    """)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache of this test's own, for tests of the cache itself (the kernel libraries the others
    load come from the session's cache, compiled once per test run: conftest.native_cache)."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("GEMMBENCH_CACHE", str(directory))
    return directory


@pytest.fixture
def tiny(tmp_path: Path, cache: Path) -> list[Path]:
    """A one-function library's sources, built into the test's own cache."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "answer.c").write_text(TINY_C)
    (src / "answer.h").write_text("#define ANSWER 42\nint answer(void);\n")
    (src / "twice.c").write_text('#include "answer.h"\nint twice(void) { return 2 * answer(); }\n')
    return [src / "answer.c", src / "answer.h", src / "twice.c"]


def libraries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.so"))


def test_variant_table_flags() -> None:
    assert list(kernels.LEVELS) == ["scalar", "avx2", "avx512", "avx512vnni", "avx512bf16", "avx512fp16", "amx-int8",
                                    "amx-bf16", "neon", "neon-dotprod"]
    scalar = isa.LEVELS["scalar"]
    assert not any(f.startswith("-m") for f in scalar.cflags) and "-fno-tree-vectorize" in scalar.cflags
    assert scalar.cpu_flags == ()
    assert {"-mavx2", "-mfma"} <= set(isa.LEVELS["avx2"].cflags)
    assert {"avx512f", "avx512bw", "avx512vl"} <= set(isa.LEVELS["avx512"].cpu_flags)
    assert "-mavx512vnni" in isa.LEVELS["avx512vnni"].cflags
    assert "avx512_vnni" in isa.LEVELS["avx512vnni"].cpu_flags
    assert "-mavx512bf16" in isa.LEVELS["avx512bf16"].cflags and "avx512_bf16" in isa.LEVELS["avx512bf16"].cpu_flags
    for level, below in (("amx-int8", "avx512vnni"), ("amx-bf16", "avx512bf16")):  # AMX adds tiles to a level
        amx = isa.LEVELS[level]
        assert {"-mamx-tile", f"-m{level}"} <= set(amx.cflags) and set(isa.LEVELS[below].cflags) < set(amx.cflags)
        assert {"amx_tile", level.replace("-", "_")} <= set(amx.cpu_flags) and isa.closure(level) > isa.closure(below)
    assert "-mavx512fp16" in isa.LEVELS["avx512fp16"].cflags and "avx512_fp16" in isa.LEVELS["avx512fp16"].cpu_flags
    assert "-mf16c" in isa.LEVELS["avx2"].cflags and "f16c" in isa.LEVELS["avx2"].cpu_flags  # fp16 widening
    x86 = [level for level in isa.LEVELS.values() if level.arch == "x86_64"]
    every_flag = [f for v in x86 for f in (*v.cflags, *native.COMMON_FLAGS)]
    assert not any(f.startswith("-march") or f == "-ffast-math" for f in every_flag)
    assert all("-O3" in v.cflags for v in isa.LEVELS.values() if v.name != "scalar")
    assert native.compile_flags("avx512vnni")[-len(native.COMMON_FLAGS):] == native.COMMON_FLAGS
    assert kernels.load_kernels("scalar").compile_flags == native.compile_flags("scalar")


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cache: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert native.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("GEMMBENCH_CACHE")
    assert native.cache_dir() == tmp_path / "xdg" / "gemmbench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert native.cache_dir() == Path(os.path.expanduser("~")) / ".cache" / "gemmbench"


def test_build_loads_and_is_reused(tiny: list[Path], cache: Path) -> None:
    path = native.build(tiny, "scalar")
    assert path.parent == cache
    stat = path.stat()
    assert ctypes.CDLL(str(path)).answer() == 42
    assert ctypes.CDLL(str(path)).twice() == 84  # its .c files compiled apart, linked into one library
    again = native.build(tiny, "scalar")
    assert again == path
    assert again.stat().st_mtime_ns == stat.st_mtime_ns and again.stat().st_ino == stat.st_ino
    assert libraries(cache) == [path]
    assert not list(cache.glob("*.tmp"))


def test_the_library_is_the_one_the_single_compile_command_builds(tiny: list[Path], tmp_path: Path) -> None:
    """build compiles the .c files side by side and links them; the result is byte for byte what the one command
    the cache key hashes gives, so the kernels measured are the same either way."""
    level = isa.get("scalar")
    one = tmp_path / "one.so"
    subprocess.run(native.compile_command(native.find_compiler(), tiny, level, str(one)), check=True)
    assert native.build(tiny, level).read_bytes() == one.read_bytes()


def test_source_or_header_change_rebuilds(tiny: list[Path], cache: Path) -> None:
    first = native.build(tiny, "scalar")
    tiny[1].write_text("#define ANSWER 7\nint answer(void);\n")  # only the header changes
    second = native.build(tiny, "scalar")
    assert second != first
    assert ctypes.CDLL(str(second)).answer() == 7
    assert len(libraries(cache)) == 2


def test_each_variant_has_its_own_library(tiny: list[Path]) -> None:
    here = [level.name for level in isa.levels_for() if level.name in kernels.LEVELS]  # this compiler's arch
    paths = {native.build(tiny, name) for name in here}
    assert len(paths) == len(here) >= 2


def test_compile_error_gives_first_error_line(tiny: list[Path], cache: Path) -> None:
    tiny[0].write_text("int answer(void) { return undeclared_thing; }\n")
    with pytest.raises(native.NativeBuildError, match="error.*undeclared_thing"):
        native.build(tiny, "scalar")
    assert not list(cache.glob("*.so")) and not list(cache.glob("*.tmp"))


def test_no_compiler_on_path(tiny: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("CC", raising=False)
    assert native.find_compiler() is None
    with pytest.raises(native.NativeBuildError, match="no C compiler found"):
        native.build(tiny, "scalar")
    with pytest.raises(native.NativeBuildError, match="no C compiler found"):
        native.compiler_identity()


def test_cc_environment_variable_is_used(tiny: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    gcc = shutil.which("gcc") or shutil.which("cc")
    monkeypatch.setenv("CC", gcc)
    assert native.compiler_identity().path == gcc
    monkeypatch.setenv("CC", "no-such-compiler-xyz")
    with pytest.raises(native.NativeBuildError, match="no C compiler found"):
        native.build(tiny, "scalar")


def test_compiler_identity() -> None:
    identity = native.compiler_identity()
    assert Path(identity.path.split()[0]).is_file()
    assert identity.version


def test_unknown_variant() -> None:
    with pytest.raises(ValueError, match="unknown ISA level"):
        isa.get("avx1024")


def test_missing_cpu_flag_is_refused_before_loading(tiny: list[Path], cache: Path) -> None:
    flags = native.cpu_flags() - {"avx512_vnni"}
    with pytest.raises(native.UnsupportedCpuError, match="CPU lacks avx512_vnni"):
        native.load(tiny, "avx512vnni", flags=flags)
    with pytest.raises(native.UnsupportedCpuError, match="avx2"):
        kernels.load_kernels("avx2", cpu_flags={"fma", "sse2"})
    assert not libraries(cache)  # refused before compiling anything
    assert native.load(tiny, "scalar", flags=set()).answer() == 42


@pytest.mark.parametrize("variant", kernels.LEVELS)
def test_kernel_library_reports_its_isa(variant: str) -> None:
    if native.missing_cpu_flags(variant):
        pytest.skip(f"CPU lacks {native.missing_cpu_flags(variant)}")
    lib = kernels.load_kernels(variant)
    assert lib.lib.gb_isa().decode() == variant
    assert lib.path.name.startswith(f"csimd-{variant}-")


# A compiler that takes a second per step and logs each library it links: builds started together are
# compiling at the same time.
SLOW_CC = """#!/bin/sh
case " $* " in *" -c "*) sleep 1;; *" -o "*) echo linked >> "{log}"; sleep 1;; esac
exec {cc} "$@"
"""
CONCURRENT_SCRIPT = textwrap.dedent("""\
    import os, sys, time
    from gemmbench.machine import native
    go, sources = sys.argv[1], sys.argv[2:]
    while not os.path.exists(go):
        time.sleep(0.001)
    print(native.build(sources, "scalar"))
    """)


def test_two_processes_building_one_library_compile_it_once(tiny: list[Path], tmp_path: Path, cache: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Started together on an empty cache: one compiles, the other waits for its lock and then finds the
    library; both load the same complete file, and a third build is a hit."""
    log, cc = tmp_path / "compiles.log", tmp_path / "slow-cc"
    cc.write_text(SLOW_CC.format(log=log, cc=shutil.which("gcc") or shutil.which("cc")))
    cc.chmod(0o755)
    monkeypatch.setenv("CC", str(cc))
    script = tmp_path / "build_one.py"
    script.write_text(CONCURRENT_SCRIPT)
    go = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    procs = [subprocess.Popen([sys.executable, str(script), str(go), *map(str, tiny)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    go.touch()  # both start building at the same moment
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    [path] = {Path(out.strip()) for out, _ in outputs}
    assert libraries(cache) == [path] and not list(cache.glob("*.tmp"))
    assert ctypes.CDLL(str(path)).answer() == 42
    assert log.read_text().split() == ["linked"]  # once: the second process waited for the first
    mtime = path.stat().st_mtime_ns
    assert native.build(tiny, "scalar") == path and path.stat().st_mtime_ns == mtime  # a hit, not a rebuild
    assert log.read_text().split() == ["linked"]
