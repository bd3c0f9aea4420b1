"""Shifted GEMMs (kn2row): one GEMM per tap, each multiplying x where it stands, shifted by
k d frames, into the outputs that tap reaches, accumulated with beta = 1. No lowered copy:
the shift is a pointer offset and a leading dimension, which is why this calls cblas directly
(numpy's matmul can neither accumulate into out nor read a sub-block in place)."""

from __future__ import annotations

import numpy as np

from gemmbench.backends.conv1d import blas
from gemmbench.backends.conv1d.prepared import Convolution, Geometry
from gemmbench.ops.conv1d import MethodFacts


class Shifted(Convolution):
    def __init__(self, g: Geometry, weights: np.ndarray):
        self.geometry = g
        dtype = weights.dtype
        self.gemm = blas.gemm(dtype.name)
        blas.check(self.gemm, dtype.name)
        self.itemsize = dtype.itemsize
        # per tap: channels-first W_k (c_out, c_in); channels-last W_k^T (c_in, c_out)
        order = (2, 1, 0) if g.channels_last else (2, 0, 1)
        self.taps = np.ascontiguousarray(weights.transpose(*order))
        ranges = [(tap, *g.tap_range(tap)) for tap in range(g.k)]
        ranges = [r for r in ranges if r[2] > r[1]]
        full = [r for r in ranges if r[1] == 0 and r[2] == g.t_out]
        # A tap reaching every output goes first with beta = 0: out needs no clearing then.
        self.clear = not full
        self.order = full[:1] + [r for r in ranges if r not in full[:1]]
        self.facts = MethodFacts("shifted", weight_bytes=self.taps.nbytes,
                                 note=f"{len(self.order)} GEMMs of depth {g.c_in}, accumulated in out "
                                      f"({self.gemm.symbol})")

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        g, size = self.geometry, self.itemsize
        if self.clear:
            out.fill(0)
        xa, oa, wa = x.ctypes.data, out.ctypes.data, self.taps.ctypes.data
        wstep = g.c_in * g.c_out * size
        for i, (tap, lo, hi) in enumerate(self.order):
            beta = 0.0 if i == 0 and not self.clear else 1.0
            src = lo + g.shift(tap)
            if g.channels_last:  # out[lo:hi] (+)= x[src:src+n] @ W_k^T
                self.gemm(hi - lo, g.c_out, g.c_in, xa + src * g.c_in * size, g.c_in, wa + tap * wstep, g.c_out,
                          beta, oa + lo * g.c_out * size, g.c_out)
            else:  # out[:, lo:hi] (+)= W_k @ x[:, src:src+n]
                self.gemm(g.c_out, hi - lo, g.c_in, wa + tap * wstep, g.c_in, xa + src * size, g.t_in,
                          beta, oa + lo * size, g.t_out)
