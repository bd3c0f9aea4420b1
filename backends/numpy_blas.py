"""numpy's matmul into a preallocated output: whatever BLAS numpy links (OpenBLAS, MKL, Accelerate)."""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from gemmbench.backend import Backend, Variant
from gemmbench.cases.workload import aligned_copy
from gemmbench.machine.fingerprint import blas_libraries, blas_summary
from gemmbench.op import Workload


class NumpyBackend(Backend):
    name = "numpy"
    ops = frozenset({"gemv", "gemm"})

    def variants(self) -> list[Variant]:
        return [Variant("matmul", detail="np.matmul(W, x, out=out)")]

    def prepare(self, workload: Workload, variant: Variant) -> np.ndarray:
        # Sparse cases run dense here: the baseline sparse formats must beat. 64-byte aligned like
        # every other backend's packed weights, so BLAS takes the same path (and instruction count) each run.
        return aligned_copy(workload.weights)

    def run(self, prepared: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
        np.matmul(prepared, x, out=out)

    def caller(self, prepared: np.ndarray, x: np.ndarray, out: np.ndarray) -> Callable[[], None]:
        """np.matmul itself with the arrays bound: what a Python loop calling numpy pays, no frame of ours."""
        return functools.partial(np.matmul, prepared, x, out)  # out positional: no keyword dict per call

    def describe(self, prepared: np.ndarray, variant: Variant) -> str:
        return f"{variant.detail} via {blas_summary(blas_libraries())}"
