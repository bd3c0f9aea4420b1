"""The AMX tile GEMM kernels (backends/csimd/amx.c): int8 bit-exact with gemmbench.formats.quant's reference
column by column, bf16 within the float32 summation bound of the same roundings, the tile packing,
refusals, and the backend's variants (skips, valgrind, a refused tile state)."""

from __future__ import annotations

import numpy as np
import pytest

from gemmbench.backends.csimd import amx
from gemmbench.backends.csimd import kernels as K
from gemmbench.backends.csimd.backend import CSimdBackend
from gemmbench.formats import quant
from gemmbench.machine import isa, native
from gemmbench.measure import instructions
from gemmbench.measure.verify import TOLERANCE

SHAPES = [(1152, 384), (1000, 383), (17, 5), (33, 130), (16, 64)]  # m not a multiple of 16, k not of 64 or 32
COLUMNS = [1, 3, 16, 64, 65]  # 65: a second pass of 64 columns
EPS32 = float(np.finfo(np.float32).eps)
compiled = pytest.mark.skipif(native.find_compiler() is None, reason="no C compiler found")


@pytest.fixture(scope="module", params=sorted(amx.LEVELS))
def amx_kern(request: pytest.FixtureRequest) -> K.Kernels:
    """The AMX library of one precision, where this CPU has it and Linux grants the tile state."""
    level = amx.LEVELS[request.param]
    missing = native.missing_cpu_flags(level)
    if missing:
        pytest.skip(f"CPU lacks {', '.join(missing)}")
    kern = K.load_kernels(level)
    refused = amx.refusal(kern)
    if refused:
        pytest.skip(refused)
    return kern


def precision_of(kern: K.Kernels) -> str:
    return next(p for p, level in amx.LEVELS.items() if level == kern.variant)


def data(m: int, k: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 1000 * m + k + n)
    return (rng.standard_normal((m, k)) / np.sqrt(k)).astype(np.float32), rng.uniform(-1, 1, (k, n)).astype(np.float32)


def product(a: K.Operand, x: np.ndarray) -> np.ndarray:
    """Y from one call, written into a buffer with a guard element past its end."""
    m, n = a.m, x.shape[1]
    buffer = np.full(m * n + 1, np.nan, np.float32)
    y = buffer[:-1].reshape(m, n)
    K.run(K.bind(a, x, y), x, y)
    assert np.isnan(buffer[-1]), "the kernel wrote past Y"
    return y


@pytest.mark.slow
@compiled
@pytest.mark.parametrize("m,k", SHAPES)
@pytest.mark.parametrize("n", COLUMNS)
def test_amx_kernels_match_their_reference(amx_kern: K.Kernels, m: int, k: int, n: int) -> None:
    w, x = data(m, k, n)
    a = amx.prepare_gemm(amx_kern, w, precision_of(amx_kern))
    y = product(a, x)
    exact = w.astype(np.float64) @ x.astype(np.float64)
    rel_err = np.linalg.norm(y - exact) / np.linalg.norm(exact)
    if a.precision == "int8":
        assert a.scheme.name == "w127-row-u8off"
        np.testing.assert_array_equal(y, amx.int8_reference(a, x))
        assert rel_err < TOLERANCE["int8"]
    else:
        np.testing.assert_array_equal(a.rounded, quant.round_bf16(w))
        ref = quant.half_gemv_reference("bf16", a.rounded, x, None, round_activations=True)
        bound = k * EPS32 * (np.abs(quant.bf16_to_float32(a.rounded)).astype(np.float64) @ np.abs(x))
        assert (np.abs(y - ref) <= bound + 1e-30).all()
        assert rel_err < TOLERANCE["bf16"]


@pytest.mark.slow
@compiled
def test_the_native_loop_and_repeated_calls_give_the_same_product(amx_kern: K.Kernels) -> None:
    w, x = data(1152, 384, 16)
    a = amx.prepare_gemm(amx_kern, w, precision_of(amx_kern))
    first = product(a, x)
    y = np.zeros_like(first)
    call = K.bind(a, x, y)
    assert K.run_time(call, x, y, 3) > 0
    np.testing.assert_array_equal(y, first)


