"""scipy.signal.sosfilt, one call per filter over all signals: the way most users write it.

sosfilt runs its compiled loop in the case dtype (float32 stays float32) and returns a new
array each call, which is copied into (B, F, T) or reduced to frame energies: that allocation
is part of what this way of running a bank costs.
"""

from __future__ import annotations

import numpy as np
import scipy
from scipy import signal as sps

from gemmbench.backends.iir.base import BankRun
from gemmbench.ops import iir_design, iir_reference
from gemmbench.ops.iir_bank import IirBankWorkload


class ScipySosfilt(BankRun):
    def __init__(self, workload: IirBankWorkload):
        super().__init__(workload)
        s = self.spec
        self.sos = np.ascontiguousarray(iir_design.to_sos(workload.coeffs), dtype=self.dtype)  # (F, S, 6)
        self.zi = np.zeros((s.f, s.s, s.b, 2), self.dtype)

    def reset(self) -> None:
        self.zi.fill(0)

    def versions(self) -> str:
        return f"scipy {scipy.__version__}"

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        s = self.spec
        for f in range(s.f):
            y, self.zi[f] = sps.sosfilt(self.sos[f], x, axis=-1, zi=self.zi[f])
            out[:, f] = y if s.output == "full" else iir_reference.frame_energy(y, s.frame)
