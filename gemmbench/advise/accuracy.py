"""The error a storage format puts into a product, on the activations the advice is for.

Each candidate is judged against the file's own matrix in float64: e = ||Y - W X|| / ||W X||
over all the activation vectors X. The formats' products are computed here:

- int8: the scheme's arithmetic exactly as gemmbench.formats.quant's reference (which the C kernels
  match bit for bit), vectorised over the activations; the run's own measured error of each
  int8 row is checked against it on the run's inputs (`int8_matches`);
- float formats: the pruned matrix, cast to float32, in float64 arithmetic; the kernel's own
  arithmetic error (measured by the run, about 1e-7) is added in quadrature.

Everything is product-level: what a format does to one layer's outputs, not to the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gemmbench.formats import quant

CLIP = 1.0  # u8-offset activations clip x to [-CLIP, CLIP]


@dataclass(frozen=True, eq=False)
class Activations:
    """The input vectors errors are measured on, one a row."""

    x: np.ndarray  # float64 (N, k)
    source: str  # 'FILE:KEY, 64 vectors' or 'generated: ...'
    recorded: bool

    @property
    def clipped(self) -> float:
        """Share of activation values the u8-offset schemes clip (|x| > 1)."""
        return float(np.mean(np.abs(self.x) > CLIP)) if self.x.size else 0.0


def relative_error(output: np.ndarray, reference: np.ndarray) -> float:
    norm = float(np.linalg.norm(reference))
    err = float(np.linalg.norm(output - reference))
    return err / norm if norm > 0 else err


def snr_db(rel: float) -> float:
    return math.inf if rel == 0 else -20 * math.log10(rel)


def float_outputs(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(N, m): each activation row through the matrix, in float64."""
    return x @ np.asarray(weights, dtype=np.float64).T


def int8_outputs(weights: np.ndarray, diagonal: np.ndarray | None, scheme: quant.QuantScheme,
                 x: np.ndarray) -> np.ndarray:
    """(N, m): quant.int8_gemv_reference for every activation row, vectorised.

    The block part (the diagonal apart, as the kernels keep it) is quantized; integer products
    are exact in float64 (|sum| < 2^53), then dequantised in float32 in the kernels' order."""
    block_part = np.asarray(weights, dtype=np.float32)
    m, k = block_part.shape
    if diagonal is not None:
        block_part = block_part.copy()
        block_part[np.arange(m), np.arange(m) % k] -= diagonal
    qw = quant.quantize_weights(block_part, scheme)
    q = qw.q.astype(np.float64)
    x32 = np.asarray(x, dtype=np.float32)
    if scheme.activation == "u8off":
        acc = quant.quantize_u8(x32).astype(np.float64) @ q.T
        corrected = (acc - quant.row_corrections(qw.q).astype(np.float64)).astype(np.int32)
        y = corrected.astype(np.float32) * quant.row_scales(qw)
    else:
        amax = np.abs(x32).max(axis=1)
        scales = np.where(amax > 0, (amax / np.float32(127)).astype(np.float32), np.float32(1))
        xq = np.clip(np.rint(x32 / scales[:, None]), -127, 127)
        acc = (xq.astype(np.float64) @ q.T).astype(np.int32)
        y = acc.astype(np.float32) * (qw.scale[None, :] * scales[:, None]).astype(np.float32)
    if diagonal is not None:
        y = y + np.asarray(diagonal, dtype=np.float32) * x32[:, np.arange(m) % k]
    return y.astype(np.float32).astype(np.float64)


def scheme_error(weights: np.ndarray, diagonal: np.ndarray | None, scheme: quant.QuantScheme,
                 x: np.ndarray, truth: np.ndarray) -> float:
    return relative_error(int8_outputs(weights, diagonal, scheme, x), truth)


def combined(format_error: float, kernel_error: float) -> float:
    """A float format's error and its kernel's own arithmetic error, added in quadrature."""
    return math.hypot(format_error, kernel_error if math.isfinite(kernel_error) else 0.0)


@dataclass(frozen=True)
class OutlierRows:
    """Rows whose largest weight dwarfs the others' (they set a per-tensor int8 scale)."""

    rows: tuple[int, ...]
    factor: float  # their max |w| over the median row's
    per_tensor: tuple[float, float]  # error on (outlier rows, the other rows)
    per_row: tuple[float, float]
    tensor_scheme: str
    row_scheme: str


OUTLIER_FACTOR = 4.0  # a row is an outlier when its max |w| exceeds this many times the median row's


def outlier_rows(weights: np.ndarray, x: np.ndarray, truth: np.ndarray,
                 row_scheme: str = "w127-row-u8off", tensor_scheme: str = "w127-tensor-u8off") -> OutlierRows | None:
    """The per-tensor against per-row int8 error, on the outlier rows and on the rest (None: no outliers)."""
    amax = np.abs(weights).max(axis=1)
    typical = float(np.median(amax))
    if typical <= 0:
        return None
    outliers = np.flatnonzero(amax > OUTLIER_FACTOR * typical)
    if outliers.size == 0 or outliers.size == weights.shape[0]:
        return None
    others = np.setdiff1d(np.arange(weights.shape[0]), outliers)

    def split(scheme: str) -> tuple[float, float]:
        y = int8_outputs(weights, None, quant.get_scheme(scheme), x)
        return (relative_error(y[:, outliers], truth[:, outliers]), relative_error(y[:, others], truth[:, others]))

    return OutlierRows(tuple(int(r) for r in outliers), float(amax[outliers].min() / typical),
                       split(tensor_scheme), split(row_scheme), tensor_scheme, row_scheme)