@pytest.mark.slow
@compiled
def test_weights_are_packed_into_tiles_of_16_rows_by_64_bytes(amx_kern: K.Kernels) -> None:
    m, k = 33, 130
    w, _ = data(m, k, 1)
    a = amx.prepare_gemm(amx_kern, w, precision_of(amx_kern))
    values = a.quantized.q.view(np.uint8) if a.precision == "int8" else a.rounded.view(np.uint8).reshape(m, 2 * k)
    per_row = 64  # bytes of a tile row
    chunks = -(-values.shape[1] // per_row)
    padded = np.zeros((48, chunks * per_row), np.uint8)
    padded[:m, :values.shape[1]] = values
    tiles = padded.reshape(3, 16, chunks, per_row).transpose(0, 2, 1, 3)  # (panel, chunk, row, byte)
    np.testing.assert_array_equal(a.arrays[0], tiles.reshape(-1))


@pytest.mark.slow
@compiled
@pytest.mark.parametrize("bad_x, message", [
    (np.zeros((385, 16), np.float32), "X must be a C-contiguous float32 array of shape (384, 16)"),
    (np.zeros((384, 16), np.float64), "got float64"),
    (np.zeros((16, 384), np.float32).T, "not C-contiguous"),
])
def test_wrong_arrays_are_refused_and_the_call_still_works(amx_kern: K.Kernels, bad_x, message: str) -> None:
    w, x = data(1152, 384, 16)
    a = amx.prepare_gemm(amx_kern, w, precision_of(amx_kern))
    y = np.zeros((1152, 16), np.float32)
    call = K.bind(a, x, y)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        K.run(call, bad_x, y)
    with pytest.raises(ValueError, match=r"Y must be a C-contiguous float32 array of shape \(1152, 16\)"):
        K.run(call, x, np.zeros((1152, 17), np.float32))
    K.run(call, x, y)
    np.testing.assert_array_equal(y, product(a, x))


@pytest.mark.slow
@compiled
def test_other_levels_precisions_and_shapes_are_refused(amx_kern: K.Kernels) -> None:
    precision = precision_of(amx_kern)
    other = "bf16" if precision == "int8" else "int8"
    with pytest.raises(ValueError, match=f"AMX {other} tiles need the {amx.LEVELS[other]} library"):
        amx.prepare_gemm(amx_kern, np.ones((16, 16), np.float32), other)
    with pytest.raises(ValueError, match="the AMX kernels take int8 or bf16, not 'float32'"):
        amx.prepare_gemm(amx_kern, np.ones((16, 16), np.float32), "float32")
    with pytest.raises(ValueError, match="2-D"):
        amx.prepare_gemm(amx_kern, np.ones(16, np.float32), precision)


@compiled
def test_a_build_without_amx_says_so_and_packs_no_amx_kind() -> None:
    kern = K.load_kernels("scalar")
    assert amx.refusal(kern) == "the scalar library was built without AMX tile instructions"
    assert kern.lib.gb_amx_packed_bytes(K.KINDS.index("dense_f32"), 16, 16) == -1
    with pytest.raises(ValueError, match="need the amx-int8 library, not scalar"):
        amx.prepare_gemm(kern, np.ones((16, 16), np.float32), "int8")


# ---- the backend's variants ----

def amx_variants() -> list:
    return [v for v in CSimdBackend().variants() if amx.is_amx_level(v.isa)]


def test_each_amx_level_offers_one_variant_named_after_it() -> None:
    if isa.host_arch() != "x86_64":
        pytest.skip("the AMX levels are x86-64 levels")
    expected = {level.name for level in isa.levels_for("x86_64") if "amx_tile" in level.cpu_flags}
    assert {(v.name, v.precision) for v in amx_variants()} == {(name, name.split("-")[1]) for name in expected}
    assert all("batched GEMM only" in v.detail for v in amx_variants())


def test_under_valgrind_the_amx_variants_are_unavailable_with_the_reason(monkeypatch) -> None:
    monkeypatch.setenv(instructions.DIRECTORY_VARIABLE, "/nonexistent")
    for variant in amx_variants():
        ok, reason = CSimdBackend().variant_available(variant, frozenset(variant.requires))
        assert not ok and reason == "valgrind runs no AMX tile instructions (its CPUID hides amx_tile)"


def test_a_cpu_without_amx_makes_the_variants_unavailable() -> None:
    for variant in amx_variants():
        flags = frozenset(f for f in variant.requires if not f.startswith("amx"))
        ok, reason = CSimdBackend().variant_available(variant, flags)
        assert not ok and reason.startswith("CPU lacks amx_tile, amx_")


def test_a_refused_tile_state_makes_the_variants_unavailable(monkeypatch) -> None:
    monkeypatch.setattr(K, "load_kernels", lambda level, flags=None: level)
    monkeypatch.setattr(amx, "refusal", lambda kern: "Linux refused the AMX tile state: arch_prctl(...) failed: "
                                                      "Operation not permitted")
    for variant in amx_variants():
        ok, reason = CSimdBackend().variant_available(variant, frozenset(variant.requires))
        assert not ok and "Operation not permitted" in reason
