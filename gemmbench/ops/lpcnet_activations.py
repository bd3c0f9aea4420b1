"""The vocoder step's sigmoid and tanh as a stated choice: `accurate` or `fast`.

accurate: the float32 functions through exp (csimd: Cephes' expf within 2 ulp, then a true
division; numpy: its own exp and tanh), within a few float32 ulps of the true function.

fast: a rational function with no exp and no division, as production vocoders run them
(LPCNet's own are rational too, about 3e-4 absolute error):

    tanh(x)    ~ x (N0 + N1 x^2 + N2 x^4) / (1 + D1 x^2 + D2 x^4),   x clamped to [-C, C]
    sigmoid(x) = 1/2 + tanh(x / 2) / 2                               (x clamped to [-2C, 2C])

The coefficients are a minimax fit of tanh on [0, 9]; C is where the rational function
reaches 1, so clamping the input saturates the output without a second clamp. The rational
function is within RATIONAL_MAX_ABS_ERROR of the true one (numpy divides, so that is its
error). csimd takes the denominator's reciprocal, as LPCNet does, from the ISA's estimate,
whose relative error adds at most |value| times that: MAX_ABS_ERROR states the bound on every
ISA (x86's rcpps guarantees 1.5 x 2^-12), the saturated tails included; the tests check every
csimd ISA and the numpy evaluation on a dense grid over [-8, 8].

csimd carries the same coefficients in gb_vmath.h; a test holds the two together.
"""

from __future__ import annotations

import numpy as np

ACTIVATIONS = ("accurate", "fast")

TANH_NUMERATOR = (1.00024796, 0.104295723, 0.000713772373)  # N0, N1, N2
TANH_DENOMINATOR = (0.437875271, 0.0133157372)  # D1, D2 (D0 = 1)
TANH_CLAMP = 5.0279
# sigmoid(x) = 1/2 + x (N0 + N1 (x/2)^2 + N2 (x/2)^4) / 4 / (1 + D1 (x/2)^2 + D2 (x/2)^4), rounded to float32
SIGMOID_NUMERATOR = (0.250061989, 0.0065184827, 1.11526933e-05)
SIGMOID_DENOMINATOR = (0.109468818, 0.000832233578)
SIGMOID_CLAMP = 10.0558

# The rational functions' own largest absolute error (8.6e-5 at tanh's extrema and clamp;
# sigmoid's is half of tanh's): the fast variant's error where the division is exact.
RATIONAL_MAX_ABS_ERROR = {"sigmoid": 4.5e-5, "tanh": 9.0e-5}
# The reciprocal estimate csimd takes at worst: AVX2's rcpps guarantees 1.5 x 2^-12 relative error
# (AVX-512's rcp14 2^-14; NEON refines its estimate, scalar C divides).
RECIPROCAL_REL_ERROR = 1.5 * 2.0 ** -12
# Largest absolute error against float64, over all reals, on any ISA. accurate: the csimd
# bounds of gb_vmath.h (numpy's float32 functions are within them); fast: the rational
# function's plus its value times the reciprocal estimate's relative error (tanh's value is at
# most 1; sigmoid's reciprocal scales tanh(x / 2) / 2, at most 1/2).
MAX_ABS_ERROR = {
    "accurate": {"sigmoid": 1.0e-7, "tanh": 2.5e-7},
    "fast": {"sigmoid": RATIONAL_MAX_ABS_ERROR["sigmoid"] + 0.5 * RECIPROCAL_REL_ERROR,
             "tanh": RATIONAL_MAX_ABS_ERROR["tanh"] + RECIPROCAL_REL_ERROR},
}


def max_abs_error(activation: str) -> float:
    """The larger of the variant's sigmoid and tanh bounds: what a row states as its activation error."""
    return max(MAX_ABS_ERROR[activation].values())


def _rational(x: np.ndarray, clamp: float, numerator: tuple, denominator: tuple, offset: float) -> np.ndarray:
    dtype = x.dtype
    c = [dtype.type(v) for v in (*numerator, *denominator)]
    x = np.clip(x, dtype.type(-clamp), dtype.type(clamp))
    y = x * x
    num = x * ((c[2] * y + c[1]) * y + c[0])
    den = (c[4] * y + c[3]) * y + dtype.type(1)
    return num / den + dtype.type(offset)


def _tanh_fast(x: np.ndarray) -> np.ndarray:
    return _rational(x, TANH_CLAMP, TANH_NUMERATOR, TANH_DENOMINATOR, 0.0)


def _sigmoid_fast(x: np.ndarray) -> np.ndarray:
    return _rational(x, SIGMOID_CLAMP, SIGMOID_NUMERATOR, SIGMOID_DENOMINATOR, 0.5)


def _sigmoid_accurate(x: np.ndarray) -> np.ndarray:
    one = x.dtype.type(1)
    return one / (one + np.exp(-x))


FUNCTIONS = {
    "accurate": {"sigmoid": _sigmoid_accurate, "tanh": np.tanh},
    "fast": {"sigmoid": _sigmoid_fast, "tanh": _tanh_fast},
}


def _rational_into(v: np.ndarray, scratch: np.ndarray, clamp: float, numerator: tuple, denominator: tuple,
                   offset: float) -> None:
    """_rational in place, with scratch rows (3, >= v.size): no allocation."""
    dtype = v.dtype.type
    y, den, poly = (row[:v.size] for row in scratch)
    np.clip(v, dtype(-clamp), dtype(clamp), out=v)
    np.multiply(v, v, out=y)
    np.multiply(y, dtype(denominator[1]), out=den)
    den += dtype(denominator[0])
    den *= y
    den += dtype(1)
    np.multiply(y, dtype(numerator[2]), out=poly)
    poly += dtype(numerator[1])
    poly *= y
    poly += dtype(numerator[0])
    v *= poly
    v /= den
    v += dtype(offset)


def sigmoid_into(v: np.ndarray, activation: str, scratch: np.ndarray) -> None:
    """v <- sigmoid(v) in v's precision, the named variant; scratch: (3, >= v.size) of v's dtype."""
    if activation == "fast":
        _rational_into(v, scratch, SIGMOID_CLAMP, SIGMOID_NUMERATOR, SIGMOID_DENOMINATOR, 0.5)
        return
    np.negative(v, out=v)
    np.exp(v, out=v)
    v += 1
    np.reciprocal(v, out=v)


def tanh_into(v: np.ndarray, activation: str, scratch: np.ndarray) -> None:
    if activation == "fast":
        _rational_into(v, scratch, TANH_CLAMP, TANH_NUMERATOR, TANH_DENOMINATOR, 0.0)
    else:
        np.tanh(v, out=v)
