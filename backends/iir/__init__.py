"""The `iir_bank` op on the backends' filter-bank implementations, one module each.

The matrix backends keep their hot paths as they are: the ones that offer filter-bank
implementations list them among their variants (`variants(backend)`, ops = {"iir_bank"}), and
the op wraps the backend in `backend.BankBackend` for its cases (IirBank.compose), as conv1d
and lpcnet_step do. Every prepared bank is a `base.BankRun`: `run`, `reset`, optional
`run_native`, `parts`.
"""

from __future__ import annotations

from gemmbench.backend import Variant
from gemmbench.backends.iir.base import OPS, BankRun
from gemmbench.ops.iir_bank import BLOCK_PREFIX, block_length


def variants(backend: str) -> list[Variant]:
    """The filter-bank variants a backend adds to its own."""
    if backend == "numpy":
        from gemmbench.backends.iir import numpy_block, numpy_loop

        return [numpy_loop.VARIANT, *numpy_block.VARIANTS]
    if backend == "scipy":
        from gemmbench.backends.iir import scipy_sosfilt

        return [scipy_sosfilt.VARIANT]
    if backend == "torch":
        from gemmbench.backends.iir import torch_lfilter

        return list(torch_lfilter.VARIANTS)
    if backend == "csimd":
        from gemmbench.backends.iir import csimd_direct

        return csimd_direct.variants()
    return []


def available(variant: Variant) -> tuple[bool, str]:
    """What a variant needs beyond its backend: torchaudio for lfilter."""
    from gemmbench.backends.iir import torch_lfilter

    return torch_lfilter.available() if variant.name == torch_lfilter.LFILTER.name else (True, "")


def skip_reason(case, variant: Variant) -> str:
    """Why a filter-bank variant cannot run the case ('' when it can)."""
    if case.dtype != "float32" and variant.isa:
        return "csimd's filter-bank kernels are float32"
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


__all__ = ["OPS", "BankRun", "variants", "available", "skip_reason", "prepare"]
