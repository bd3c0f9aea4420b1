"""The block form through numpy's BLAS: L samples of every filter per matrix product.

Per call, with X the input cut into blocks (B, T/L, L) and each filter's block matrices
(blockform.py) rounded to the case dtype:

1. Z = X C_L^T for every filter at once (a stacked matmul): each block's push on the state;
2. the states at block starts, s_{k+1} = A^L s_k + z_k: a Python loop over blocks, vectorised
   across signals and filters (n = 2S states each);
3. per signal, Y = X T_L^T + S O_L^T: stacked GEMMs (F of (T/L x L) @ (L x L)) written straight
   into (B, F, T) when L divides T;
4. the last T mod L samples run the state-space recurrence sample by sample.

The GEMMs of a call do 2 L + 4n + ... multiply-adds per filter-sample against the recurrence's
9 FLOPs per section-sample (iir_bank.block_gemm_flops); the part `sgemm_same_shape` times step 3's Toeplitz
products alone (np.matmul at the same shapes), so a row sets the block path's GEMM rate beside
the machine's sgemm at that shape.
"""

from __future__ import annotations

import numpy as np

from gemmbench.backends.iir import blockform
from gemmbench.backends.iir.base import BankRun, numpy_versions
from gemmbench.measure.timing import Loop, python_loop
from gemmbench.op import Case
from gemmbench.ops import iir_reference
from gemmbench.ops.iir_bank import IirBankWorkload


class NumpyBlock(BankRun):
    def __init__(self, workload: IirBankWorkload, length: int):
        super().__init__(workload)
        s, dt = self.spec, self.dtype
        forms = blockform.bank(workload.coeffs, length)
        self.length = length
        self.blocks = s.t // length
        n = 2 * s.s
        self.tt = np.ascontiguousarray(np.stack([f.toeplitz.T for f in forms]), dtype=dt)  # (F, L, L)
        self.ot = np.ascontiguousarray(np.stack([f.observe.T for f in forms]), dtype=dt)  # (F, n, L)
        self.ct = np.ascontiguousarray(np.stack([f.control.T for f in forms]), dtype=dt)  # (F, L, n)
        self.pt = np.ascontiguousarray(np.stack([f.power.T for f in forms]), dtype=dt)  # (F, n, n)
        self.at = np.ascontiguousarray(np.stack([f.system.a.T for f in forms]), dtype=dt)  # (F, n, n)
        self.bv = np.stack([f.system.b for f in forms]).astype(dt)  # (F, n)
        self.cv = np.stack([f.system.c for f in forms]).astype(dt)  # (F, n)
        self.dv = np.array([f.system.d for f in forms], dtype=dt)  # (F,)
        self.state = np.zeros((s.b, s.f, 1, n), dt)
        self.z = np.zeros((s.b, s.f, self.blocks, n), dt)
        self.starts = np.zeros((s.b, s.f, self.blocks, n), dt)  # state at each block's start
        self.step = np.zeros((s.b, s.f, 1, n), dt)
        self.tail = np.zeros((s.b, s.f, s.t - self.blocks * length), dt)
        self.terms = np.zeros((s.b, s.f, n), dt)
        self.y = np.zeros((s.f, self.blocks, length), dt)
        self.observed = np.zeros_like(self.y)
        self.row = np.zeros((s.f, s.t), dt)  # one signal's output, when it cannot go straight to `out`
        self.direct = s.output == "full" and self.tail.shape[-1] == 0

    def reset(self) -> None:
        self.state.fill(0)

    def columns(self, case: Case) -> dict:
        return {"block_length": self.length}

    def versions(self) -> str:
        return numpy_versions()

    def parts(self, x: np.ndarray) -> dict[str, tuple[Loop, float]]:
        """The Toeplitz products alone (np.matmul at the shapes the call uses), for the sgemm comparison."""
        s, length = self.spec, self.length
        blocks = x[:, :self.blocks * length].reshape(s.b, self.blocks, length)

        def toeplitz_products() -> None:
            for b in range(s.b):
                np.matmul(blocks[b], self.tt, out=self.y)

        return {"sgemm_same_shape": (python_loop(toeplitz_products), 1.0)}

    def _scan(self) -> None:
        state, step = self.state, self.step
        for k in range(self.blocks):
            self.starts[:, :, k] = state[:, :, 0]
            np.matmul(state, self.pt, out=step)
            np.add(step[:, :, 0], self.z[:, :, k], out=state[:, :, 0])

    def _tail(self, x: np.ndarray) -> None:
        state, step, terms = self.state, self.step, self.terms
        for j in range(self.tail.shape[-1]):
            xt = x[:, self.blocks * self.length + j, None]  # (B, 1)
            np.multiply(state[:, :, 0], self.cv, out=terms)
            np.sum(terms, axis=-1, out=self.tail[:, :, j])
            self.tail[:, :, j] += self.dv * xt
            np.matmul(state, self.at, out=step)
            np.multiply(self.bv, xt[:, :, None], out=terms)
            np.add(step[:, :, 0], terms, out=state[:, :, 0])

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        s, length = self.spec, self.length
        blocks = x[:, :self.blocks * length].reshape(s.b, self.blocks, length)
        np.matmul(blocks[:, None], self.ct, out=self.z)
        self._scan()
        self._tail(x)
        whole = self.blocks * length
        for b in range(s.b):
            y = out[b].reshape(s.f, self.blocks, length) if self.direct else self.y
            np.matmul(blocks[b], self.tt, out=y)
            y += np.matmul(self.starts[b], self.ot, out=self.observed)
            if self.direct:
                continue
            self.row[:, :whole] = y.reshape(s.f, whole)
            self.row[:, whole:] = self.tail[b]
            if s.output == "full":
                out[b] = self.row
            else:
                out[b] = iir_reference.frame_energy(self.row, s.frame)
