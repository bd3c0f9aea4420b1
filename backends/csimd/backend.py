"""The csimd backend: gemmbench's hand-written C kernels, one variant per ISA level and precision.

float32 variants (scalar, avx2, avx512) run dense GEMV/GEMM and LPCNet's 16x1 block-sparse
GEMV; int8 variants (scalar-int8, avx2-int8, avx512-int8, avx512vnni-int8) run dense int8
GEMV and GEMM and 8x4 block-sparse int8 GEMV; bf16 variants run dense and 16x1 GEMV with bf16 weights,
widening them to float32 (avx512-bf16: AVX-512 F/BW is all it needs) or with vdpbf16ps on
bf16-rounded activations (avx512bf16-bf16); fp16 variants likewise with IEEE binary16 weights,
widened (avx2-fp16, avx512-fp16: F16C or AVX-512F) or multiplied in fp16 by vfmadd231ph on
fp16-rounded activations (avx512fp16-fp16). amx-int8 and amx-bf16 run the batched GEMM on AMX
tiles (amx.py), and nothing else. Which kernel runs follows from the case; a case no kernel of
the variant fits is skipped with the reason. `lpcnet_step` runs fused in C
(lpcnet.py), its GRU-A product on the kernel the case would get as a GEMV.

The measured call is one ctypes call of one pointer: `caller` gives the harness a
functools.partial of the C function and a pointer to a gb_call of its own (kernels.Call.caller),
so no Python frame runs in it; `run`, the contract's call, does the same through one frame.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Callable

import numpy as np

from gemmbench.backend import Backend, Variant
from gemmbench.backends.csimd import amx, kernels, lpcnet
from gemmbench.machine import isa, native
from gemmbench.measure.instructions import under_valgrind
from gemmbench.measure.timing import Loop
from gemmbench.op import Case, Workload

MAX_BATCH = 64
GEMM_PRECISIONS = ("float32", "int8")  # the dense batched products (gemm.c) besides the AMX tiles
FP16_TERMS = 8  # GB_FP16_TERMS in gb_simd_fp16.h: products an fp16 lane sums before float32 takes over
BLOCKS = {"float32": (16, 1), "bf16": (16, 1), "fp16": (16, 1), "int8": (8, 4)}  # the block shape each precision's sparse kernel takes
_AMX_ARITHMETIC = {
    "int8": f"AMX tiles, tdpbsud: int8 scheme {kernels.int8_scheme_name('amx-int8')}, u8 activations made in the call",
    "bf16": "AMX tiles, tdpbf16ps: bf16 weights, activations rounded to bf16, float32 sums",
}


# How a level's bf16 and fp16 kernels multiply: (precision, rounds the activations) -> detail.
_HALF_ARITHMETIC = {
    ("bf16", True): "bf16 weights, activations rounded to bf16 (vdpbf16ps)",
    ("bf16", False): "bf16 weights widened to float32, float32 activations",
    ("fp16", True): (f"fp16 weights, activations rounded to fp16, fp16 products (vfmadd231ph) summed "
                     f"{FP16_TERMS} to a lane in fp16, then in float32"),
    ("fp16", False): "fp16 weights widened to float32 (vcvtph2ps), float32 activations",
}


def _facts(level: isa.IsaLevel) -> SimpleNamespace:
    """What a level's library would report of its bf16 and fp16 arithmetic, from the ISA table alone
    (variants are listed without loading libraries)."""
    return SimpleNamespace(bf16_rounds_activations="avx512_bf16" in level.cpu_flags,
                           fp16_lane_terms=FP16_TERMS if "avx512_fp16" in level.cpu_flags else 0)


def _variant(level: isa.IsaLevel, precision: str) -> Variant:
    flags = " ".join(native.compile_flags(level))
    if precision == "float32":
        return Variant(level.name, isa=level.name, requires=level.cpu_flags, detail=f"cc {flags}")
    if amx.is_amx_level(level.name):  # the level's name says its precision already
        return Variant(level.name, precision=precision, isa=level.name, requires=level.cpu_flags,
                       detail=f"{_AMX_ARITHMETIC[precision]}, batched GEMM only; cc {flags}")
    if precision == "int8":
        what = kernels.int8_description(level.name)
    else:
        what = _HALF_ARITHMETIC[precision, kernels.rounds_activations(_facts(level), precision)]
    return Variant(f"{level.name}-{precision}", precision=precision, isa=level.name, requires=level.cpu_flags,
                   detail=f"{what}; cc {flags}")


class CSimdBackend(Backend):
    name = "csimd"
    ops = frozenset({"gemv", "gemm", "lpcnet_step"})
    dtypes = frozenset({"float32"})

    def available(self) -> tuple[bool, str]:
        try:
            native.build(kernels.sources(), "scalar", name="csimd")
        except native.NativeBuildError as exc:
            return False, str(exc)
        return True, ""

    def build(self, ops: frozenset[str] = frozenset()) -> str:
        """Compile the kernels of every level this CPU runs, and the filter-bank kernels when iir_bank
        runs (cached: a second build compiles nothing)."""
        families = ["csimd"] + (["iir"] if "iir_bank" in ops else [])
        built = []
        for family in families:
            for level in kernels.family_levels(family):
                if native.missing_cpu_flags(level):
                    continue
                name = "csimd" if family == "csimd" else f"csimd-{family}"
                cached = native.library_path(kernels.sources(family), level, name=name).exists()
                native.build(kernels.sources(family), level, name=name)
                built.append(f"{'' if family == 'csimd' else family + ' '}{level} ({'cached' if cached else 'compiled'})")
        return "csimd kernels: " + ", ".join(built)

    def variants(self) -> list[Variant]:
        levels = [level for level in isa.levels_for() if level.name in kernels.LEVELS]
        return [_variant(level, precision) for precision in kernels.PRECISIONS for level in levels
                if precision in level.gains]

    def variant_available(self, variant: Variant, cpu_flags: frozenset[str]) -> tuple[bool, str]:
        """Beside the CPU flags, AMX needs the kernel's permission, and runs nowhere under valgrind."""
        if amx.is_amx_level(variant.isa) and under_valgrind():
            return False, "valgrind runs no AMX tile instructions (its CPUID hides amx_tile)"
        ok, reason = super().variant_available(variant, cpu_flags)
        if not ok or not amx.is_amx_level(variant.isa):
            return ok, reason
        try:
            reason = amx.refusal(kernels.load_kernels(variant.isa, cpu_flags))
        except native.NativeBuildError as exc:
            return False, str(exc)
        return not reason, reason

    def skip_reason(self, case: Case, variant: Variant) -> str:
        reason = super().skip_reason(case, variant)
        if reason:
            return reason
        precision = variant.precision or "float32"
        block = case.spec.sparsity.block if case.spec.sparsity else None
        if amx.is_amx_level(variant.isa):
            if case.op != "gemm" or block:
                return f"the AMX tile kernels run dense batched GEMM only; this case is {'sparse ' if block else ''}{case.op}"
            return ""
        if case.op == "gemm" and (precision not in GEMM_PRECISIONS or block):
            return ("csimd's GEMMs are dense float32 and int8 (and bf16 on AMX tiles, variant amx-bf16); "
                    f"this case is {'sparse ' if block else ''}{precision}")
        if case.op == "gemm" and case.spec.n > MAX_BATCH:
            return f"csimd's GEMM is tuned for small batches (n <= {MAX_BATCH}); n = {case.spec.n}"
        wanted = BLOCKS[precision]
        if block and block != wanted:
            return (f"the {precision} sparse kernel takes {wanted[0]}x{wanted[1]} blocks; "
                    f"this case has {block[0]}x{block[1]}")
        return ""

    def prepare(self, workload: Workload, variant: Variant) -> kernels.Call | lpcnet.LpcnetStep:
        lib = kernels.load_kernels(variant.isa)
        case = workload.case
        precision = variant.precision or "float32"
        if case.op == "lpcnet_step":
            return lpcnet.prepare_step(lib, workload, precision)
        if amx.is_amx_level(variant.isa):
            return kernels.bind(amx.prepare_gemm(lib, workload.weights, precision))
        mask = workload.block_mask if case.spec.sparsity is not None else None
        return kernels.bind(kernels.prepare_gemv(lib, workload.weights, precision, mask, workload.diagonal))

    def bind(self, prepared: kernels.Call | lpcnet.LpcnetStep, x: np.ndarray, out: np.ndarray):
        prepared.bind(x, out)
        return prepared

    def run(self, prepared: kernels.Call | lpcnet.LpcnetStep, x: np.ndarray, out: np.ndarray) -> None:
        fn, arg, bound_x, bound_out = prepared.state
        if x is not bound_x or out is not bound_out:
            prepared.bind(x, out)
        fn(arg)

    def caller(self, prepared: kernels.Call | lpcnet.LpcnetStep, x: np.ndarray, out: np.ndarray) -> Callable[[], None]:
        """The C function on a gb_call of its own for x and out: no Python frame of ours in the call."""
        if isinstance(prepared, lpcnet.LpcnetStep):
            return super().caller(prepared, x, out)
        return kernels.bind(prepared.operand, x, out).caller()

    def run_native(self, prepared: kernels.Call | lpcnet.LpcnetStep, x: np.ndarray, out: np.ndarray,
                   loops: int) -> int:
        if isinstance(prepared, lpcnet.LpcnetStep):
            return lpcnet.run_time(prepared, x, out, loops)  # the harness reads the thread's clocks around it
        return kernels.run_clocks(prepared, x, out, loops)

    def parts(self, prepared: kernels.Call | lpcnet.LpcnetStep, x: np.ndarray) -> dict[str, tuple[Loop, float]]:
        """The fused step's parts as native loops; a GEMV has none."""
        if isinstance(prepared, lpcnet.LpcnetStep):
            return lpcnet.part_loops(prepared, x)
        return {}

    def call_floor(self) -> Loop:
        """n calls of gb_noop through the one-pointer call path `run` uses."""
        return kernels.bare_call_loop()

    def describe(self, prepared: kernels.Call | lpcnet.LpcnetStep, variant: Variant) -> str:
        if isinstance(prepared, lpcnet.LpcnetStep):
            return f"{lpcnet.describe(prepared)}; {variant.detail}"
        operand = prepared.operand
        kernel = operand.batched_kernel if prepared.block.n > 1 and operand.batched_kernel else operand.kernel
        return f"{kernel} ({variant.isa}); {variant.detail}"
