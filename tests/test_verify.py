import math

import numpy as np

from gemmbench.measure.verify import check


def test_exact_and_rounding_errors_pass():
    ref = np.linspace(-1, 1, 100)
    assert check(ref.copy(), ref, "float64").ok
    assert check(ref.astype(np.float32), ref, "float32").ok


def test_wrong_output_fails_with_its_error():
    ref = np.linspace(-1, 1, 100)
    verdict = check((ref * 1.01).astype(np.float32), ref, "float32")
    assert not verdict.ok and "exceeds the float32 tolerance" in verdict.message
    assert abs(verdict.rel_err - 0.01) < 1e-6
    assert abs(verdict.snr_db - 40) < 0.01


def test_int8_tolerance_accepts_quantization_noise_only():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(1000)
    assert check(ref + 0.01 * rng.standard_normal(1000), ref, "int8").ok
    assert not check(ref + 0.2 * rng.standard_normal(1000), ref, "int8").ok


def test_nan_and_shape_are_wrong():
    ref = np.ones(4)
    out = np.ones(4)
    out[2] = np.nan
    verdict = check(out, ref, "float32")
    assert not verdict.ok and "non-finite" in verdict.message and math.isinf(verdict.rel_err)
    assert "shape" in check(np.ones(5), ref, "float32").message
