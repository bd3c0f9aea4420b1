"""What every prepared filter bank is: a stateful call, its reset, what it records."""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from gemmbench.method import Prepared
from gemmbench.ops.iir_bank import IirBankSpec, IirBankWorkload


class BankRun(Prepared):
    """A prepared bank: `run` filters the next T samples of each signal, continuing the state.

    `detail` says what was chosen at prepare beyond the variant (lanes, chains, stores)."""

    def __init__(self, workload: IirBankWorkload, detail: str = ""):
        self.spec: IirBankSpec = workload.spec
        self.dtype = np.dtype(workload.case.dtype)
        self.detail = detail

    @abstractmethod
    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        ...

    @abstractmethod
    def reset(self) -> None:
        """Back to the zero state prepare left."""

    def bind(self, x: np.ndarray, out: np.ndarray) -> BankRun:
        """Remember the arrays every later call gets (parts time against the same output)."""
        self.bound = (x, out)
        return self

    def describe(self) -> str:
        return "; ".join(part for part in (self.detail, self.versions()) if part)

    def versions(self) -> str:
        """The versions of the libraries the bank runs on."""
        return ""


def numpy_versions() -> str:
    from gemmbench.machine.fingerprint import blas_libraries, blas_summary

    return f"numpy {np.__version__} via {blas_summary(blas_libraries())}"
