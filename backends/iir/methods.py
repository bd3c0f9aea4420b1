"""The filter-bank methods, each registered for the backend it runs on (entry-point group
`gemmbench.methods` in pyproject.toml). The implementations (one module each) are imported when a
method is first prepared, so listing a backend's variants loads neither scipy.signal nor torch.
"""

from __future__ import annotations

from gemmbench.backend import Variant
from gemmbench.backends.iir.base import BankRun
from gemmbench.machine import isa
from gemmbench.method import Method
from gemmbench.op import Case
from gemmbench.ops.iir_bank import IirBankWorkload

BLOCK_LENGTHS = (16, 32, 64, 128)
FTZ_DETAIL = ("FTZ+DAZ for the call (x86: MXCSR bits 15 and 6; aarch64: FPCR.FZ), the control word saved "
              "before and restored after")


class BankMethod(Method):
    op = "iir_bank"


class NumpyLoopMethod(BankMethod):
    """The seed's slow path: ufuncs over (B, F) per sample, a Python loop over T."""

    backends = frozenset({"numpy"})

    def variants(self) -> list[Variant]:
        return [Variant("iir-loop", detail="numpy ufuncs over (B, F) per sample, Python loop over T")]

    def prepare(self, workload: IirBankWorkload, variant: Variant) -> BankRun:
        from gemmbench.backends.iir import numpy_loop

        return numpy_loop.NumpyLoop(workload)


class NumpyBlockMethod(BankMethod):
    """The block form through BLAS, one variant per block length L."""

    backends = frozenset({"numpy"})

    def lengths(self) -> dict[str, int]:
        return {f"block-L{length}": length for length in BLOCK_LENGTHS}

    def variants(self) -> list[Variant]:
        return [Variant(name, detail=f"block form, L = {length}: stacked np.matmul (BLAS) per signal, "
                                     f"state scan over blocks in numpy") for name, length in self.lengths().items()]

    def prepare(self, workload: IirBankWorkload, variant: Variant) -> BankRun:
        from gemmbench.backends.iir import numpy_block

        return numpy_block.NumpyBlock(workload, self.lengths()[variant.name])


class ScipySosfiltMethod(BankMethod):
    backends = frozenset({"scipy"})

    def variants(self) -> list[Variant]:
        return [Variant("sosfilt", detail="scipy.signal.sosfilt per filter over (B, T), zi carried")]

    def prepare(self, workload: IirBankWorkload, variant: Variant) -> BankRun:
        from gemmbench.backends.iir import scipy_sosfilt

        return scipy_sosfilt.ScipySosfilt(workload)


class TorchLfilterMethod(BankMethod):
    backends = frozenset({"torch"})
    dtypes = frozenset({"float32"})

    def variants(self) -> list[Variant]:
        return [Variant("lfilter", detail="torchaudio.functional.lfilter, (F, 3) coefficients over the input "
                                          "expanded to (B, F, T), clamp=False; state by superposing the zero-input "
                                          "response")]

    def available(self, variant: Variant) -> tuple[bool, str]:
        import importlib.util

        if importlib.util.find_spec("torchaudio") is None:
            return False, "torchaudio not installed (pip install 'gemmbench[torchaudio]')"
        return True, ""

    def prepare(self, workload: IirBankWorkload, variant: Variant) -> BankRun:
        from gemmbench.backends.iir import torch_lfilter

        return torch_lfilter.TorchLfilter(workload)


class TorchLoopMethod(BankMethod):
    backends = frozenset({"torch"})
    dtypes = frozenset({"float32"})

    def variants(self) -> list[Variant]:
        return [Variant("loop", detail="torch ops on (B, F) per sample, Python loop over T (the forum post's "
                                       "version A)")]

    def prepare(self, workload: IirBankWorkload, variant: Variant) -> BankRun:
        from gemmbench.backends.iir import torch_lfilter

        return torch_lfilter.TorchLoop(workload)


# ---------------------------------------------------------------- csimd: lane per filter, per ISA level

def _csimd_levels() -> list[isa.IsaLevel]:
    from gemmbench.backends.csimd import kernels

    return kernels.float32_levels()


def _cc(level: isa.IsaLevel) -> str:
    from gemmbench.machine import native

    return f"cc {' '.join(native.compile_flags(level))}"


class CsimdMethod(BankMethod):
    """csimd's float32 kernels: up to MAX_SECTIONS sections per filter."""

    backends = frozenset({"csimd"})
    dtypes = frozenset({"float32"})

    def skip_reason(self, case: Case, variant: Variant) -> str:
        from gemmbench.backends.iir.csimd_direct import skip_reason

        return skip_reason(case.spec)


class CsimdDirectMethod(CsimdMethod):
    """Transposed direct form II, lane per filter."""

    def variants(self) -> list[Variant]:
        return [Variant(f"iir-{level.name}", isa=level.name, requires=level.cpu_flags,
                        detail=f"lane per filter, TDF-II; {FTZ_DETAIL}; {_cc(level)}") for level in _csimd_levels()]

    def prepare(self, workload: IirBankWorkload, variant: Variant) -> BankRun:
        from gemmbench.backends.iir import csimd_direct

        return csimd_direct.CsimdDirect(workload, variant.isa)


class CsimdBlockMethod(CsimdMethod):
    """The block form, lane per filter, per vector ISA level and block length L."""

    def blocks(self) -> dict[str, tuple[isa.IsaLevel, int]]:
        """Variant name -> (level, L)."""
        return {f"block-L{length}-{level.name}": (level, length) for level in _csimd_levels()
                if level.name != "scalar" for length in BLOCK_LENGTHS}

    def variants(self) -> list[Variant]:
        return [Variant(name, isa=level.name, requires=level.cpu_flags,
                        detail=f"block form, L = {length}, lane per filter (Toeplitz, read-out, push in registers); "
                               f"{FTZ_DETAIL}; {_cc(level)}") for name, (level, length) in self.blocks().items()]

    def prepare(self, workload: IirBankWorkload, variant: Variant) -> BankRun:
        from gemmbench.backends.iir import csimd_direct

        return csimd_direct.CsimdDirect(workload, variant.isa, length=self.blocks()[variant.name][1])
