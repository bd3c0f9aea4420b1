"""The C kernels, every variant this CPU runs, against float64 and (int8) bit-exactly against gemmbench.quant."""

from __future__ import annotations

import numpy as np
import pytest

from gemmbench import blocksparse, native, quant
from gemmbench.backends.csimd import kernels as K

pytestmark = pytest.mark.skipif(native.find_compiler() is None, reason="no C compiler found")

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
    assert p.packed.ctypes.data % 64 == 0 and p.packed.size == -(-m // 16) * 16 * k
    y = np.full(m + 1, np.nan, np.float32)  # one guard element past the end
    K.sgemv(p, x, y[:m])
    assert_float_close(y[:m], w, x)
    assert np.isnan(y[m]), "the ragged last panel wrote past row m"
    assert_same_both_directions(lambda out: K.sgemv(p, x, out), y)


def assert_same_both_directions(gemv, y: np.ndarray) -> None:
    """Consecutive calls read the panels in opposite orders (L2 reuse); each must give y exactly."""
    for _ in range(3):
        again = np.full_like(y, np.nan)
        gemv(again[:-1])
        assert np.array_equal(again, y, equal_nan=True)


@pytest.mark.parametrize("m,k", [(1152, 384), (1000, 383), (17, 5)])
@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 11, 16, 64])
def test_sgemm(kern: K.Kernels, m: int, k: int, n: int) -> None:
    w, x = data(m, k, n)
    p = K.pack_dense(kern, w)
    y = np.empty((m, n), np.float32)
    K.sgemm(p, x, y)
    assert_float_close(y, w, x)


def test_dense_rejects_bad_arguments(kern: K.Kernels) -> None:
    w, x = data(32, 8)
    p = K.pack_dense(kern, w)
    with pytest.raises(ValueError, match="x must be C-contiguous float32 of shape"):
        K.sgemv(p, x.astype(np.float64), np.empty(32, np.float32))
    with pytest.raises(ValueError, match="y must be"):
        K.sgemv(p, x, np.empty(31, np.float32))
    with pytest.raises(ValueError, match="X must be"):
        K.sgemm(p, np.empty((8, 4), np.float32)[:, ::2], np.empty((32, 2), np.float32))


# ---- 16x1 block-sparse float32 ----

@pytest.mark.parametrize("m,k", SPARSE_SHAPES)
@pytest.mark.parametrize("diagonal", [False, True])
@pytest.mark.parametrize("density", [0.1, 0.5])
def test_sparse16(kern: K.Kernels, m: int, k: int, diagonal: bool, density: float) -> None:
    w, mask, diag, x = pruned(m, k, (16, 1), density, diagonal)
    p = K.prepare_sparse16_from_dense(kern, w, mask, diag)
    assert p.index.size == p.nblocks + m // 16
    y = np.empty(m, np.float32)
    K.sparse16_sgemv(p, x, y)
    assert_float_close(y, w, x)


def test_sparse16_empty_block_rows(kern: K.Kernels) -> None:
    w, mask, _, x = pruned(64, 32, (16, 1), 0.3, False)
    mask[1] = False
    w[16:32] = 0
    p = K.prepare_sparse16_from_dense(kern, w, mask)
    y = np.empty(64, np.float32)
    K.sparse16_sgemv(p, x, y)
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
    assert np.array_equal(y, expected), f"{np.count_nonzero(y != expected)} outputs differ from gemmbench.quant"
    assert snr_db(y, w.astype(np.float64) @ x.astype(np.float64)) > min_snr


def min_snr(kern: K.Kernels) -> float:
    return 27.0 if kern.int8_range[1] == 63 else 33.0


@pytest.mark.parametrize("m,k", SHAPES)
def test_int8_dense_matches_reference_bit_for_bit(kern: K.Kernels, m: int, k: int) -> None:
    w, x = data(m, k)
    p = K.prepare_int8(kern, w)
    assert p.quantized.scheme.name == K.int8_scheme_name(kern.variant)
    y = np.full(m + 1, np.nan, np.float32)
    K.int8_gemv(p, x, y[:m])
    check_int8(y[:m], p, w, x, min_snr(kern) if k > 1 else 20.0)
    assert np.isnan(y[m])
    assert_same_both_directions(lambda out: K.int8_gemv(p, x, out), y)


def test_int8_scheme_per_variant(kern: K.Kernels) -> None:
    maddubs = kern.variant in ("avx2", "avx512")
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
    K.int8_gemv(p, x, y)
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
    K.int8_gemv(p, x, y)
    check_int8(y, p, w, x, 60.0)


