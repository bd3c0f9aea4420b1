"""A simulated CPU feature set: the real flags minus those GEMMBENCH_CPU_FLAGS takes away.

A simulation only ever takes flags away (code for a flag the CPU lacks would die on SIGILL):

    GEMMBENCH_CPU_FLAGS=-avx512f,-amx_tile   hide these flags
    GEMMBENCH_CPU_FLAGS=avx2,fma             keep only these SIMD flags (and what they build on)

Flags are closed under what they build on, as on every real CPU: hiding avx512f hides every
AVX-512 extension and AMX, hiding avx hides avx2 and fma. The libraries a worker loads must
see the same smaller CPU, so a simulation also says what to tell them: numpy the dispatch
targets to disable, OpenBLAS a core type to use, oneDNN and MKL the highest ISA to dispatch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gemmbench.errors import UsageError
from gemmbench.machine import isa

ENV = "GEMMBENCH_CPU_FLAGS"
# Flag prefixes that decide which kernels can run; the rest of /proc/cpuinfo is noise here.
SIMD_FLAG_PREFIXES = ("sse4", "ssse3", "avx", "fma", "f16c", "amx", "bmi2", "asimd", "sve", "i8mm", "bf16")
_FLAG = re.compile(r"[a-z0-9_]+")

# What a flag builds on (x86-64-v3 counts avx2, fma, f16c and bmi2 as one step, as every
# AVX2 CPU has them all; AVX-512 extensions need the foundation; AMX comes with AVX-512).
_BUILDS_ON: dict[str, tuple[str, ...]] = {
    "sse4_1": ("ssse3",), "sse4_2": ("sse4_1",), "avx": ("sse4_2",), "f16c": ("avx",), "fma": ("avx",),
    "avx2": ("avx", "fma", "f16c", "bmi2"), "avx_vnni": ("avx2",), "avx512f": ("avx2",), "amx_tile": ("avx512f",),
    "asimddp": ("asimd",), "asimdhp": ("asimd",), "asimdfhm": ("asimdhp",), "asimdrdm": ("asimd",),
    "i8mm": ("asimd",), "bf16": ("asimd",), "sve": ("asimd",),
}


def _builds_on(flag: str) -> tuple[str, ...]:
    """The flags `flag` needs beside it (direct ones only)."""
    for family, root in (("avx512", "avx512f"), ("amx_", "amx_tile"), ("sve", "sve")):
        if flag.startswith(family) and flag != root:
            return (root,)
    return _BUILDS_ON.get(flag, ())


def _is_simd(flag: str) -> bool:
    return flag.startswith(SIMD_FLAG_PREFIXES)


# ---------------------------------------------------------------- what the libraries are told

_SKX = ("avx512f", "avx512cd", "avx512vl", "avx512bw", "avx512dq")
_ICL = (*_SKX, "avx512_vnni", "avx512ifma", "avx512vbmi", "avx512_vbmi2", "avx512_bitalg", "avx512_vpopcntdq")
_AMX = ("amx_tile", "amx_int8", "amx_bf16")

# numpy's CPU feature names (as NPY_DISABLE_CPU_FEATURES spells them) -> the flags each needs.
# Only the flags a simulation can hide matter; a dispatch target missing here is disabled
# whenever anything is hidden (running code the simulated CPU might lack is the worse error).
NUMPY_FEATURES: dict[str, tuple[str, ...]] = {
    "SSE": (), "SSE2": (), "SSE3": ("pni",), "SSSE3": ("ssse3",), "SSE41": ("sse4_1",), "POPCNT": ("popcnt",),
    "SSE42": ("sse4_2",), "X86_V2": ("ssse3", "sse4_1", "sse4_2"),
    "AVX": ("avx",), "F16C": ("f16c",), "FMA3": ("fma",), "AVX2": ("avx2",),
    "X86_V3": ("avx", "avx2", "fma", "f16c", "bmi2"),
    "AVX512F": ("avx512f",), "AVX512CD": ("avx512f", "avx512cd"), "AVX512_SKX": _SKX, "X86_V4": _SKX,
    "AVX512_CLX": (*_SKX, "avx512_vnni"), "AVX512_CNL": (*_SKX, "avx512ifma", "avx512vbmi"),
    "AVX512_ICL": _ICL, "AVX512_SPR": (*_ICL, "avx512_fp16"),
    "AVX512_KNL": ("avx512f", "avx512cd", "avx512er", "avx512pf"),
    "AVX512_KNM": ("avx512f", "avx512cd", "avx512er", "avx512pf", "avx512_4fmaps", "avx512_4vnniw"),
    "NEON": ("asimd",), "NEON_FP16": ("asimd",), "NEON_VFPV4": ("asimd",), "ASIMD": ("asimd",),
    "ASIMDHP": ("asimdhp",), "ASIMDDP": ("asimddp",), "ASIMDFHM": ("asimdfhm",), "SVE": ("sve",),
}


@dataclass(frozen=True)
class LibraryIsa:
    """An environment variable that sets the ISA a library dispatches to on one architecture."""

    variable: str
    arch: str
    choices: tuple[tuple[str, tuple[str, ...]], ...]  # (value, flags it needs), best first
    forced: bool  # the value picks code outright (not a cap): set only when the library's own pick needs a hidden flag


LIBRARIES = (
    LibraryIsa("OPENBLAS_CORETYPE", "x86_64", (
        ("SapphireRapids", (*_SKX, "avx512_bf16", "avx512_fp16", *_AMX)), ("Cooperlake", (*_SKX, "avx512_bf16")),
        ("SkylakeX", _SKX), ("Haswell", ("avx2", "fma")), ("Zen", ("avx2", "fma")), ("Sandybridge", ("avx",)),
        ("Nehalem", ("sse4_2",)), ("Core2", ("ssse3",)), ("Prescott", ())), forced=True),
    LibraryIsa("OPENBLAS_CORETYPE", "aarch64", (
        ("NeoverseV1", ("asimd", "sve")), ("NeoverseN1", ("asimd", "asimddp")), ("ARMV8", ())), forced=True),
    LibraryIsa("ONEDNN_MAX_CPU_ISA", "x86_64", (
        ("AVX512_CORE_AMX", (*_SKX, "avx512_vnni", "avx512_bf16", "avx512_fp16", *_AMX)),
        ("AVX512_CORE_FP16", (*_SKX, "avx512_vnni", "avx512_bf16", "avx512_fp16")),
        ("AVX512_CORE_BF16", (*_SKX, "avx512_vnni", "avx512_bf16")), ("AVX512_CORE_VNNI", (*_SKX, "avx512_vnni")),
        ("AVX512_CORE", _SKX), ("AVX2_VNNI", ("avx2", "fma", "avx_vnni")), ("AVX2", ("avx2", "fma")),
        ("AVX", ("avx",)), ("SSE41", ("sse4_1",))), forced=False),
    LibraryIsa("MKL_ENABLE_INSTRUCTIONS", "x86_64", (
        ("AVX512_E4", (*_SKX, "avx512_vnni", "avx512_bf16", *_AMX)), ("AVX512_E3", (*_SKX, "avx512_vnni", "avx512_bf16")),
        ("AVX512_E1", (*_SKX, "avx512_vnni")), ("AVX512", _SKX), ("AVX2", ("avx2", "fma")), ("AVX", ("avx",)),
        ("SSE4_2", ("sse4_2",))), forced=False),
)


def _known_flags() -> frozenset[str]:
    """Every flag name gemmbench knows: a name outside these and the CPU's own is a typo."""
    named = [*_BUILDS_ON, *(f for needs in _BUILDS_ON.values() for f in needs),
             *(f for needs in NUMPY_FEATURES.values() for f in needs),
             *(f for lib in LIBRARIES for _, needs in lib.choices for f in needs),
             *(f for level in isa.LEVELS.values() for f in level.cpu_flags),
             *(f for flags in isa.KEY_FLAGS.values() for f in flags)]
    return frozenset(named)


