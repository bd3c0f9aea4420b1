"""The vocoder step's sigmoid and tanh variants against float64: the fast approximation's stated
bounds on a dense grid (the rational function's in numpy; with csimd's reciprocal estimate on every
ISA this CPU runs, slow), the accurate ones' documented error, and the coefficients csimd and Python
share."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gemmbench.machine import native
from gemmbench.ops import lpcnet_activations as act

GRID = np.linspace(-8, 8, 1_600_001).astype(np.float32)  # steps of 1e-5
EXTREMES = np.float32([-np.inf, -1e30, -1e4, -88, -9, 9, 88, 1e4, 1e30, np.inf])
VMATH = Path(__file__).resolve().parents[1] / "backends" / "csimd" / "gb_vmath.h"


def true(name: str, x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    return np.tanh(x64) if name == "tanh" else 0.5 + 0.5 * np.tanh(x64 / 2)


def max_error(name: str, y: np.ndarray, x: np.ndarray = GRID) -> float:
    return float(np.max(np.abs(y.astype(np.float64) - true(name, x))))


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_fast_numpy_stays_within_the_rational_function_s_bound_and_the_bound_is_tight(name):
    fn = act.FUNCTIONS["fast"][name]
    bound = act.RATIONAL_MAX_ABS_ERROR[name]
    in_float32 = max_error(name, fn(GRID))
    in_float64 = max_error(name, fn(GRID.astype(np.float64)))  # the rational function itself
    assert in_float32 <= bound and in_float64 <= bound <= act.MAX_ABS_ERROR["fast"][name]
    assert in_float64 >= 0.9 * bound  # the stated bound is the function's, not a loose guess
    tails = fn(EXTREMES)
    assert np.isfinite(tails).all() and max_error(name, tails, EXTREMES) <= bound


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_in_place_evaluation_equals_the_plain_one(name):
    x = GRID[::1000].copy()
    plain = act.FUNCTIONS["fast"][name](x)
    into = {"sigmoid": act.sigmoid_into, "tanh": act.tanh_into}[name]
    scratch = np.zeros((3, x.size), np.float32)
    into(x, "fast", scratch)
    np.testing.assert_array_equal(x, plain)


def test_the_accurate_variant_is_within_its_stated_bound():
    for name in ("sigmoid", "tanh"):
        assert max_error(name, act.FUNCTIONS["accurate"][name](GRID)) <= act.MAX_ABS_ERROR["accurate"][name]
    assert act.max_abs_error("fast") == act.MAX_ABS_ERROR["fast"]["tanh"]


def _c_coefficients(function: str) -> list[float]:
    """The float literals of `function`'s v16_rational call in gb_vmath.h: clamp, offset, N0, N1, N2, D1, D2."""
    body = re.search(rf"v16f {function}\(v16f x\) \{{(.*?)\}}", VMATH.read_text(), re.S).group(1)
    return [float(v) for v in re.findall(r"(-?[0-9.]+(?:e-?[0-9]+)?)f", body)]


def test_csimd_and_python_carry_the_same_coefficients():
    assert _c_coefficients("v16_tanh_fast") == [act.TANH_CLAMP, 0.0, *act.TANH_NUMERATOR, *act.TANH_DENOMINATOR]
    assert _c_coefficients("v16_sigmoid_fast") == [act.SIGMOID_CLAMP, 0.5, *act.SIGMOID_NUMERATOR,
                                                   *act.SIGMOID_DENOMINATOR]
    # the sigmoid's are the tanh's for x / 2, halved
    n, d = act.TANH_NUMERATOR, act.TANH_DENOMINATOR
    folded = (n[0] / 4, n[1] / 16, n[2] / 64, d[0] / 4, d[1] / 16)
    np.testing.assert_allclose((*act.SIGMOID_NUMERATOR, *act.SIGMOID_DENOMINATOR), folded, rtol=1e-7)
    assert act.SIGMOID_CLAMP == pytest.approx(2 * act.TANH_CLAMP, rel=1e-4)


# ---- csimd's compiled activations (slow: each ISA level is a compile)

def _kernels(isa: str):
    from gemmbench.backends.csimd import kernels as K

    if native.find_compiler() is None:
        pytest.skip("no C compiler found")
    if native.missing_cpu_flags(isa):
        pytest.skip(f"CPU lacks {isa}")
    return K.load_kernels(isa)


@pytest.mark.slow
@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_csimd_fast_activations_stay_within_the_stated_bound(isa):
    from gemmbench.backends.csimd import lpcnet

    kern = _kernels(isa)
    estimate = {"scalar": 0.0, "avx2": 1.5 * 2**-12, "avx512": 2**-14}[isa]  # the reciprocal's relative error
    for name in ("sigmoid", "tanh"):
        y = lpcnet.activation(kern, name, GRID, "fast")
        assert max_error(name, y) <= act.MAX_ABS_ERROR["fast"][name], (isa, name)
        # numpy's rational function, but for the reciprocal's estimate (on the part that is not the offset 1/2)
        rational = act.FUNCTIONS["fast"][name](GRID).astype(np.float64)
        scale = np.abs(rational - (0.5 if name == "sigmoid" else 0.0))
        assert (np.abs(y - rational) <= scale * estimate + 5e-7).all(), (isa, name)
        tails = lpcnet.activation(kern, name, EXTREMES, "fast")
        assert np.isfinite(tails).all() and max_error(name, tails, EXTREMES) <= act.MAX_ABS_ERROR["fast"][name]


@pytest.mark.slow
@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_csimd_accurate_activations_stay_within_their_documented_error(isa):
    from gemmbench.backends.csimd import lpcnet

    kern = _kernels(isa)
    x = np.linspace(-20, 20, 400_001).astype(np.float32)
    x64 = x.astype(np.float64)
    exp = lpcnet.activation(kern, "exp", x).astype(np.float64)
    sigmoid = lpcnet.activation(kern, "sigmoid", x).astype(np.float64)
    tanh = lpcnet.activation(kern, "tanh", x).astype(np.float64)
    ulp = np.spacing(np.exp(x64).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(exp - np.exp(x64)) / ulp) <= 2.0
    assert np.max(np.abs(sigmoid - 1 / (1 + np.exp(-x64))) / (1 / (1 + np.exp(-x64)))) <= 2.5e-7
    assert np.max(np.abs(tanh - np.tanh(x64))) <= act.MAX_ABS_ERROR["accurate"]["tanh"]
    assert max_error("sigmoid", lpcnet.activation(kern, "sigmoid", GRID)) <= act.MAX_ABS_ERROR["accurate"]["sigmoid"]
    away_from_zero = np.abs(x64) >= 0.5
    assert np.max(np.abs(tanh - np.tanh(x64))[away_from_zero] / np.abs(np.tanh(x64[away_from_zero]))) <= 4e-7
    extremes = np.float32([-1e4, -200, -88, 88, 200, 1e4])
    assert np.isfinite(lpcnet.activation(kern, "exp", extremes)).all()
    assert np.array_equal(lpcnet.activation(kern, "tanh", extremes), np.sign(extremes))
    tiny_sigmoid = lpcnet.activation(kern, "sigmoid", extremes)
    assert (tiny_sigmoid[:3] < 1e-37).all() and (tiny_sigmoid[:3] > 0).all() and (tiny_sigmoid[3:] == 1).all()
