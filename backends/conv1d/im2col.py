"""im2col + one GEMM through numpy's BLAS: the lowered matrix holds every window of x as a row
(channels-last) or column (channels-first), K times the input; out = lowered x W2 in one matmul.

The padding's zeros are written once, in prepare: a call copies only the frames of x."""

from __future__ import annotations

import numpy as np

from gemmbench.backends.conv1d.prepared import Convolution, Geometry, frames
from gemmbench.ops.conv1d import MethodFacts


class Im2col(Convolution):
    def __init__(self, g: Geometry, weights: np.ndarray, name: str = "im2col"):
        self.geometry = g
        dtype = weights.dtype
        if g.channels_last:  # lowered (t_out, k c_in) @ W2 (k c_in, c_out)
            self.lowered = np.zeros((g.t_out, g.k, g.c_in), dtype=dtype)
            self.w2 = np.ascontiguousarray(weights.transpose(2, 1, 0).reshape(g.k * g.c_in, g.c_out))
        else:  # W2 (c_out, c_in k) @ lowered (c_in k, t_out)
            self.lowered = np.zeros((g.c_in, g.k, g.t_out), dtype=dtype)
            self.w2 = np.ascontiguousarray(weights.reshape(g.c_out, g.c_in * g.k))
        self.flat = self.lowered.reshape(g.t_out, -1) if g.channels_last else self.lowered.reshape(-1, g.t_out)
        self.copies = []  # (tap, first output, last output + 1, input frame - output frame)
        for tap in range(g.k):
            lo, hi = g.tap_range(tap)
            self.copies.append((tap, lo, hi, g.shift(tap)))
        copied = sum(hi - lo for _, lo, hi, _ in self.copies) * g.c_in * dtype.itemsize
        self.facts = MethodFacts(name, workspace_bytes=self.lowered.nbytes, copy_bytes=copied,
                                 weight_bytes=self.w2.nbytes,
                                 note=f"lowered matrix {self.flat.shape[0]}x{self.flat.shape[1]}: "
                                      f"{g.k}x the input")

    def lower(self, x: np.ndarray) -> None:
        cl = self.geometry.channels_last
        for tap, lo, hi, shift in self.copies:
            dst = self.lowered[lo:hi, tap] if cl else self.lowered[:, tap, lo:hi]
            np.copyto(dst, frames(x, lo + shift, hi + shift, cl))

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        self.lower(x)
        if self.geometry.channels_last:
            np.matmul(self.flat, self.w2, out=out)
        else:
            np.matmul(self.w2, self.flat, out=out)