# ---------------------------------------------------------------- the simulation

@dataclass(frozen=True)
class Simulation:
    spec: str  # the value of GEMMBENCH_CPU_FLAGS
    flags: frozenset[str]  # what the simulated CPU offers: a subset of the real flags
    hidden: frozenset[str]  # the real flags it takes away

    def describe(self) -> str:
        hidden = ", ".join(sorted(self.hidden)) or "nothing this CPU has"
        return f"{ENV}={self.spec} hides {hidden}"


def _closed_hidden(hidden: set[str], real: frozenset[str]) -> frozenset[str]:
    """`hidden` with every real flag that builds on a hidden one, transitively."""
    hidden = set(hidden) & real
    grew = True
    while grew:
        more = {flag for flag in real - hidden if set(_builds_on(flag)) & hidden}
        hidden |= more
        grew = bool(more)
    return frozenset(hidden)


def _with_foundations(flags: set[str]) -> set[str]:
    found, todo = set(), list(flags)
    while todo:
        flag = todo.pop()
        if flag not in found:
            found.add(flag)
            todo.extend(_builds_on(flag))
    return found


def parse(spec: str, real: frozenset[str]) -> Simulation | None:
    """The simulation GEMMBENCH_CPU_FLAGS asks for on a CPU with `real` flags; None when it is empty."""
    names = [part for part in re.split(r"[,\s]+", spec.strip()) if part]
    if not names:
        return None
    removing = [name.startswith("-") for name in names]
    if any(removing) and not all(removing):
        raise UsageError(f"{ENV}={spec!r}: either hide flags (every name with a leading '-': -avx512f,-amx_tile) "
                         f"or list the SIMD flags to keep (avx2,fma), not both")
    bare = [name.lstrip("-") for name in names]
    unknown = [name for name in bare if not _FLAG.fullmatch(name) or name not in real | _known_flags()]
    if unknown:
        raise UsageError(f"{ENV}={spec!r}: unknown CPU flag {', '.join(map(repr, unknown))}: neither this CPU nor "
                         f"gemmbench knows it (spell flags as /proc/cpuinfo does: avx2, avx512f, avx512_vnni, "
                         f"amx_tile, asimddp)")
    if all(removing):
        hidden = _closed_hidden(set(bare), real)
    else:
        keep = _with_foundations(set(bare))
        hidden = _closed_hidden({flag for flag in real if _is_simd(flag) and flag not in keep}, real)
    return Simulation(spec.strip(), real - hidden, hidden)


