"""The C kernels, every variant this CPU runs, against float64, (int8) bit-exactly against gemmbench.formats.quant,
(bf16, fp16) their weights rounded bit-exactly as gemmbench.formats.quant.round_bf16 and round_fp16 (numpy's float16)
round them; and the one-pointer call."""

from __future__ import annotations

import numpy as np
import pytest

from gemmbench.backends.csimd import kernels as K
from gemmbench.formats import blocksparse, quant
from gemmbench.machine import native

pytestmark = [pytest.mark.skipif(native.find_compiler() is None, reason="no C compiler found"), pytest.mark.slow]  # every kernel x variant x shape: .ci/run and `pytest --slow`

SHAPES = [(1152, 384), (2688, 896), (1000, 383), (17, 1), (5, 7), (16, 16), (33, 130)]
SPARSE_SHAPES = [(1152, 384), (2688, 896), (48, 20)]
EPS32 = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="module", params=K.LEVELS)
def kern(request: pytest.FixtureRequest) -> K.Kernels:
    missing = native.missing_cpu_flags(request.param)
    if missing:
        pytest.skip(f"CPU lacks {', '.join(missing)}")
    return K.load_kernels(request.param)


def data(m: int, k: int, n: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The harness's conventions: W ~ N(0, 1/k), x ~ U[-1, 1)."""
    rng = np.random.default_rng(seed + 1000 * m + k)
    w = (rng.standard_normal((m, k)) / np.sqrt(k)).astype(np.float32)
    x = rng.uniform(-1, 1, (k,) if n is None else (k, n)).astype(np.float32)
    return w, x


def assert_float_close(y: np.ndarray, w: np.ndarray, x: np.ndarray) -> None:
    """Within the a-priori bound of float32 summation: |err| <= k * eps * (|W| |x|)."""
    w64, x64 = w.astype(np.float64), x.astype(np.float64)
    ref, bound = w64 @ x64, w.shape[1] * EPS32 * (np.abs(w64) @ np.abs(x64))
    assert y.dtype == np.float32
    assert (np.abs(y - ref) <= bound + 1e-30).all(), float(np.max(np.abs(y - ref) - bound))
    assert np.linalg.norm(y - ref) <= 1e-5 * np.linalg.norm(ref)


def snr_db(y: np.ndarray, ref: np.ndarray) -> float:
    noise = np.sum((y - ref) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(ref ** 2) / noise))


