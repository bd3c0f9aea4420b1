"""iir_bank on a backend's filter-bank implementations: the backend `IirBank.compose` returns."""

from __future__ import annotations

from typing import Any

import numpy as np

from gemmbench.backend import Backend, Variant
from gemmbench.backends import iir
from gemmbench.backends.iir.base import BankRun


class BankBackend(Backend):
    ops = iir.OPS

    def __init__(self, base: Backend):
        self.base = base
        self.name = base.name
        self.dtypes = frozenset({"float32"}) if base.name in ("csimd", "torch") else base.dtypes
        self.install_hint = base.install_hint
        self.native = False  # whether the bank prepared last loops natively (csimd's do)

    def available(self) -> tuple[bool, str]:
        return self.base.available()

    def variants(self) -> list[Variant]:
        return iir.variants(self.name)

    def variant_available(self, variant: Variant, cpu_flags: frozenset[str]) -> tuple[bool, str]:
        ok, reason = self.base.variant_available(variant, cpu_flags)
        return iir.available(variant) if ok else (ok, reason)

    def skip_reason(self, case: Any, variant: Variant) -> str:
        if case.op not in self.ops:
            return f"{self.name}'s filter-bank variants run op iir_bank only"
        if case.dtype not in self.dtypes:
            return f"{self.name}'s filter banks take {', '.join(sorted(self.dtypes))}; this case is {case.dtype}"
        if variant.name not in {v.name for v in self.variants()}:
            names = ", ".join(v.name for v in self.variants())
            return f"{variant.name} is not one of {self.name}'s filter-bank variants ({names})"
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

    def offers(self, capability: str) -> bool:
        """run_native only for the banks that loop natively: one composed backend serves one item."""
        if capability == "run_native":
            return self.native
        return super().offers(capability)

    def parts(self, prepared: BankRun, x: np.ndarray) -> dict:
        return prepared.parts(x)

    def reset(self, prepared: BankRun) -> None:
        prepared.reset()

    def describe(self, prepared: BankRun, variant: Variant) -> str:
        return "; ".join(part for part in (prepared.detail, variant.detail, self.versions()) if part)

    def versions(self) -> str:
        if self.name == "numpy":
            from gemmbench.machine import blas_libraries, blas_summary

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
