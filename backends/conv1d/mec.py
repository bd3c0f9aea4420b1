"""MEC (Cho & Brand, ICML 2017) in one dimension.

MEC lowers 2-D images along one axis only and slides the kernel along the other over that
smaller matrix. A 1-D signal has no second axis: its MEC matrix is im2col's. But channels-last
with stride 1 needs no lowering at all: row t of the im2col matrix, frames t-left .. t-left+span,
is k c_in consecutive floats of x (dilation 1), so the lowered matrix is x itself read with
overlapping rows (leading dimension c_in < row length k c_in). BLAS refuses such a leading
dimension, so this splits the rows by t mod k: each class is a plain matrix over x (rows
k c_in apart, no overlap), and k GEMMs cover every interior output without copying anything.
Only the outputs whose window reaches into the padding get their window copied (span of them).

With dilation > 1 a window's frames are not adjacent, and channels-first x has no contiguous
frames: those cases take im2col's copy (see im2col.py), so they are skipped here."""

from __future__ import annotations

import numpy as np

from gemmbench.backends.conv1d import blas
from gemmbench.backends.conv1d.prepared import Convolution, Geometry
from gemmbench.ops.conv1d import MethodFacts


def skip_reason(g: Geometry) -> str:
    if not g.channels_last:
        return "MEC lowers channels-last (NHWC) data; channels-first windows are not contiguous (im2col's copy)"
    if g.dilation != 1:
        return "MEC's zero-copy view needs adjacent frames; with dilation > 1 it is im2col's copy"
    return ""


class Mec(Convolution):
    def __init__(self, g: Geometry, weights: np.ndarray):
        self.geometry = g
        dtype = weights.dtype
        self.gemm = blas.gemm(dtype.name)
        blas.check(self.gemm, dtype.name)
        self.size = dtype.itemsize
        self.w2 = np.ascontiguousarray(weights.transpose(2, 1, 0).reshape(g.k * g.c_in, g.c_out))
        self.first, self.last = g.interior
        edges = [t for t in range(g.t_out) if not self.first <= t < self.last]
        self.head = [t for t in edges if t < self.first]
        self.tail = [t for t in edges if t >= self.last]
        self.edge_windows = np.zeros((len(edges), g.k, g.c_in), dtype=dtype)
        self.classes = []  # (first output, outputs) per residue of t mod k
        for r in range(g.k):
            start = self.first + r
            if start < self.last:
                self.classes.append((start, (self.last - start + g.k - 1) // g.k))
        copied = sum(hi - lo for t in edges for lo, hi in [self._window(t)]) * g.c_in * self.size
        self.facts = MethodFacts("mec", workspace_bytes=self.edge_windows.nbytes, copy_bytes=copied,
                                 weight_bytes=self.w2.nbytes,
                                 note=f"zero-copy: x read as the lowered matrix (rows {g.c_in} floats apart); "
                                      f"{len(self.classes)} GEMMs by t mod {g.k}, {len(edges)} padded window(s) copied")

    def _window(self, t: int) -> tuple[int, int]:
        """Taps of output t that land in x."""
        g = self.geometry
        taps = [k for k in range(g.k) if 0 <= t + g.shift(k) < g.t_in]
        return (taps[0], taps[-1] + 1) if taps else (0, 0)

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        g, size = self.geometry, self.size
        row = g.k * g.c_in
        xa, oa, wa = x.ctypes.data, out.ctypes.data, self.w2.ctypes.data
        for start, rows in self.classes:
            self.gemm(rows, g.c_out, row, xa + (start - g.left) * g.c_in * size, row, wa, g.c_out,
                      0.0, oa + start * g.c_out * size, g.k * g.c_out)
        if self.head or self.tail:
            self._edges(x, out)

    def _edges(self, x: np.ndarray, out: np.ndarray) -> None:
        g = self.geometry
        for i, t in enumerate(self.head + self.tail):
            lo, hi = self._window(t)
            if hi > lo:
                f = t + g.shift(lo)
                self.edge_windows[i, lo:hi] = x[f:f + (hi - lo - 1) * g.dilation + 1:g.dilation]
        flat = self.edge_windows.reshape(len(self.head) + len(self.tail), -1)
        h = len(self.head)
        if h:
            np.matmul(flat[:h], self.w2, out=out[:h])
        if self.tail:
            np.matmul(flat[h:], self.w2, out=out[self.last:])
