"""int8 quantization schemes: the pure-numpy reference the C int8 kernels match bit for bit.

Weights are symmetric (zero maps to zero), per output row or per tensor, in one of three
ranges: restricted [-127, 127]; full [-128, 127] (scale amax/127.5, so +amax and -amax
land on 127 and -128: the bias the restricted range avoids); 7-bit [-63, 63], which keeps
maddubs' int16 pair sums (2 * 254 * 63 = 32004) from saturating.

Activations are either LPCNet's unsigned-with-offset u8 = 127 + rint(127 x), x clipped to
[-1, 1] (a fixed scale: tanh/sigmoid outputs), or signed dynamic: s8 = rint(x / s) with
s = max|x| / 127 chosen per call.

bf16 weights: float32 rounded to the nearest bf16 (the upper 16 bits of a float32), ties to
even, NaN kept a NaN (`round_bf16`, bit for bit what the C kernels store); products in float32
(or float64 here), so only the rounding of the weights is exact and the products are judged at
a tolerance (gemmbench.measure.verify.TOLERANCE["bf16"]).

fp16 weights: float32 rounded to IEEE binary16 exactly as numpy's astype(np.float16) rounds
(`round_fp16` is that call), judged the same way at TOLERANCE["fp16"].

Dequantization, in int32 then float32 exactly as the C kernels do it:
    u8 offset:  y[r] = float32(acc[r] - corr[r]) * row_scale[r],  corr[r] = 127 * sum_j q[r, j]
    s8 dynamic: y[r] = float32(acc[r]) * float32(w_scale[r] * s)
with row_scale[r] = float32(w_scale[r] * float32(1/127)) precomputed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACT_OFFSET = 127
ACT_LEVELS = 127  # u8 = ACT_OFFSET + rint(ACT_LEVELS * x)
ACTIVATIONS = ("u8off", "s8dyn")
WEIGHT_RANGES = {"w127": (-127, 127), "w128": (-128, 127), "w63": (-63, 63)}


@dataclass(frozen=True)
class QuantScheme:
    name: str
    weight_min: int
    weight_max: int
    per_row: bool  # else one scale for the whole tensor
    activation: str  # "u8off" (LPCNet: unsigned, offset 127) or "s8dyn" (signed, per-call scale)

    @property
    def weight_levels(self) -> float:
        """Quantization levels per side: amax maps here before clipping."""
        return (self.weight_max - self.weight_min) / 2


def _make_schemes() -> dict[str, QuantScheme]:
    schemes = {}
    for wname, (lo, hi) in WEIGHT_RANGES.items():
        for gran in ("row", "tensor"):
            for act in ACTIVATIONS:
                name = f"{wname}-{gran}-{act}"
                schemes[name] = QuantScheme(name, lo, hi, gran == "row", act)
    return schemes


SCHEMES: dict[str, QuantScheme] = _make_schemes()


def get_scheme(name: str) -> QuantScheme:
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown quantization scheme {name!r} (known: {', '.join(SCHEMES)})") from None


@dataclass(frozen=True, eq=False)
class QuantizedWeights:
    q: np.ndarray  # int8 (m, k)
    scale: np.ndarray  # float32 (m,): per-row weight scale (repeated when per tensor)
    scheme: QuantScheme


def quantize_weights(weights: np.ndarray, scheme: QuantScheme) -> QuantizedWeights:
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"weights must be 2-D, got shape {w.shape}")
    amax = np.abs(w).max(axis=1) if scheme.per_row else np.full(w.shape[0], np.abs(w).max(), np.float32)
    scale = (amax / np.float32(scheme.weight_levels)).astype(np.float32)
    scale[scale == 0] = 1.0  # an all-zero row quantizes to zeros with any scale
    q = np.clip(np.rint(w / scale[:, None]), scheme.weight_min, scheme.weight_max).astype(np.int8)
    return QuantizedWeights(q, scale, scheme)


def quantize_u8(x: np.ndarray) -> np.ndarray:
    """LPCNet's activations: 127 + rint(127 x), x clipped to [-1, 1]; rint rounds half to even."""
    t = np.clip(np.asarray(x, dtype=np.float32) * np.float32(ACT_LEVELS), -ACT_LEVELS, ACT_LEVELS)
    return (np.rint(t).astype(np.int32) + ACT_OFFSET).astype(np.uint8)


