"""The backends' implementations of the `iir_bank` op, one module each.

numpy, scipy and csimd keep their place as backends and dispatch on case.op: their filter-bank
variants (Variant.ops = {"iir_bank"}) are listed here and `prepare` builds the one a variant
names. Every prepared bank is a `base.BankRun`: `run`, `reset`, optional `run_native`, `parts`.
"""

from __future__ import annotations

from gemmbench.backend import Variant
from gemmbench.backends.iir.base import OPS, BankRun
from gemmbench.ops.iir_bank import BLOCK_PREFIX, block_length


def numpy_variants() -> list[Variant]:
    from gemmbench.backends.iir import numpy_block, numpy_loop

    return [numpy_loop.VARIANT, *numpy_block.VARIANTS]


def scipy_variants() -> list[Variant]:
    from gemmbench.backends.iir import scipy_sosfilt

    return [scipy_sosfilt.VARIANT]


def csimd_variants() -> list[Variant]:
    from gemmbench.backends.iir import csimd_direct

    return csimd_direct.variants()


def torch_variants() -> list[Variant]:
    from gemmbench.backends.iir import torch_lfilter

    return list(torch_lfilter.VARIANTS)


def torch_available(variant: Variant) -> tuple[bool, str]:
    """The plain loop needs torch (the backend checks it); lfilter needs torchaudio too."""
    from gemmbench.backends.iir import torch_lfilter

    return torch_lfilter.available() if variant.name == torch_lfilter.LFILTER.name else (True, "")


def skip_reason(case, variant: Variant) -> str:
    """Why `variant` cannot run the case when it is an iir_bank case ('' when it can)."""
    if case.op != "iir_bank":
        return ""
    if variant.ops != OPS:
        return (f"variant '{variant.name}' computes matrix products; iir_bank runs on the backend's "
                f"filter-bank variants")
    if case.dtype != "float32" and variant.isa:
        return "csimd's filter-bank kernel is float32"
    if variant.isa:
        from gemmbench.backends.iir import csimd_direct

        return csimd_direct.skip_reason(case.spec)
    return ""


def prepare(workload, variant: Variant) -> BankRun:
    """The bank implementation `variant` names, prepared for `workload` (state at zero)."""
    name = variant.name
    if name == "iir-loop":
        from gemmbench.backends.iir.numpy_loop import NumpyLoop

        return NumpyLoop(workload)
    if name.startswith(BLOCK_PREFIX) and variant.isa:
        from gemmbench.backends.iir.csimd_direct import CsimdDirect

        return CsimdDirect(workload, variant.isa, length=block_length(name))
    if name.startswith(BLOCK_PREFIX):
        from gemmbench.backends.iir.numpy_block import NumpyBlock

        return NumpyBlock(workload, block_length(name), variant.detail)
    if name == "sosfilt":
        from gemmbench.backends.iir.scipy_sosfilt import ScipySosfilt

        return ScipySosfilt(workload)
    if name in ("lfilter", "loop"):
        from gemmbench.backends.iir import torch_lfilter

        return (torch_lfilter.TorchLfilter if name == "lfilter" else torch_lfilter.TorchLoop)(workload)
    if name.startswith("iir-") and variant.isa:
        from gemmbench.backends.iir.csimd_direct import CsimdDirect

        return CsimdDirect(workload, variant.isa)
    raise ValueError(f"no filter-bank implementation for variant {name!r}")


__all__ = ["OPS", "BankRun", "numpy_variants", "scipy_variants", "csimd_variants", "torch_variants",
           "torch_available", "skip_reason", "prepare"]
