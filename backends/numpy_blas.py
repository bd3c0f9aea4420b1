"""numpy's matmul into a preallocated output: whatever BLAS numpy links (OpenBLAS, MKL, Accelerate)."""

from __future__ import annotations

import numpy as np

from gemmbench.backend import Backend, Variant
from gemmbench.machine import blas_libraries, blas_summary
from gemmbench.op import Workload


class NumpyBackend(Backend):
    name = "numpy"
    ops = frozenset({"gemv", "gemm"})

    def variants(self) -> list[Variant]:
        return [Variant("matmul", detail="np.matmul(W, x, out=out)")]

    def prepare(self, workload: Workload, variant: Variant) -> np.ndarray:
        # Sparse cases run dense here: the baseline sparse formats must beat.
        return np.ascontiguousarray(workload.weights)

    def run(self, prepared: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
        np.matmul(prepared, x, out=out)

    def describe(self, prepared: np.ndarray, variant: Variant) -> str:
        return f"{variant.detail} via {blas_summary(blas_libraries())}"
