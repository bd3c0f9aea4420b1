"""The one table of ISA levels: what each needs from the CPU, how to compile for it, what it includes.

Everything else that knows about ISA levels derives from `LEVELS`: the compiler flags of the C
kernels and probes (gemmbench.machine.native), variant availability, `--isa` caps, the feature key and
the report's ordering. Levels are not one straight line (VNNI and BF16 both extend AVX-512,
the aarch64 levels branch from scalar), so a level names the levels it directly `includes`,
and a cap means a level together with everything it includes, transitively.

CPU flags are spelled as Linux's /proc/cpuinfo spells them ('flags' on x86, 'Features' on
aarch64); `scalar` is portable C and runs on every architecture.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass

from gemmbench.errors import UsageError

ANY_ARCH = "any"
_AVX2 = ("-mavx2", "-mfma", "-mf16c")  # F16C: every AVX2 CPU has it (x86-64-v3 counts it with AVX2)
_AVX512 = (*_AVX2, "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq")
_AVX2_FLAGS = ("avx2", "fma", "f16c")
_AVX512_FLAGS = (*_AVX2_FLAGS, "avx512f", "avx512bw", "avx512vl", "avx512dq")
_AMX = ("-mamx-tile",)


@dataclass(frozen=True)
class IsaLevel:
    """One ISA level a kernel can be compiled for."""

    name: str
    arch: str  # 'x86_64', 'aarch64' or ANY_ARCH
    cpu_flags: tuple[str, ...]  # every flag it needs, inherited ones included
    cflags: tuple[str, ...]  # every compiler flag that selects it (not incremental)
    includes: tuple[str, ...] = ()  # the levels directly below it: their code runs here too
    key_flag: str = ""  # the flag that tells this level apart in a feature key ('' for scalar)
    gains: tuple[str, ...] = ("float32", "int8")  # precisions whose kernels this level makes faster
    int8_weight_max: int = 127  # largest |int8 weight| its kernels take (63 where maddubs' int16 sums must not saturate)
    probed: bool = True  # the roofline's vector probes measure its peak (not AMX: its tiles have no probe)
    doc: str = ""


LEVELS: dict[str, IsaLevel] = {level.name: level for level in (
    IsaLevel("scalar", ANY_ARCH, (), ("-O2", "-fno-tree-vectorize", "-fno-tree-slp-vectorize"),
             doc="portable C, auto-vectorisation off: the floor every other level is measured against"),
    IsaLevel("avx2", "x86_64", _AVX2_FLAGS, ("-O3", *_AVX2), ("scalar",), "avx2", gains=("float32", "int8", "fp16"),
             int8_weight_max=63, doc="256-bit float FMA; int8 through maddubs (7-bit weights); fp16 weights widened (F16C)"),
    IsaLevel("avx512", "x86_64", _AVX512_FLAGS, ("-O3", *_AVX512), ("avx2",), "avx512f",
             gains=("float32", "int8", "bf16", "fp16"), int8_weight_max=63,
             doc="512-bit F/BW/VL/DQ; int8 through maddubs (7-bit weights); bf16 and fp16 weights widened to float32"),
    IsaLevel("avx512vnni", "x86_64", (*_AVX512_FLAGS, "avx512_vnni"), ("-O3", *_AVX512, "-mavx512vnni"),
             ("avx512",), "avx512_vnni", gains=("int8",), doc="vpdpbusd u8 x s8 dot products, 8-bit weights"),
    IsaLevel("avx512bf16", "x86_64", (*_AVX512_FLAGS, "avx512_bf16"), ("-O3", *_AVX512, "-mavx512bf16"),
             ("avx512",), "avx512_bf16", gains=("bf16",), int8_weight_max=63, doc="vdpbf16ps bf16 dot products"),
    IsaLevel("avx512fp16", "x86_64", (*_AVX512_FLAGS, "avx512_fp16"), ("-O3", *_AVX512, "-mavx512fp16"),
             ("avx512",), "avx512_fp16", gains=("fp16",), int8_weight_max=63,
             doc="vfmadd231ph: fp16 products on fp16-rounded activations, summed in float32 every few products"),
    # AMX: tile products, used by batched GEMM only; the rest of the library is built as the level
    # it includes (VNNI beside the int8 tiles, AVX512_BF16 beside the bf16 ones), whose CPUs every
    # AMX CPU is. amx_tile tells these machines apart in a key: no CPU has one AMX part without both.
    IsaLevel("amx-int8", "x86_64", (*_AVX512_FLAGS, "avx512_vnni", "amx_tile", "amx_int8"),
             ("-O3", *_AVX512, "-mavx512vnni", *_AMX, "-mamx-int8"), ("avx512vnni",), "amx_tile", gains=("int8",), probed=False,
             doc="AMX int8 tiles (tdpbsud s8 x u8, 8-bit weights): batched GEMM only"),
    IsaLevel("amx-bf16", "x86_64", (*_AVX512_FLAGS, "avx512_bf16", "amx_tile", "amx_bf16"),
             ("-O3", *_AVX512, "-mavx512bf16", *_AMX, "-mamx-bf16"), ("avx512bf16",), "amx_tile", gains=("bf16",),
             int8_weight_max=63, probed=False, doc="AMX bf16 tiles (tdpbf16ps, float32 sums): batched GEMM only"),
    # -DGB_NEON: aarch64 compilers predefine __ARM_NEON at every -march, scalar's too, so the
    # kernels' vector layer (backends/csimd/gb_simd.h) needs the level named to pick NEON.
    IsaLevel("neon", "aarch64", ("asimd",), ("-O3", "-march=armv8-a", "-DGB_NEON"), ("scalar",), "asimd",
             doc="128-bit Advanced SIMD, float FMA (every Armv8-A core); int8 through smull (s8 x s8)"),
    IsaLevel("neon-dotprod", "aarch64", ("asimd", "asimddp"), ("-O3", "-march=armv8.2-a+dotprod", "-DGB_NEON"),
             ("neon",), "asimddp", gains=("int8",), doc="sdot s8 x s8 int8 dot products (Armv8.2 dot product extension)"),
)}

# The flags a feature key shows, in the order it shows them: every level's key_flag, and flags no
# level of ours needs (FP16, SVE, i8mm) that change what other libraries (oneDNN, OpenBLAS) run.
# Written out rather than taken in table order, so a new level never reorders, and so renames,
# the key of a machine already measured (amx_tile came last before the AMX levels existed).
KEY_FLAGS: dict[str, tuple[str, ...]] = {
    "x86_64": ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile"),
    "aarch64": ("asimd", "asimddp", "i8mm", "bf16", "sve"),
}


def host_arch() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def arch_of(cpu_flags: frozenset[str] | set[str]) -> str:
    """The architecture a set of CPU flags comes from (a results row records flags, not the arch)."""
    return "aarch64" if "asimd" in cpu_flags else "x86_64"


def get(name: str) -> IsaLevel:
    try:
        return LEVELS[name]
    except KeyError:
        raise ValueError(f"unknown ISA level {name!r} (known: {', '.join(LEVELS)})") from None


def _runs_on(level: IsaLevel, arch: str) -> bool:
    return level.arch in (ANY_ARCH, arch)


def levels_for(arch: str | None = None) -> list[IsaLevel]:
    """The levels code can be built for on `arch` (default: this machine), in table order."""
    arch = arch or host_arch()
    return [level for level in LEVELS.values() if _runs_on(level, arch)]


@functools.cache
def closure(name: str) -> frozenset[str]:
    """A level with every level it includes, transitively: what a cap at `name` runs."""
    level = get(name)
    return frozenset({name}).union(*(closure(below) for below in level.includes))


def rank(name: str) -> int:
    """How many levels lie below this one: sorts levels from the floor up; unknown names last."""
    return len(closure(name)) - 1 if name in LEVELS else len(LEVELS)


def key_flags(arch: str | None = None) -> tuple[str, ...]:
    """The flags a feature key shows on `arch`, in KEY_FLAGS' order."""
    return KEY_FLAGS.get(arch or host_arch(), ())


def missing_flags(name: str, cpu_flags: frozenset[str] | set[str]) -> tuple[str, ...]:
    return tuple(flag for flag in get(name).cpu_flags if flag not in cpu_flags)


def parse_spec(spec: str) -> frozenset[str]:
    """Levels an `--isa` value allows: one level caps ('avx512' runs scalar, avx2 and avx512),
    a comma list names levels exactly ('scalar,avx512vnni')."""
    names = tuple(part.strip() for part in spec.split(",") if part.strip())
    unknown = [name for name in names if name not in LEVELS]
    if unknown or not names:
        raise UsageError(f"isa {spec!r}: unknown level {', '.join(unknown) or '(none)'}; levels: {', '.join(LEVELS)}")
    return closure(names[0]) if len(names) == 1 else frozenset(names)
