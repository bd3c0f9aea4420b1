"""conv_transpose1d through the convolution lowerings.

- Zero insertion: x upsampled by putting stride - 1 zero frames between its frames, then an
  ordinary convolution by the flipped kernel (taps reversed, in and out channels swapped) with
  (K-1) d - crop frames of left padding. Any convolution method runs it; it multiplies the
  inserted zeros too: about stride times the transposed layer's own products.
- GEMM + col2im: cols = W^T x, one (c_out K) x c_in by c_in x T product with no wasted
  multiplication, then each tap's columns are added into the outputs t s + k d - crop they
  land on (col2im). Its workspace is cols, K c_out x T.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from gemmbench.backends.conv1d.prepared import Convolution, Geometry
from gemmbench.ops.conv1d import Conv1dSpec, MethodFacts, transposed_tap_range


def zero_inserted_geometry(spec: Conv1dSpec) -> Geometry:
    return Geometry(spec.c_in, spec.c_out, spec.k, spec.dilation, spec.span - spec.crop,
                    (spec.t - 1) * spec.stride + 1, spec.t_out, spec.channels_last)


def flipped(weights: np.ndarray) -> np.ndarray:
    """(c_in, c_out, K) transposed weights -> (c_out, c_in, K) convolution weights, taps reversed."""
    return np.ascontiguousarray(weights.transpose(1, 0, 2)[:, :, ::-1])


class ZeroInsert(Convolution):
    def __init__(self, spec: Conv1dSpec, weights: np.ndarray, build: Callable[[Geometry, np.ndarray], Convolution]):
        g = zero_inserted_geometry(spec)
        self.spec, self.geometry = spec, g
        self.inner = build(g, flipped(weights))
        self.upsampled = np.zeros(g.x_shape, dtype=weights.dtype)
        self.slots = self.upsampled[::spec.stride] if g.channels_last else self.upsampled[:, ::spec.stride]
        inner = self.inner.facts
        self.facts = MethodFacts(
            f"zero-insert+{inner.method}", workspace_bytes=inner.workspace_bytes + self.upsampled.nbytes,
            copy_bytes=inner.copy_bytes + spec.c_in * spec.t * weights.dtype.itemsize,
            weight_bytes=inner.weight_bytes, flops=g.dense_flops if inner.flops is None else inner.flops,
            note=f"{spec.stride - 1} zero frame(s) inserted per frame; {inner.note}".rstrip("; "))

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        np.copyto(self.slots, x)
        self.inner.run(self.upsampled, out)


class Col2im(Convolution):
    def __init__(self, spec: Conv1dSpec, weights: np.ndarray):
        self.spec = spec
        self.geometry = Geometry(spec.c_in, spec.c_out, spec.k, spec.dilation, 0, spec.t, spec.t_out,
                                 spec.channels_last)
        c_in, c_out, taps = weights.shape
        if spec.channels_last:  # cols (T, K c_out) = x (T, c_in) @ Wc (c_in, K c_out)
            self.wc = np.ascontiguousarray(weights.transpose(0, 2, 1).reshape(c_in, taps * c_out))
            self.cols = np.zeros((spec.t, taps, c_out), dtype=weights.dtype)
        else:  # cols (K c_out, T) = Wc (K c_out, c_in) @ x (c_in, T)
            self.wc = np.ascontiguousarray(weights.transpose(2, 1, 0).reshape(taps * c_out, c_in))
            self.cols = np.zeros((taps, c_out, spec.t), dtype=weights.dtype)
        self.flat = self.cols.reshape(spec.t, -1) if spec.channels_last else self.cols.reshape(-1, spec.t)
        self.adds = []
        for k in range(taps):
            lo, hi = transposed_tap_range(spec, k)
            if hi > lo:
                start = lo * spec.stride + k * spec.dilation - spec.crop
                self.adds.append((k, lo, hi, start))
        self.facts = MethodFacts("col2im", workspace_bytes=self.cols.nbytes, copy_bytes=self.cols.nbytes,
                                 weight_bytes=self.wc.nbytes,
                                 note=f"one GEMM ({taps * c_out}x{c_in} by {c_in}x{spec.t}), then {len(self.adds)} "
                                      f"strided adds into out")

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        s, cl = self.spec.stride, self.spec.channels_last
        if cl:
            np.matmul(x, self.wc, out=self.flat)
        else:
            np.matmul(self.wc, x, out=self.flat)
        out.fill(0)
        for k, lo, hi, start in self.adds:
            stop = start + (hi - lo - 1) * s + 1
            dst = out[start:stop:s] if cl else out[:, start:stop:s]
            np.add(dst, self.cols[lo:hi, k] if cl else self.cols[k, :, lo:hi], out=dst)
