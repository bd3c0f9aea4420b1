"""numpy, vectorised across signals and filters, a Python loop over time: the seed's slow path.

Each sample updates every (signal, filter) pair at once in transposed direct form II with
ufuncs writing into preallocated arrays, so the measured call allocates nothing; outputs are
gathered time-major in a chunk buffer and transposed into (B, F, T) a chunk at a time.
"""

from __future__ import annotations

import numpy as np

from gemmbench.backends.iir.base import BankRun, numpy_versions
from gemmbench.ops.iir_bank import IirBankWorkload

CHUNK = 256  # samples gathered time-major before one transposing copy into the output


class NumpyLoop(BankRun):
    def __init__(self, workload: IirBankWorkload):
        super().__init__(workload)
        s, dt = self.spec, self.dtype
        # (S, 5, 1, F): broadcasts against (B, F)
        self.c = np.ascontiguousarray(workload.coeffs.transpose(1, 2, 0)[:, :, None, :], dtype=dt)
        self.s1 = np.zeros((s.s, s.b, s.f), dt)
        self.s2 = np.zeros_like(self.s1)
        self.y = np.zeros((s.b, s.f), dt)
        self.tmp = np.zeros_like(self.y)
        self.energy = np.zeros_like(self.y)
        self.chunk = np.zeros((min(CHUNK, s.t), s.b, s.f), dt) if s.output == "full" else None

    def reset(self) -> None:
        self.s1.fill(0)
        self.s2.fill(0)

    def versions(self) -> str:
        return numpy_versions()

    def _sample(self, xt: np.ndarray, y: np.ndarray) -> None:
        """One sample through every section; xt (B, 1), result in y (B, F)."""
        tmp = self.tmp
        for k in range(self.spec.s):
            b0, b1, b2, a1, a2 = self.c[k]
            s1, s2 = self.s1[k], self.s2[k]
            src = xt if k == 0 else y
            np.multiply(b0, src, out=tmp)
            np.add(tmp, s1, out=tmp)  # new y, kept until s1 and s2 are updated
            np.multiply(b1, src, out=s1)
            s1 += s2
            np.multiply(b2, src, out=s2)
            np.multiply(a1, tmp, out=y)
            s1 -= y
            np.multiply(a2, tmp, out=y)
            s2 -= y
            y[...] = tmp

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        s = self.spec
        xs = x[:, :, None]  # (B, T, 1)
        if s.output == "energy":
            self.energy.fill(0)
            for t in range(s.t):
                self._sample(xs[:, t], self.y)
                np.multiply(self.y, self.y, out=self.tmp)
                self.energy += self.tmp
                if (t + 1) % s.frame == 0:
                    out[:, :, t // s.frame] = self.energy
                    self.energy.fill(0)
            return
        chunk = self.chunk
        for t0 in range(0, s.t, len(chunk)):
            n = min(len(chunk), s.t - t0)
            for j in range(n):
                self._sample(xs[:, t0 + j], chunk[j])
            out[:, :, t0:t0 + n] = chunk[:n].transpose(1, 2, 0)