def pruned(m: int, k: int, block: tuple[int, int], density: float, diagonal: bool, seed: int = 0):
    w, x = data(m, k, seed=seed)
    rng = np.random.default_rng(seed)
    mask = rng.random((m // block[0], k // block[1])) < density
    w = w * np.repeat(np.repeat(mask, block[0], 0), block[1], 1)
    diag = None
    if diagonal:
        rows = np.arange(m)
        diag = rng.standard_normal(m).astype(np.float32) / np.float32(4)
        w[rows, rows % k] = diag
    return w, mask, diag, x


# ---- dense float32 ----

@pytest.mark.parametrize("m,k", SHAPES)
def test_sgemv(kern: K.Kernels, m: int, k: int) -> None:
    w, x = data(m, k)
    p = K.pack_dense(kern, w)
    packed = p.arrays[0]
    assert packed.ctypes.data % 64 == 0 and packed.size == -(-m // 16) * 16 * k
    y = np.full(m + 1, np.nan, np.float32)  # one guard element past the end
    call = gemv(p, x, y[:m])
    assert_float_close(y[:m], w, x)
    assert np.isnan(y[m]), "the ragged last panel wrote past row m"
    assert_same_both_directions(lambda out: K.run(call, x, out), y)


def gemv(a: K.Operand, x: np.ndarray, y: np.ndarray) -> K.Call:
    """One measured call of a freshly bound operand; the call, for more."""
    call = K.bind(a, x, y)
    K.run(call, x, y)
    return call


def assert_same_both_directions(gemv, y: np.ndarray) -> None:
    """Consecutive calls read the panels in opposite orders (L2 reuse); each must give y exactly."""
    for _ in range(3):
        again = np.full_like(y, np.nan)
        gemv(again[:-1])
        assert np.array_equal(again, y, equal_nan=True)


GEMM_SHAPES = [(1152, 384), (1000, 383), (17, 5), (33, 130)]
GEMM_COLUMNS = [1, 2, 3, 7, 8, 11, 16, 17, 31, 32, 33, 48, 64, 65, 130]  # chunks of 16 and int8's passes of 64, whole and ragged


def gemm(a: K.Operand, x: np.ndarray) -> np.ndarray:
    """Y = A X by one measured call, into a NaN-filled buffer whose guard element past Y must stay NaN."""
    m, n = a.m, x.shape[1]
    buffer = np.full(m * n + 1, np.nan, np.float32)
    y = buffer[:m * n].reshape(m, n)
    gemv(a, x, y)
    assert np.isnan(buffer[-1]), "the GEMM wrote past Y"
    return y


@pytest.mark.parametrize("m,k", GEMM_SHAPES)
@pytest.mark.parametrize("n", GEMM_COLUMNS)
def test_sgemm(kern: K.Kernels, m: int, k: int, n: int) -> None:
    w, x = data(m, k, n)
    assert_float_close(gemm(K.pack_dense(kern, w), x), w, x)




# ---- 16x1 block-sparse float32 ----

@pytest.mark.parametrize("m,k", SPARSE_SHAPES)
@pytest.mark.parametrize("diagonal", [False, True])
@pytest.mark.parametrize("density", [0.1, 0.5])
@pytest.mark.parametrize("precision", ["float32", "bf16", "fp16"])
def test_sparse16(kern: K.Kernels, m: int, k: int, diagonal: bool, density: float, precision: str) -> None:
    w, mask, diag, x = pruned(m, k, (16, 1), density, diagonal)
    p = K.prepare_gemv(kern, w, precision, mask, diag)
    y = np.full(m + 1, np.nan, np.float32)
    call = gemv(p, x, y[:m])
    assert_same_both_directions(lambda out: K.run(call, x, out), y)
    y = y[:m]
    assert p.nblocks == mask.sum() and p.arrays[0].nbytes >= p.nblocks * 16 * (4 if precision == "float32" else 2)
    if precision == "float32":
        assert_float_close(y, w, x)
        return
    block_part = np.where(np.repeat(mask, 16, 0), w, np.float32(0))  # +0 where pruned: the blocks hold no -0
    if diag is not None:
        block_part[np.arange(m), np.arange(m) % k] = 0
    assert np.array_equal(p.rounded, ROUND[precision](block_part))  # the weights it holds, bit for bit
    check_half(y, p, w, x)


def test_sparse16_empty_block_rows(kern: K.Kernels) -> None:
    w, mask, _, x = pruned(64, 32, (16, 1), 0.3, False)
    mask[1] = False
    w[16:32] = 0
    p = K.prepare_sparse16_from_dense(kern, w, mask)
    y = np.empty(64, np.float32)
    gemv(p, x, y)
    assert not y[16:32].any()
    assert_float_close(y, w, x)


def test_sparse16_refuses_other_blocks_and_shapes(kern: K.Kernels) -> None:
    w, mask, _, _ = pruned(64, 32, (8, 4), 0.3, False)
    with pytest.raises(ValueError, match="needs 16x1 blocks"):
        K.prepare_sparse16(kern, blocksparse.to_block_sparse(w, mask, block=(8, 4)))
    with pytest.raises(ValueError, match="does not split into 16x1"):
        K.prepare_sparse16_from_dense(kern, np.zeros((1000, 383), np.float32), np.zeros((62, 383), bool))


# ---- int8 ----

def check_int8(y: np.ndarray, p, w: np.ndarray, x: np.ndarray, min_snr: float) -> None:
    expected = K.int8_reference(p, x)
    assert y.dtype == np.float32
    assert np.array_equal(y, expected), f"{np.count_nonzero(y != expected)} outputs differ from gemmbench.formats.quant"
    assert snr_db(y, w.astype(np.float64) @ x.astype(np.float64)) > min_snr


def min_snr(kern: K.Kernels) -> float:
    return 27.0 if kern.int8_range[1] == 63 else 33.0


@pytest.mark.parametrize("m,k", SHAPES)
def test_int8_dense_matches_reference_bit_for_bit(kern: K.Kernels, m: int, k: int) -> None:
    w, x = data(m, k)
    p = K.prepare_int8(kern, w)
    assert p.quantized.scheme.name == K.int8_scheme_name(kern.variant)
    y = np.full(m + 1, np.nan, np.float32)
    call = gemv(p, x, y[:m])
    check_int8(y[:m], p, w, x, min_snr(kern) if k > 1 else 20.0)
    assert np.isnan(y[m])
    assert_same_both_directions(lambda out: K.run(call, x, out), y)


@pytest.mark.parametrize("m,k", GEMM_SHAPES)
@pytest.mark.parametrize("n", GEMM_COLUMNS)
def test_int8_gemm_matches_reference_bit_for_bit(kern: K.Kernels, m: int, k: int, n: int) -> None:
    """Every column of Y is the int8 GEMV of that column of X, bit for bit; the operand is the GEMV's."""
    w, x = data(m, k, n)
    p = K.prepare_int8(kern, w)
    y = gemm(p, x)
    check_int8(y, p, w, x, min_snr(kern))
    column = np.full(m, np.nan, np.float32)
    gemv(p, np.ascontiguousarray(x[:, n - 1]), column)
    assert np.array_equal(column, y[:, n - 1]), "a GEMM column differs from the GEMV of that column"


def test_int8_gemm_clips_and_rounds_like_the_gemv(kern: K.Kernels) -> None:
    """Activations past [-1, 1] and exactly between two levels (half to even) in every column."""
    m, k, n = 40, 36, 19
    w, _ = data(m, k)
    x = np.resize(np.array([1.5, -3.0, 0.5 / 127, 1.5 / 127, -2.5 / 127, 1.0, -1.0, 0.0], np.float32), (k, n))
    p = K.prepare_int8(kern, w)
    assert np.array_equal(gemm(p, x), K.int8_reference(p, x))


def test_int8_scheme_per_variant(kern: K.Kernels) -> None:
    maddubs = kern.variant in ("avx2", "avx512", "avx512bf16", "avx512fp16", "amx-bf16")  # amx-bf16: avx512bf16 and tiles
    assert kern.int8_range == ((-63, 63) if maddubs else (-128, 127))
    assert kern.int8_scheme.name == ("w63-row-u8off" if maddubs else "w127-row-u8off")


@pytest.mark.parametrize("scheme", ["w127-row-u8off", "w128-row-u8off", "w63-tensor-u8off", "w127-tensor-u8off"])
def test_int8_other_schemes(kern: K.Kernels, scheme: str) -> None:
    w, x = data(1152, 384)
    s = quant.get_scheme(scheme)
    if s.weight_min < kern.int8_range[0] or s.weight_max > kern.int8_range[1]:
        with pytest.raises(ValueError, match="saturate"):
            K.prepare_int8(kern, w, s)
        return
    p = K.prepare_int8(kern, w, s)
    y = np.empty(1152, np.float32)
    gemv(p, x, y)
    check_int8(y, p, w, x, 27.0)


def test_int8_refuses_signed_dynamic_activations(kern: K.Kernels) -> None:
    with pytest.raises(ValueError, match="u8 offset activations only"):
        K.prepare_int8(kern, data(16, 8)[0], "w63-row-s8dyn")


def test_int8_worst_case_does_not_saturate(kern: K.Kernels) -> None:
    """Largest weights times largest activations: the maddubs int16 pair sums are at their peak."""
    m, k = 32, 64
    w = np.ones((m, k), np.float32)
    w[1::2] = -1
    x = np.ones(k, np.float32)
    p = K.prepare_int8(kern, w)
    y = np.empty(m, np.float32)
    gemv(p, x, y)
    check_int8(y, p, w, x, 60.0)


def test_activation_quantizer_matches_numpy(kern: K.Kernels) -> None:
    halves = (np.arange(-127, 127, dtype=np.float32) + np.float32(0.5)) / np.float32(127)
    x = np.concatenate([halves, np.linspace(-1.5, 1.5, 301, dtype=np.float32), [-1, 0, 1, 1e-8, -1e-8]])
    x = x.astype(np.float32)
    expected = quant.quantize_u8(x).astype(np.int32) - quant.ACT_OFFSET + kern.int8_act_offset  # NEON: offset 0
    assert np.array_equal(K.quantize_u8(kern, x), expected.astype(np.int8).view(np.uint8))


@pytest.mark.parametrize("m,k", SPARSE_SHAPES + [(1000, 384)])
@pytest.mark.parametrize("diagonal", [False, True])
def test_sparse8x4_int8_matches_reference_bit_for_bit(kern: K.Kernels, m: int, k: int, diagonal: bool) -> None:
    w, mask, diag, x = pruned(m, k, (8, 4), 0.1, diagonal)
    p = K.prepare_sparse8x4_int8(kern, w, mask, diag)
    assert p.nblocks == mask.sum() and p.arrays[0].size >= 32 * p.nblocks
    y = np.full(m + 1, np.nan, np.float32)
    call = gemv(p, x, y[:m])
    check_int8(y[:m], p, w, x, min_snr(kern) - 3)
    assert_same_both_directions(lambda out: K.run(call, x, out), y)


def test_sparse8x4_groups_take_empty_full_and_uneven_rows(kern: K.Kernels) -> None:
    """Block rows of 0 to k/4 blocks in lockstep groups of 8, the last group part empty (m/8 = 11)."""
    m, k = 88, 40
    w, x = data(m, k)
    rng = np.random.default_rng(3)
    mask = rng.random((m // 8, k // 4)) < np.linspace(0, 1, m // 8)[:, None]
    mask[0], mask[5], mask[-1] = False, True, False
    w = w * np.repeat(np.repeat(mask, 8, 0), 4, 1)
    p = K.prepare_sparse8x4_int8(kern, w, mask)
    y = np.full(m, np.nan, np.float32)
    gemv(p, x, y)
    check_int8(y, p, w, x, min_snr(kern) - 3)
    assert not y[:8].any() and not y[-8:].any()


def test_sparse8x4_refuses_ragged_inputs(kern: K.Kernels) -> None:
    with pytest.raises(ValueError, match="does not split into 8x4"):
        K.prepare_sparse8x4_int8(kern, np.zeros((1000, 383), np.float32), np.zeros((125, 95), bool))


# ---- native timing loops ----

def test_the_native_loop_runs_the_call_it_times(kern: K.Kernels) -> None:
    w, x = data(64, 32)
    w16, mask16, _, _ = pruned(64, 32, (16, 1), 0.3, False)
    w84, mask84, _, _ = pruned(64, 32, (8, 4), 0.3, False)
    X = data(64, 32, 4)[1]
    operands = [(K.pack_dense(kern, w), x), (K.pack_dense(kern, w), X), (K.prepare_int8(kern, w), x),
                (K.prepare_sparse16_from_dense(kern, w16, mask16), x), (K.prepare_sparse8x4_int8(kern, w84, mask84), x),
                (K.prepare_bf16(kern, w), x), (K.prepare_sparse16_bf16(kern, w16, mask16), x),
                (K.prepare_fp16(kern, w), x), (K.prepare_sparse16_fp16(kern, w16, mask16), x)]
    for a, xs in operands:
        y = np.full((64, *xs.shape[1:]), np.nan, np.float32)
        call = K.bind(a, xs, y)
        assert K.run_time(call, xs, y, 0) >= 0 and np.isnan(y).all(), "zero loops must not run the kernel"
        assert K.run_time(call, xs, y, 200) > 0
        once = np.full_like(y, np.nan)
        K.run(call, xs, once)
        np.testing.assert_array_equal(y, once)  # the timed loop computes the real result


# ---- the ABI: struct mirrors and int64 integers ----

def test_struct_mirrors_match_the_c_layout_field_by_field(kern: K.Kernels) -> None:
    from gemmbench.backends.csimd import lpcnet

    for name, mirror in (("gb_product", K.Product), ("gb_call", K.CallBlock), ("gb_lpcnet", lpcnet._Net)):
        K.check_layout(kern, name, mirror)
        size, fields = K.c_layout(kern, name)
        assert (size, fields) == K.mirror_layout(mirror)
        assert len(fields) == len(mirror._fields_) >= 5


def test_a_mirror_with_two_pointer_fields_swapped_is_refused(kern: K.Kernels) -> None:
    """Same size, same field types: a size check alone would pass it."""
    import ctypes

    fields = list(K.Product._fields_)
    i, j = [n for n, _ in fields].index("scale"), [n for n, _ in fields].index("corr")
    fields[i], fields[j] = fields[j], fields[i]
    swapped = type("Swapped", (ctypes.Structure,), {"_fields_": fields})
    assert ctypes.sizeof(swapped) == ctypes.sizeof(K.Product)
    with pytest.raises(RuntimeError, match=r"gb_product field .*'scale'.*'corr'"):
        K.check_layout(kern, "gb_product", swapped)
    with pytest.raises(ValueError, match="does not describe a struct gb_nothing"):
        K.c_layout(kern, "gb_nothing")


def test_shapes_and_sizes_cross_the_abi_as_int64(kern: K.Kernels) -> None:
    """A shape past 2^31 reaches C whole and its size comes back whole (no int truncation)."""
    m, k = (1 << 31) + 16, 3
    assert kern.lib.gb_dense_packed_floats(m, k) == m * k
    assert kern.lib.gb_int8_packed_bytes(m, 5) == m * 8
    assert kern.lib.gb_act_bytes(K.KINDS.index("sparse8x4_int8"), 1 << 33) == 1 << 33
    assert kern.lib.gb_act_bytes(K.KINDS.index("dense_int8"), 1 << 33) == 1 << 39  # 64 quantized columns (gemm.c)


# ---- bf16 and fp16 ----

ROUND = {"bf16": quant.round_bf16, "fp16": quant.round_fp16}
PREPARE_DENSE = {"bf16": K.prepare_bf16, "fp16": K.prepare_fp16}
PREPARE_SPARSE16 = {"bf16": K.prepare_sparse16_bf16, "fp16": K.prepare_sparse16_fp16}

def bf16_specials() -> np.ndarray:
    """Ties (odd and even), values either side of a tie, NaN, infinities, zeros, denormals, the largest float."""
    bits = np.array([0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF, 0x7FC00001, 0xFF800000, 0x7F800000, 0x80000000,
                     0x00000001, 0x00018000, 0x807FFFFF, 0x7F7FFFFF, 0xFF7F8000], np.uint32)
    return np.concatenate([bits.view(np.float32), np.random.default_rng(5).standard_normal(4000).astype(np.float32)])


def test_bf16_rounding_is_bit_exact_with_numpy(kern: K.Kernels) -> None:
    values = bf16_specials()
    c, numpy_ = K.round_bf16(kern, values), quant.round_bf16(values)
    assert np.array_equal(c, numpy_), f"{np.count_nonzero(c != numpy_)} of {values.size} roundings differ"


def fp16_specials() -> np.ndarray:
    """Ties (odd and even) in the normal and subnormal ranges, values either side of them, the overflow edge
    (65504 stays, 65520 rounds to infinity), the underflow edge, quiet and signalling NaNs, infinities,
    zeros, float32 denormals, then random bit patterns (every exponent) and random weights."""
    bits = np.array([0x3F801000, 0x3F803000, 0x3F801001, 0x3F800FFF, 0x477FE000, 0x477FEFFF, 0x477FF000, 0x47800000,
                     0x33000000, 0x33000001, 0x33800000, 0x387FC000, 0x38800000, 0x387FE000, 0x35000000, 0x35400000,
                     0x7FC00001, 0x7F800001, 0xFF802000, 0x7FFFFFFF, 0xFF800000, 0x7F800000, 0x80000000, 0x00000001,
                     0x807FFFFF, 0x7F7FFFFF], np.uint32)
    rng = np.random.default_rng(6)
    return np.concatenate([bits.view(np.float32), rng.integers(0, 1 << 32, 20000, dtype=np.uint32).view(np.float32),
                           rng.standard_normal(4000).astype(np.float32) / np.float32(20)])


def test_fp16_rounding_is_bit_exact_with_numpy(kern: K.Kernels) -> None:
    values = fp16_specials()
    c, numpy_ = K.round_fp16(kern, values), quant.round_fp16(values)
    with np.errstate(over="ignore"):
        assert np.array_equal(numpy_, values.astype(np.float16).view(np.uint16))  # the reference is numpy's cast
    assert np.array_equal(c, numpy_), f"{np.count_nonzero(c != numpy_)} of {values.size} roundings differ"


@pytest.mark.parametrize("m,k", SHAPES)
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_dense(kern: K.Kernels, m: int, k: int, precision: str) -> None:
    w, x = data(m, k)
    p = PREPARE_DENSE[precision](kern, w)
    assert p.precision == precision and np.array_equal(p.rounded, ROUND[precision](w))  # held bit for bit
    assert p.arrays[0].nbytes == -(-m // 16) * 16 * (k + k % 2) * 2  # half of float32, pairs padded
    y = np.full(m + 1, np.nan, np.float32)
    call = gemv(p, x, y[:m])
    check_half(y[:m], p, w, x)
    assert np.isnan(y[m]), "the ragged last panel wrote past row m"
    assert_same_both_directions(lambda out: K.run(call, x, out), y)


def check_half(y: np.ndarray, p, w: np.ndarray, x: np.ndarray) -> None:
    """Within the summation bound of the bf16 or fp16 reference, and within the precision's tolerance of float64.

    The bound: float32 sums, k eps32 |W| |x|; where fp16 lanes sum `terms` products first, each of those
    roundings adds up to 2^-11 of what it sums (terms 2^-11 |W| |x| in all) and, for fp16 subnormals, up to
    2^-25 absolute."""
    from gemmbench.measure import verify

    expected = quant.half_gemv_reference(p.precision, p.rounded, x, getattr(p, "diagonal", None),
                                          K.rounds_activations(p.kernels, p.precision))
    terms = p.kernels.fp16_lane_terms if p.precision == "fp16" else 0
    size = np.abs(w.astype(np.float64)) @ np.abs(x.astype(np.float64))  # w holds any diagonal
    bound = (p.k * EPS32 + terms * 2.0 ** -11) * size + terms * p.k * 2.0 ** -25
    assert (np.abs(y - expected) <= bound + 1e-30).all(), float(np.max(np.abs(y - expected) - bound))
    exact = w.astype(np.float64) @ x.astype(np.float64)
    assert verify.check(y, exact, p.precision).ok and snr_db(y, exact) > (60 if p.precision == "fp16" else 45)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_sparse16_odd_counts_and_empty_rows(kern: K.Kernels, precision: str) -> None:
    """Rows with 0, 1, 2 and 3 blocks: an odd count pairs its last block with a zero block."""
    w, x = data(64, 16)
    mask = np.zeros((4, 16), bool)
    mask[1, 3] = mask[2, [0, 15]] = mask[3, [2, 5, 9]] = True
    w = w * np.repeat(mask, 16, 0)
    p = PREPARE_SPARSE16[precision](kern, w, mask)
    y = np.full(64, np.nan, np.float32)
    gemv(p, x, y)
    assert not y[:16].any()
    check_half(y, p, w, x)


def test_half_variants_say_whether_they_round_activations(kern: K.Kernels) -> None:
    from gemmbench.backends.csimd.backend import FP16_TERMS

    assert kern.bf16_rounds_activations == (kern.variant in ("avx512bf16", "amx-bf16"))  # amx-bf16: avx512bf16 and tiles
    assert kern.fp16_lane_terms == (FP16_TERMS if kern.variant == "avx512fp16" else 0)


def test_half_kernels_refuse_wrong_weights(kern: K.Kernels) -> None:
    for prepare in (K.prepare_fp16, K.prepare_bf16):
        with pytest.raises(ValueError, match=r"weights must be 2-D with m, k >= 1, got shape \(8,\)"):
            prepare(kern, np.zeros(8, np.float32))
        with pytest.raises(ValueError, match=r"got shape \(0, 4\)"):
            prepare(kern, np.zeros((0, 4), np.float32))
    for prepare in (K.prepare_sparse16_fp16, K.prepare_sparse16_bf16):
        with pytest.raises(ValueError, match="does not split into 16x1"):
            prepare(kern, np.zeros((40, 8), np.float32), np.zeros((2, 8), bool))
    with pytest.raises(ValueError, match=r"csimd has no 'float16' kernels; precisions: float32, int8, bf16, fp16"):
        K.prepare_gemv(kern, np.zeros((16, 8), np.float32), "float16")


# ---- the call path: one pointer, arrays checked when they change ----

def test_cycling_inputs_each_get_their_own_product(kern: K.Kernels) -> None:
    w, _ = data(40, 24)
    inputs = [data(40, 24, seed=s)[1] for s in range(5)]
    for a in (K.pack_dense(kern, w), K.prepare_int8(kern, w), K.prepare_bf16(kern, w), K.prepare_fp16(kern, w)):
        call, outputs = K.bind(a), [np.empty(40, np.float32) for _ in range(2)]
        for i in range(12):
            x, y = inputs[i % 5], outputs[i % 2]
            K.run(call, x, y)
            alone = np.empty(40, np.float32)
            gemv(a, x.copy(), alone)
            np.testing.assert_array_equal(y, alone)


def test_callers_of_one_operand_each_keep_their_own_arrays(kern: K.Kernels) -> None:
    w, _ = data(40, 24)
    inputs = [data(40, 24, seed=s)[1] for s in range(3)]
    for a in (K.pack_dense(kern, w), K.prepare_int8(kern, w), K.prepare_bf16(kern, w)):
        outputs = [np.full(40, np.nan, np.float32) for _ in inputs]
        callers = [K.bind(a, x, y).caller() for x, y in zip(inputs, outputs)]
        for call in reversed(callers):  # a later bind must not move an earlier caller's pointers
            call()
        for x, y in zip(inputs, outputs):
            alone = np.empty(40, np.float32)
            gemv(a, x.copy(), alone)
            np.testing.assert_array_equal(y, alone)
    with pytest.raises(ValueError, match="bind x and y before making a caller"):
        K.bind(a).caller()


@pytest.mark.parametrize("bad_x, message", [
    (np.zeros(24, np.float64), r"x must be a C-contiguous float32 array of shape \(24,\), got float64 \(24,\)"),
    (np.zeros(23, np.float32), r"x must be .* of shape \(24,\), got float32 \(23,\)"),
    (np.zeros(48, np.float32)[::2], r"got float32 \(24,\) \(not C-contiguous\)"),
    # a (k, 1) X is a GEMM of one column to a batched operand (dense int8), whose Y must then be (m, 1)
    (np.zeros((24, 1), np.float32), r"x must be .* of shape \(24,\), got float32 \(24, 1\)|Y must be .* \(40, 1\), got float32 \(40,\)"),
    ([0.0] * 24, r"x must be .* got list"),
    (None, r"x must be .* got NoneType"),
])
def test_the_call_refuses_wrong_arrays_and_still_works_after(kern: K.Kernels, bad_x, message: str) -> None:
    w, x = data(40, 24)
    w16, mask16, _, _ = pruned(48, 24, (16, 1), 0.3, False)
    for a in (K.prepare_int8(kern, w), K.prepare_sparse16_bf16(kern, w16, mask16), K.prepare_fp16(kern, w),
              K.prepare_sparse16_fp16(kern, w16, mask16)):
        y, good = np.empty(a.m, np.float32), np.empty(a.m, np.float32)
        call = K.bind(a, x, good)
        K.run(call, x, good)
        with pytest.raises(ValueError, match=message):
            K.run(call, bad_x, y)
        with pytest.raises(ValueError, match=r"y must be .* of shape"):
            K.run(call, x, np.empty(a.m + 1, np.float32))
        with pytest.raises(ValueError, match=r"y must be .* got float64"):
            K.run_time(call, x, np.empty(a.m, np.float64), 3)
        K.run(call, x, y)
        np.testing.assert_array_equal(y, good)
        expected = good.copy()
        with pytest.raises(ValueError, match=r"y must be"):  # a good new x with a bad y binds neither
            K.run(call, np.zeros_like(x), np.empty(a.m + 1, np.float32))
        K.run(call, x, y)  # the arrays it is bound to: no check, the struct must still point at them
        np.testing.assert_array_equal(y, expected)


def test_batched_arrays_are_checked_too(kern: K.Kernels) -> None:
    w, X = data(32, 8, 4)
    call = K.bind(K.pack_dense(kern, w))
    with pytest.raises(ValueError, match=r"Y must be .* of shape \(32, 4\)"):
        K.run(call, X, np.empty((32, 3), np.float32))
    with pytest.raises(ValueError, match=r"X must be .* \(not C-contiguous\)"):
        K.run(call, np.empty((8, 8), np.float32)[:, ::2], np.empty((32, 4), np.float32))
    with pytest.raises(ValueError, match=r"X must be \(k, n\) with n >= 1"):
        K.run(call, np.empty((8, 0), np.float32), np.empty((32, 0), np.float32))


def test_bare_call_loop_times_the_noop_call() -> None:
    loop = K.bare_call_loop()
    assert loop(0) >= 0 and loop(1000) > 0
