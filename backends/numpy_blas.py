"""numpy's matmul into a preallocated output: whatever BLAS numpy links (OpenBLAS, MKL, Accelerate).

iir_bank cases run numpy's filter-bank implementations (backends/iir: the per-sample loop and
the block GEMM form), each its own variant.
"""

from __future__ import annotations

import numpy as np

from gemmbench.backend import Backend, Variant
from gemmbench.backends import iir
from gemmbench.machine import blas_libraries, blas_summary
from gemmbench.op import Workload


class NumpyBackend(Backend):
    name = "numpy"
    ops = frozenset({"gemv", "gemm", "iir_bank"})

    def variants(self) -> list[Variant]:
        return [Variant("matmul", detail="np.matmul(W, x, out=out)"), *iir.numpy_variants()]

    def skip_reason(self, case, variant: Variant) -> str:
        return super().skip_reason(case, variant) or iir.skip_reason(case, variant)

    def prepare(self, workload: Workload, variant: Variant) -> np.ndarray | iir.BankRun:
        if workload.case.op == "iir_bank":
            return iir.prepare(workload, variant)
        # Sparse cases run dense here: the baseline sparse formats must beat.
        return np.ascontiguousarray(workload.weights)

    def bind(self, prepared, x: np.ndarray, out: np.ndarray):
        return prepared.bind(x, out) if isinstance(prepared, iir.BankRun) else prepared

    def run(self, prepared: np.ndarray | iir.BankRun, x: np.ndarray, out: np.ndarray) -> None:
        if isinstance(prepared, iir.BankRun):
            prepared.run(x, out)
        else:
            np.matmul(prepared, x, out=out)

    def reset(self, prepared) -> None:
        if isinstance(prepared, iir.BankRun):
            prepared.reset()

    def parts(self, prepared, x: np.ndarray) -> dict:
        """A block-form bank's Toeplitz products alone (its sgemm comparison); nothing for a matmul."""
        return prepared.parts(x) if isinstance(prepared, iir.BankRun) else {}

    def describe(self, prepared: np.ndarray | iir.BankRun, variant: Variant) -> str:
        what = prepared.detail if isinstance(prepared, iir.BankRun) else variant.detail
        return f"{what} via {blas_summary(blas_libraries())}"
