"""The csimd backend: gemmbench's hand-written C kernels, one variant per ISA level and precision.

float32 variants (scalar, avx2, avx512) run dense GEMV/GEMM and LPCNet's 16x1 block-sparse
GEMV; int8 variants (scalar-int8, avx2-int8, avx512-int8, avx512vnni-int8) run dense int8
GEMV and 8x4 block-sparse int8 GEMV. Which kernel runs follows from the case; a case no
kernel of the variant fits is skipped with the reason. `lpcnet_step` runs fused in C
(lpcnet.py), its GRU-A product on the kernel the case would get as a GEMV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from gemmbench import isa, native
from gemmbench.backend import Backend, Variant
from gemmbench.backends.csimd import kernels, lpcnet
from gemmbench.timing import Loop
from gemmbench.op import Case, Workload

MAX_BATCH = 64
GEMV_CALLS = {
    kernels.DenseF32: (kernels.sgemv, kernels.sgemv_time),
    kernels.Sparse16F32: (kernels.sparse16_sgemv, kernels.sparse16_sgemv_time),
    kernels.DenseInt8: (kernels.int8_gemv, kernels.int8_gemv_time),
    kernels.Sparse8x4Int8: (kernels.sparse8x4_int8_gemv, kernels.sparse8x4_int8_gemv_time),
}


@dataclass(frozen=True)
class Kernel:
    """A prepared kernel with its call and native-loop functions."""

    name: str
    prepared: object
    call: Callable[[object, np.ndarray, np.ndarray], None]
    time: Callable[[object, np.ndarray, np.ndarray, int], int]


def _variant(level: isa.IsaLevel, int8: bool) -> Variant:
    flags = " ".join(native.compile_flags(level))
    if int8:
        scheme = kernels.int8_scheme_name(level.name)
        return Variant(f"{level.name}-int8", precision="int8", isa=level.name, requires=level.cpu_flags,
                       detail=f"int8 scheme {scheme}; cc {flags}")
    return Variant(level.name, isa=level.name, requires=level.cpu_flags, detail=f"cc {flags}")


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

    def build(self) -> str:
        """Compile the kernels of every level this CPU runs (cached: a second build compiles nothing)."""
        built = []
        for level in kernels.LEVELS:
            if native.missing_cpu_flags(level):
                continue
            cached = native.library_path(kernels.sources(), level, name="csimd").exists()
            native.build(kernels.sources(), level, name="csimd")
            built.append(f"{level} ({'cached' if cached else 'compiled'})")
        return "csimd kernels: " + ", ".join(built)

    def variants(self) -> list[Variant]:
        levels = [level for level in isa.levels_for() if level.name in kernels.LEVELS]
        from gemmbench.backends.conv1d.variants import variants as conv1d_variants
        from gemmbench.backends.iir import variants as iir_variants

        return ([_variant(level, False) for level in levels if "float32" in level.gains]
                + [_variant(level, True) for level in levels if "int8" in level.gains] + conv1d_variants(self.name)
                + iir_variants(self.name))

    def skip_reason(self, case: Case, variant: Variant) -> str:
        reason = super().skip_reason(case, variant)
        if reason:
            return reason
        int8 = variant.precision == "int8"
        block = case.spec.sparsity.block if case.spec.sparsity else None
        if case.op == "gemm" and (int8 or block):
            return "csimd has no int8 or sparse GEMM kernel; its GEMM is dense float32"
        if case.op == "gemm" and case.spec.n > MAX_BATCH:
            return f"csimd's GEMM is tuned for small batches (n <= {MAX_BATCH}); n = {case.spec.n}"
        if block and int8 and block != (8, 4):
            return f"the int8 sparse kernel takes 8x4 blocks; this case has {block[0]}x{block[1]}"
        if block and not int8 and block != (16, 1):
            return f"the float32 sparse kernel takes LPCNet's 16x1 blocks; this case has {block[0]}x{block[1]}"
        return ""

    def prepare(self, workload: Workload, variant: Variant) -> Kernel:
        lib = kernels.load_kernels(variant.isa)
        case, w = workload.case, workload.weights
        int8 = variant.precision == "int8"
        if case.op == "lpcnet_step":
            step = lpcnet.prepare_step(lib, workload, int8)
            return Kernel("lpcnet_step", step, lpcnet.run, lpcnet.run_time)
        if case.op == "gemm":
            return Kernel("sgemm", kernels.pack_dense(lib, w), kernels.sgemm, kernels.sgemm_time)
        mask = workload.block_mask if case.spec.sparsity is not None else None
        p = kernels.prepare_gemv(lib, w, int8, mask, workload.diagonal)
        return Kernel(p.kernel, p, *GEMV_CALLS[type(p)])

    def run(self, prepared: Kernel, x: np.ndarray, out: np.ndarray) -> None:
        prepared.call(prepared.prepared, x, out)

    def run_native(self, prepared: Kernel, x: np.ndarray, out: np.ndarray, loops: int) -> int:
        return prepared.time(prepared.prepared, x, out, loops)

    def parts(self, prepared: Kernel, x: np.ndarray) -> dict[str, tuple[Loop, float]]:
        """The fused step's parts as native loops; a GEMV has none."""
        if isinstance(prepared.prepared, lpcnet.LpcnetStep):
            return lpcnet.part_loops(prepared.prepared, x)
        return {}

    def describe(self, prepared: Kernel, variant: Variant) -> str:
        if isinstance(prepared.prepared, lpcnet.LpcnetStep):
            return f"{lpcnet.describe(prepared.prepared)}; {variant.detail}"
        return f"{prepared.name} ({variant.isa}); {variant.detail}"
