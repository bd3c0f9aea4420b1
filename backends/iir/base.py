"""What every prepared filter bank is: a stateful call, its reset, what it records."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import numpy as np

from gemmbench.backend import Variant
from gemmbench.ops.iir_bank import IirBankSpec, IirBankWorkload

OPS = frozenset({"iir_bank"})


def variant(name: str, detail: str, **kwargs) -> Variant:
    """A variant that runs iir_bank and nothing else."""
    return Variant(name, detail=detail, ops=OPS, **kwargs)


class BankRun(ABC):
    """A prepared bank: `run` filters the next T samples of each signal, continuing the state."""

    def __init__(self, workload: IirBankWorkload, detail: str):
        self.spec: IirBankSpec = workload.spec
        self.dtype = np.dtype(workload.case.dtype)
        self.detail = detail

    @abstractmethod
    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        ...

    @abstractmethod
    def reset(self) -> None:
        """Back to the zero state prepare left."""

    run_native = None  # optional: (x, out, loops) -> ns, the call looped inside native code

    def bind(self, x: np.ndarray, out: np.ndarray) -> "BankRun":
        """Remember the arrays every later call gets (parts time against the same output)."""
        self.bound = (x, out)
        return self

    def parts(self, x: np.ndarray) -> dict[str, tuple[Callable[[int], int], float]]:
        """Parts worth timing apart (a write floor, an input expansion), as timing loops."""
        return {}
