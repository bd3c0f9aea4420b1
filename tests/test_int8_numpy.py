"""int8-numpy: every scheme verified on vocoder shapes, bit-exact with quant.py and with the C kernels."""

import numpy as np
import pytest

from gbtest import bound_backend, traced_peak
from gemmbench.backends.csimd.backend import CSimdBackend
from gemmbench.backends.int8_numpy import SCHEME_NAMES, Int8NumpyBackend
from gemmbench.formats import quant
from gemmbench.machine import native
from gemmbench.ops.matrix import Sparsity, matrix_case

SHAPES = """
name: int8
backends: [int8-numpy]
cases:
  - {name: gru_a, m: 1152, k: 384}
  - {name: odd_batch, op: gemm, m: 37, k: 29, n: 5}
  - {name: lpcnet, m: 1152, k: 384, density: {u: 0.05, r: 0.05, s: 0.2}, block: 16x1, keep_diagonal: true}
  - {name: f64, m: 8, k: 8, dtype: float64}
"""


def test_every_scheme_passes_the_int8_gate_with_its_error_stored(run_rows):
    rows = run_rows(SHAPES)
    for (case, _, variant), row in rows.items():
        if case == "f64":
            assert row.status == "skipped" and "float64" in row.message
            continue
        assert row.status == "ok", (case, variant, row.message)
        assert row.precision == "int8" and 0 < row.rel_err < 0.05 and row.snr_db > 26
        assert f"scheme {variant}" in row.detail
    assert {v for (_, _, v) in rows} == set(SCHEME_NAMES)
    # per-row scales beat one scale for the whole tensor on the same weights
    assert rows[("gru_a", "int8-numpy", "w127-row-u8off")].snr_db > rows[("gru_a", "int8-numpy",
                                                                           "w127-tensor-u8off")].snr_db


@pytest.mark.parametrize("scheme", SCHEME_NAMES)
def test_bit_exact_with_the_quant_reference(scheme):
    case = matrix_case("c", 96, 40)
    prepared, workload, x, out = bound_backend(Int8NumpyBackend(), case, scheme)
    Int8NumpyBackend().run(prepared, x, out)
    expected = quant.int8_gemv_reference(quant.quantize_weights(workload.weights, quant.get_scheme(scheme)), x)
    np.testing.assert_array_equal(out, expected)


C_VARIANT_OF_SCHEME = [("scalar-int8", "w127-row-u8off"), ("avx512vnni-int8", "w127-row-u8off"),
                       ("avx2-int8", "w63-row-u8off"), ("avx512-int8", "w63-row-u8off")]
CASES = [matrix_case("dense", 1152, 384), matrix_case("odd", 100, 37),
         matrix_case("sparse", 96, 32, sparsity=Sparsity((0.2, 0.2, 0.4), (8, 4), keep_diagonal=True))]


@pytest.mark.parametrize("c_variant, scheme", C_VARIANT_OF_SCHEME)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_c_int8_kernels_agree_bit_for_bit(c_variant, scheme, case):
    if native.missing_cpu_flags(c_variant.split("-")[0]):
        pytest.skip(f"CPU lacks the flags of {c_variant}")
    c_prepared, _, x, c_out = bound_backend(CSimdBackend(), case, c_variant)
    CSimdBackend().run(c_prepared, x, c_out)
    np_prepared, _, x2, np_out = bound_backend(Int8NumpyBackend(), case, scheme)
    Int8NumpyBackend().run(np_prepared, x2, np_out)
    np.testing.assert_array_equal(np_out, c_out)


def test_the_measured_call_does_not_allocate():
    prepared, _, x, out = bound_backend(Int8NumpyBackend(), matrix_case("c", 1152, 384), "w127-row-s8dyn")
    assert traced_peak(lambda: Int8NumpyBackend().run(prepared, x, out)) < 4096
