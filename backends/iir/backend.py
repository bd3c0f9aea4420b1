"""iir_bank on a backend's filter-bank implementations: the backend `IirBank.compose` returns."""

from __future__ import annotations

from typing import Any

import numpy as np

from gemmbench.backend import Variant
from gemmbench.backends import iir
from gemmbench.backends.composed import ComposedBackend
from gemmbench.backends.iir.base import BankRun


class BankBackend(ComposedBackend):
    ops = iir.OPS
    implementations = "filter-bank variants"
    takers = "filter banks"

    def variants(self) -> list[Variant]:
        return iir.variants(self.name)

    def variant_available(self, variant: Variant, cpu_flags: frozenset[str]) -> tuple[bool, str]:
        ok, reason = self.base.variant_available(variant, cpu_flags)
        return iir.available(variant) if ok else (ok, reason)

    def implementation_skip_reason(self, case: Any, variant: Variant) -> str:
        return iir.skip_reason(case, variant)

    def prepare(self, workload: Any, variant: Variant) -> BankRun:
        bank = iir.prepare(workload, variant)
        self.native = bank.run_native is not None
        return bank

    def bind(self, prepared: BankRun, x: np.ndarray, out: np.ndarray) -> BankRun:
        return prepared.bind(x, out)

    def run(self, prepared: BankRun, x: np.ndarray, out: np.ndarray) -> None:
        prepared.run(x, out)

    def run_native(self, prepared: BankRun, x: np.ndarray, out: np.ndarray, loops: int) -> int:
        return prepared.run_native(x, out, loops)

    def parts(self, prepared: BankRun, x: np.ndarray) -> dict:
        return prepared.parts(x)

    def reset(self, prepared: BankRun) -> None:
        prepared.reset()

    def describe(self, prepared: BankRun, variant: Variant) -> str:
        return "; ".join(part for part in (prepared.detail, variant.detail, self.versions()) if part)

    def versions(self) -> str:
        if self.name == "numpy":
            from gemmbench.machine.fingerprint import blas_libraries, blas_summary

            return f"numpy {np.__version__} via {blas_summary(blas_libraries())}"
        if self.name == "scipy":
            import scipy

            return f"scipy {scipy.__version__}"
        if self.name == "torch":
            import torch

            try:
                import torchaudio

                audio = f", torchaudio {torchaudio.__version__}"
            except ImportError:
                audio = ""
            return f"torch {torch.__version__}{audio}, {torch.get_num_threads()} intra-op thread(s)"
        return ""
