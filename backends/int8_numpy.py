"""int8-numpy: the quantization schemes of gemmbench.formats.quant run in numpy, int32 accumulation.

The reference implementation: slow next to the C kernels (numpy has no int8 BLAS), but it
shows each scheme's accuracy beside its speed, and the C int8 kernels must agree with it bit
for bit where the scheme is the same (w127-row-u8off: scalar and VNNI C; w63-row-u8off: the
maddubs C paths). Every buffer is made in prepare; the measured call allocates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gemmbench.backend import Backend, Variant
from gemmbench.formats import quant
from gemmbench.op import Workload

# Per-row and per-tensor scales, restricted and full range, both activation kinds; and the
# 7-bit weights the maddubs C kernels use.
SCHEME_NAMES = [f"{w}-{g}-{a}" for w in ("w127", "w128") for g in ("row", "tensor") for a in quant.ACTIVATIONS]
SCHEME_NAMES.append("w63-row-u8off")


@dataclass(frozen=True, eq=False)
class Prepared:
    scheme: quant.QuantScheme
    q: np.ndarray  # int32 (m, k): the int8 weights, widened for numpy's integer matmul
    weight_scale: np.ndarray  # float32 (m, 1)
    row_scale: np.ndarray  # float32 (m, 1): weight_scale / 127 (u8 offset activations)
    corr: np.ndarray  # int32 (m, 1): 127 * row sums (u8 offset activations)
    diagonal: np.ndarray | None  # float32 (m, 1), added in float after dequantisation
    diagonal_rows: np.ndarray  # int64 (m,): the input each diagonal entry multiplies (r % k)
    t: np.ndarray  # float32 like x: scratch for quantizing the activations
    xq: np.ndarray  # int32 like x
    acc: np.ndarray  # int32 like out
    scale: np.ndarray  # float32 (m, 1): the combined scale of a signed-dynamic call
    gathered: np.ndarray  # float32 like out: diagonal terms


def _column(v: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(v, dtype=dtype).reshape(-1, 1)


class Int8NumpyBackend(Backend):
    name = "int8-numpy"
    ops = frozenset({"gemv", "gemm"})
    dtypes = frozenset({"float32"})

    def variants(self) -> list[Variant]:
        # The schemes in numpy are the bit-exact reference of the C int8 kernels, not a way to ship
        # int8: gemmbench.stats.decide never picks them as a case's best (they are shown on request).
        return [Variant(name, precision="int8", detail=f"int8 scheme {name}, int32 accumulation in numpy",
                        reference_only=True) for name in SCHEME_NAMES]

    def prepare(self, workload: Workload, variant: Variant) -> Prepared:
        weights, diagonal = workload.weights, workload.diagonal
        m, k = weights.shape
        rows = np.arange(m) % k
        if diagonal is not None:  # quantize the block part; the diagonal stays float, as in LPCNet
            weights = weights.copy()
            weights[np.arange(m), rows] -= diagonal
        qw = quant.quantize_weights(weights, quant.get_scheme(variant.name))
        x_shape, out_shape = workload.x.shape, workload.reference.shape
        return Prepared(
            qw.scheme, qw.q.astype(np.int32), _column(qw.scale, np.float32), _column(quant.row_scales(qw), np.float32),
            _column(quant.row_corrections(qw.q), np.int32),
            None if diagonal is None else _column(diagonal, np.float32), rows,
            np.empty(x_shape, np.float32), np.empty(x_shape, np.int32), np.empty(out_shape, np.int32),
            np.empty((m, 1), np.float32), np.empty(out_shape, np.float32))

    def run(self, p: Prepared, x: np.ndarray, out: np.ndarray) -> None:
        out2, acc2 = out.reshape(out.shape[0], -1), p.acc.reshape(p.acc.shape[0], -1)
        if p.scheme.activation == "u8off":
            self._quantize_u8(p, x)
            np.matmul(p.q, p.xq, out=p.acc)
            acc2 -= p.corr
            np.copyto(out2, acc2, casting="unsafe")
            out2 *= p.row_scale
        else:
            xscale = self._quantize_s8(p, x)
            np.matmul(p.q, p.xq, out=p.acc)
            np.copyto(out2, acc2, casting="unsafe")
            np.multiply(p.weight_scale, xscale, out=p.scale)
            out2 *= p.scale
        if p.diagonal is not None:
            gathered = p.gathered.reshape(out2.shape)
            np.take(x.reshape(x.shape[0], -1), p.diagonal_rows, axis=0, out=gathered)
            gathered *= p.diagonal
            out2 += gathered

    @staticmethod
    def _quantize_u8(p: Prepared, x: np.ndarray) -> None:
        """LPCNet's 127 + rint(127 x), x clipped to [-1, 1], as quant.quantize_u8 does it."""
        np.multiply(x, np.float32(quant.ACT_LEVELS), out=p.t)
        np.clip(p.t, -quant.ACT_LEVELS, quant.ACT_LEVELS, out=p.t)
        np.rint(p.t, out=p.t)
        np.copyto(p.xq, p.t, casting="unsafe")
        np.add(p.xq, quant.ACT_OFFSET, out=p.xq)

    @staticmethod
    def _quantize_s8(p: Prepared, x: np.ndarray) -> np.float32:
        """rint(x / s) with s = max|x| / 127 for this call, as quant.quantize_s8_dynamic does it."""
        np.abs(x, out=p.t)
        amax = np.float32(p.t.max())
        scale = np.float32(amax / np.float32(127)) if amax > 0 else np.float32(1)
        np.divide(x, scale, out=p.t)
        np.rint(p.t, out=p.t)
        np.clip(p.t, -127, 127, out=p.t)
        np.copyto(p.xq, p.t, casting="unsafe")
        return scale
