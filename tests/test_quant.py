"""gemmbench.formats.quant: the int8 schemes and their int32 reference arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from gemmbench.formats import quant


def layer(m: int = 1152, k: int = 384, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((m, k)) / np.sqrt(k)).astype(np.float32)
    return w, rng.uniform(-1, 1, k).astype(np.float32)


def snr_db(y: np.ndarray, ref: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref ** 2) / np.sum((y - ref) ** 2)))


def test_scheme_table() -> None:
    assert len(quant.SCHEMES) == 12
    s = quant.get_scheme("w63-row-u8off")
    assert (s.weight_min, s.weight_max, s.per_row, s.activation) == (-63, 63, True, "u8off")
    assert quant.get_scheme("w128-tensor-s8dyn").weight_min == -128
    assert quant.get_scheme("w127-row-u8off").weight_min == -127
    with pytest.raises(ValueError, match="unknown quantization scheme"):
        quant.get_scheme("w4-row-u8off")


@pytest.mark.parametrize("name", sorted(quant.SCHEMES))
def test_weights_fill_their_range(name: str) -> None:
    scheme = quant.get_scheme(name)
    w, _ = layer()
    qw = quant.quantize_weights(w, scheme)
    assert qw.q.dtype == np.int8 and qw.scale.dtype == np.float32 and qw.scale.shape == (w.shape[0],)
    assert qw.q.min() >= scheme.weight_min and qw.q.max() <= scheme.weight_max
    peak = np.abs(qw.q.astype(int)).max(axis=1)
    if scheme.per_row:
        assert (peak >= scheme.weight_max).all()
    else:
        assert peak.max() >= scheme.weight_max and len(set(qw.scale.tolist())) == 1
    err = np.abs(qw.q.astype(np.float32) * qw.scale[:, None] - w).max(axis=1)
    assert (err <= qw.scale * 0.5 * (1 + 1e-3)).all()  # rounding; the full range also clips +amax by half a step


def test_restricted_range_is_symmetric_and_full_range_is_not() -> None:
    w = np.array([[2.2, -2.2, 1.1, -1.1]], np.float32)
    restricted = quant.quantize_weights(w, quant.get_scheme("w127-row-u8off")).q[0].tolist()
    full = quant.quantize_weights(w, quant.get_scheme("w128-row-u8off")).q[0].tolist()
    assert restricted == [127, -127, 64, -64]
    assert full[:2] == [127, -128]  # +amax and -amax no longer mirror each other


def test_zero_row_quantizes_to_zero() -> None:
    w = np.zeros((2, 8), np.float32)
    w[1, 3] = 0.5
    qw = quant.quantize_weights(w, quant.get_scheme("w127-row-u8off"))
    assert not qw.q[0].any() and qw.q[1, 3] == 127


def test_u8_activations_follow_lpcnet() -> None:
    x = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 0.3], np.float32)
    expected = [0, 0, 63, 127, 191, 254, 254, 127 + round(127 * 0.3)]
    assert quant.quantize_u8(x).tolist() == expected
    assert quant.quantize_u8(x).dtype == np.uint8


def test_u8_rounds_half_to_even() -> None:
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5], np.float32) / np.float32(127)
    t = x * np.float32(127)
    assert np.array_equal(quant.quantize_u8(x).astype(int) - 127, np.rint(t).astype(int))


def test_s8_dynamic_activations() -> None:
    x = np.array([0.2, -0.4, 0.1], np.float32)
    q, scale = quant.quantize_s8_dynamic(x)
    assert q.tolist() == [64, -127, 32] and scale == np.float32(0.4) / np.float32(127)
    assert quant.quantize_s8_dynamic(np.zeros(3, np.float32))[0].tolist() == [0, 0, 0]


def test_corrections_fold_the_offset() -> None:
    q = np.array([[1, -2, 3], [63, 63, 63]], np.int8)
    assert quant.row_corrections(q).tolist() == [254, 127 * 189]
    xq = np.array([10, 200, 127], np.uint8)
    acc = q.astype(np.int64) @ xq.astype(np.int64)
    assert np.array_equal(acc - quant.row_corrections(q), q.astype(np.int64) @ (xq.astype(np.int64) - 127))


@pytest.mark.parametrize("name,min_snr", [("w127-row-u8off", 33), ("w63-row-u8off", 27), ("w128-row-u8off", 33),
                                          ("w127-tensor-u8off", 30), ("w127-row-s8dyn", 33),
                                          ("w63-tensor-s8dyn", 24)])
def test_reference_tracks_float(name: str, min_snr: float) -> None:
    w, x = layer()
    y = quant.int8_gemv_reference(quant.quantize_weights(w, quant.get_scheme(name)), x)
    assert y.dtype == np.float32
    assert snr_db(y, w.astype(np.float64) @ x) > min_snr


def test_reference_order_of_operations() -> None:
    w, x = layer(48, 40)
    qw = quant.quantize_weights(w, quant.get_scheme("w127-row-u8off"))
    acc = qw.q.astype(np.int32) @ quant.quantize_u8(x).astype(np.int32)
    by_hand = (acc - quant.row_corrections(qw.q)).astype(np.float32) * (qw.scale * np.float32(1 / 127))
    assert np.array_equal(quant.int8_gemv_reference(qw, x), by_hand)
    diag = np.linspace(-1, 1, 48).astype(np.float32)
    with_diag = quant.int8_gemv_reference(qw, x, diag)
    assert np.array_equal(with_diag, by_hand + diag * x[np.arange(48) % 40])


def test_accumulator_overflow_is_detected() -> None:
    k = 70000  # 70000 * 254 * 127 > 2**31
    qw = quant.QuantizedWeights(np.full((1, k), 127, np.int8), np.ones(1, np.float32),
                                quant.get_scheme("w127-row-u8off"))
    with pytest.raises(OverflowError):
        quant.int8_gemv_reference(qw, np.ones(k, np.float32))


def test_round_bf16_rounds_to_nearest_even_and_keeps_nan():
    bits = np.array([0x3F800000, 0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF, 0x7F7FFFFF, 0x00008000,
                     0x00018000, 0x80000000, 0xFF800000, 0x7FC00000, 0x7F800001], np.uint32)
    expected = np.array([0x3F80, 0x3F80, 0x3F82, 0x3F81, 0x3F80, 0x7F80, 0x0000, 0x0002, 0x8000, 0xFF80, 0x7FC0,
                         0x7FC0], np.uint16)
    #  1.0; ties go to the even neighbour (down, then up); just above / below a tie; the largest
    #  float rounds to inf; denormal ties; -0; -inf; a quiet NaN; a signalling NaN is quieted
    np.testing.assert_array_equal(quant.round_bf16(bits.view(np.float32)), expected)


def test_bf16_values_and_reference():
    x = np.array([1.0, -2.5, 3.14159265], np.float32)
    rounded = quant.bf16_to_float32(quant.round_bf16(x))
    assert rounded[0] == 1.0 and rounded[1] == -2.5 and rounded[2] == np.float32(3.140625)
    w = np.array([[1.0, 3.14159265, 0.0]], np.float32)
    exact_x = quant.half_gemv_reference("bf16", quant.round_bf16(w), x)
    assert exact_x[0] == 1.0 + 3.140625 * np.float64(np.float32(-2.5))
    rounded_x = quant.half_gemv_reference("bf16", quant.round_bf16(w), np.array([1.0, 1.00390625, 7.0], np.float32),
                                          round_activations=True)
    assert rounded_x[0] == 1.0 + 3.140625 * 1.0  # 1 + 2^-8 is a tie, rounded to 1