def test_activation_quantizer_matches_numpy(kern: K.Kernels) -> None:
    halves = (np.arange(-127, 127, dtype=np.float32) + np.float32(0.5)) / np.float32(127)
    x = np.concatenate([halves, np.linspace(-1.5, 1.5, 301, dtype=np.float32), [-1, 0, 1, 1e-8, -1e-8]])
    x = x.astype(np.float32)
    assert np.array_equal(K.quantize_u8(kern, x), quant.quantize_u8(x))


@pytest.mark.parametrize("m,k", SPARSE_SHAPES + [(1000, 384)])
@pytest.mark.parametrize("diagonal", [False, True])
def test_sparse8x4_int8_matches_reference_bit_for_bit(kern: K.Kernels, m: int, k: int, diagonal: bool) -> None:
    w, mask, diag, x = pruned(m, k, (8, 4), 0.1, diagonal)
    p = K.prepare_sparse8x4_int8(kern, w, mask, diag)
    assert p.index.size == p.nblocks + m // 8
    y = np.empty(m, np.float32)
    K.sparse8x4_int8_gemv(p, x, y)
    check_int8(y, p, w, x, min_snr(kern) - 3)


def test_sparse8x4_refuses_ragged_inputs(kern: K.Kernels) -> None:
    with pytest.raises(ValueError, match="does not split into 8x4"):
        K.prepare_sparse8x4_int8(kern, np.zeros((1000, 383), np.float32), np.zeros((125, 95), bool))


# ---- native timing entries ----

def test_timing_entries_return_elapsed_ns(kern: K.Kernels) -> None:
    w, x = data(64, 32)
    y = np.empty(64, np.float32)
    w16, mask16, _, _ = pruned(64, 32, (16, 1), 0.3, False)
    w84, mask84, _, _ = pruned(64, 32, (8, 4), 0.3, False)
    dense, i8 = K.pack_dense(kern, w), K.prepare_int8(kern, w)
    s16 = K.prepare_sparse16_from_dense(kern, w16, mask16)
    s84 = K.prepare_sparse8x4_int8(kern, w84, mask84)
    X, Y = data(64, 32, 4)[1], np.empty((64, 4), np.float32)
    timers = [lambda n: K.sgemv_time(dense, x, y, n), lambda n: K.sgemm_time(dense, X, Y, n),
              lambda n: K.sparse16_sgemv_time(s16, x, y, n), lambda n: K.int8_gemv_time(i8, x, y, n),
              lambda n: K.sparse8x4_int8_gemv_time(s84, x, y, n)]
    for timer in timers:
        y.fill(np.nan), Y.fill(np.nan)
        timer(0)
        assert np.isnan(y).all() and np.isnan(Y).all(), "zero loops must not run the kernel"
        assert timer(200) > 0
        assert not (np.isnan(y).all() and np.isnan(Y).all())
    K.sparse8x4_int8_gemv_time(s84, x, y, 3)
    assert np.array_equal(y, K.int8_reference(s84, x))  # the timed loop computes the real result


# ---- the ABI: struct mirrors and int64 integers ----

def test_struct_mirrors_match_the_c_layout_field_by_field(kern: K.Kernels) -> None:
    from gemmbench.backends.csimd import lpcnet

    for name, mirror in (("gb_product", lpcnet._Product), ("gb_lpcnet", lpcnet._Net)):
        K.check_layout(kern, name, mirror)
        size, fields = K.c_layout(kern, name)
        assert (size, fields) == K.mirror_layout(mirror)
        assert len(fields) == len(mirror._fields_) > 5


def test_a_mirror_with_two_pointer_fields_swapped_is_refused(kern: K.Kernels) -> None:
    """Same size, same field types: a size check alone would pass it."""
    import ctypes

    from gemmbench.backends.csimd import lpcnet

    fields = list(lpcnet._Product._fields_)
    i, j = [n for n, _ in fields].index("scale"), [n for n, _ in fields].index("corr")
    fields[i], fields[j] = fields[j], fields[i]
    swapped = type("Swapped", (ctypes.Structure,), {"_fields_": fields})
    assert ctypes.sizeof(swapped) == ctypes.sizeof(lpcnet._Product)
    with pytest.raises(RuntimeError, match=r"gb_product field .*'scale'.*'corr'"):
        K.check_layout(kern, "gb_product", swapped)
    with pytest.raises(ValueError, match="does not describe a struct gb_nothing"):
        K.c_layout(kern, "gb_nothing")


def test_shapes_and_sizes_cross_the_abi_as_int64(kern: K.Kernels) -> None:
    """A shape past 2^31 reaches C whole and its size comes back whole (no int truncation)."""
    m, k = (1 << 31) + 16, 3
    assert kern.lib.gb_dense_packed_floats(m, k) == m * k
    assert kern.lib.gb_int8_packed_bytes(m, 5) == m * 8
    assert kern.lib.gb_int8_xq_bytes(1 << 33) == 1 << 33