# ---------------------------------------------------------------- the environment a worker needs

def numpy_disabled(simulation: Simulation, enabled: dict[str, bool], dispatched: list[str],
                   baseline: list[str], numpy_version: str) -> list[str]:
    """numpy's dispatch targets the simulated CPU could not run; refuses to hide what numpy's baseline needs."""
    needed = [name for name in baseline if set(NUMPY_FEATURES.get(name, ())) & simulation.hidden]
    if needed:
        lost = sorted({flag for name in needed for flag in NUMPY_FEATURES[name]} & simulation.hidden)
        raise UsageError(f"{ENV}={simulation.spec!r} hides {', '.join(lost)}, which numpy {numpy_version} cannot "
                         f"run without (its baseline: {' '.join(baseline)}); a simulation can take away only what "
                         f"numpy chooses at run time ({' '.join(dispatched) or 'nothing'})")
    return [name for name in dispatched if enabled.get(name)
            and (name not in NUMPY_FEATURES or set(NUMPY_FEATURES[name]) & simulation.hidden)]


def library_settings(simulation: Simulation, picked: dict[str, str], arch: str) -> dict[str, str]:
    """Values for the libraries' ISA variables on `arch`: caps always, a forced choice only where
    the library's own pick (`picked`: variable -> value, e.g. the core threadpoolctl says OpenBLAS
    runs) needs a hidden flag or is one this table does not know."""
    settings = {}
    for library in (lib for lib in LIBRARIES if lib.arch == arch):
        fitting = [value for value, needs in library.choices if set(needs) <= simulation.flags]
        if not fitting:
            continue
        if library.forced:
            current = picked.get(library.variable)
            needs = {value.lower(): needs for value, needs in library.choices}.get((current or "").lower())
            if current is None or (needs is not None and not set(needs) & simulation.hidden):
                continue
        settings[library.variable] = fitting[0]
    return settings