def quantize_s8_dynamic(x: np.ndarray) -> tuple[np.ndarray, np.float32]:
    x = np.asarray(x, dtype=np.float32)
    amax = np.float32(np.abs(x).max()) if x.size else np.float32(0)
    scale = np.float32(amax / np.float32(127)) if amax > 0 else np.float32(1)
    return np.clip(np.rint(x / scale), -127, 127).astype(np.int8), scale


def row_corrections(q: np.ndarray, offset: int = ACT_OFFSET) -> np.ndarray:
    """int32 corr[r] = offset * sum_j q[r, j]: the activation offset, folded out of the accumulator.

    offset 0 is for kernels whose activation bytes carry no offset (aarch64's s8 x s8 sdot takes
    t = u8 - 127 itself): their acc is already acc_u8 - 127 * sum_j q[r, j], the same integer."""
    return _int32(offset * q.astype(np.int64).sum(axis=1))


def row_scales(qw: QuantizedWeights) -> np.ndarray:
    """float32 w_scale[r] / 127, the one multiplier the u8 kernels apply per row."""
    return (qw.scale * np.float32(1.0 / ACT_LEVELS)).astype(np.float32)


def _int32(values: np.ndarray) -> np.ndarray:
    info = np.iinfo(np.int32)
    if values.size and (values.min() < info.min or values.max() > info.max):
        raise OverflowError("int32 accumulator overflow: k is too large for this scheme")
    return values.astype(np.int32)


def int8_gemv_reference(qw: QuantizedWeights, x: np.ndarray, diagonal: np.ndarray | None = None) -> np.ndarray:
    """float32 y = dequant(q @ quant(x)) [+ diagonal[r] * x[r % k]], in the kernels' order of operations."""
    x = np.asarray(x, dtype=np.float32)
    q = qw.q.astype(np.int64)
    if qw.scheme.activation == "u8off":
        acc = _int32(q @ quantize_u8(x).astype(np.int64))  # the kernels' accumulator is int32 too
        y = _int32(acc.astype(np.int64) - row_corrections(qw.q)).astype(np.float32) * row_scales(qw)
    else:
        xq, xscale = quantize_s8_dynamic(x)
        acc = _int32(q @ xq.astype(np.int64))
        y = acc.astype(np.float32) * (qw.scale * xscale).astype(np.float32)
    if diagonal is not None:
        m, k = qw.q.shape
        y = y + np.asarray(diagonal, dtype=np.float32) * x[np.arange(m) % k]
    return y.astype(np.float32)


def round_bf16(values: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bit patterns (uint16): round to nearest, ties to even; a NaN stays a quiet NaN."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounded = ((bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16).astype(np.uint16)
    nan = (bits & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    return np.where(nan, ((bits >> 16) | np.uint32(0x40)).astype(np.uint16), rounded)


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bf16 bit patterns (uint16) as the float32 values they stand for (exact)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def round_fp16(values: np.ndarray) -> np.ndarray:
    """float32 -> IEEE binary16 bit patterns (uint16): numpy's astype(np.float16), the reference rounding
    (nearest, ties to even; past 65504 to infinity; a NaN keeps its top significand bits, made nonzero)."""
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(values, dtype=np.float32).astype(np.float16).view(np.uint16)


def _fp16_to_float32(bits: np.ndarray) -> np.ndarray:
    """fp16 bit patterns (uint16) as the float32 values they stand for (exact)."""
    return np.asarray(bits, dtype=np.uint16).view(np.float16).astype(np.float32)


# The 16-bit float formats: (float32 -> bit patterns, bit patterns -> float32).
HALF_FORMATS = {"bf16": (round_bf16, bf16_to_float32), "fp16": (round_fp16, _fp16_to_float32)}


def half_gemv_reference(precision: str, rounded: np.ndarray, x: np.ndarray, diagonal: np.ndarray | None = None,
                        round_activations: bool = False) -> np.ndarray:
    """float64 y = weights @ x (or @ x rounded to `precision`) [+ diagonal[r] * x[r % k] in float32 x],
    the weights the `precision` ("bf16", "fp16") bit patterns `rounded`: what such a kernel computes,
    up to its rounding of sums and order of summation."""
    to_bits, to_float = HALF_FORMATS[precision]
    x = np.asarray(x, dtype=np.float32)
    xs = to_float(to_bits(x)) if round_activations else x
    y = to_float(rounded).astype(np.float64) @ xs.astype(np.float64)
    if diagonal is not None:
        m, k = rounded.shape
        y = y + np.asarray(diagonal, dtype=np.float64) * x.astype(np.float64)[np.arange(m) % k]
    return y
