"""Strassen-Winograd: right on vocoder and odd shapes, error bounded and growing with levels, no allocation."""

import numpy as np
import pytest

from gbtest import bound_backend, traced_peak
from gemmbench.backends import strassen
from gemmbench.backends.strassen import StrassenBackend
from gemmbench.ops.matrix import matrix_case

SUITE = """
name: strassen
backends: [strassen, numpy]
cases:
  - {name: gru_a_batch, op: gemm, m: 1152, k: 384, n: [16, 64], dtype: [float32, float64]}
  - {name: odd, op: gemm, m: 101, k: 67, n: 33, dtype: [float32, float64]}
  - {name: odd_small, op: gemm, m: 9, k: 7, n: 10}
  - {name: gru_a_sparse_batch, op: gemm, m: 1152, k: 384, n: 16, density: 0.1, block: 16x1}
  - {name: gru_a_recurrent, m: 1152, k: 384}
  - {name: tiny_n, op: gemm, m: 64, k: 64, n: 6}
"""

ERROR_SUITE = """
name: strassen_error
backends: [strassen, numpy]
cases:
  - {name: square, op: gemm, m: 256, k: 256, n: 256, dtype: [float32, float64], seed: [0, 1, 2]}
"""


def test_vocoder_and_odd_shapes_are_right(run_rows):
    rows = run_rows(SUITE)
    fixed = [r for r in rows.values() if r.backend == "strassen" and r.variant != "auto"]
    ok = [r for r in fixed if r.status == "ok"]
    assert {(r.case, r.variant) for r in ok} >= {("gru_a_batch[n=16,dtype=float32]", "levels2"),
                                                 ("gru_a_batch[n=64,dtype=float64]", "levels1"),
                                                 ("odd[dtype=float32]", "levels2"),
                                                 ("odd_small", "levels1"),
                                                 ("gru_a_sparse_batch", "levels2")}
    for r in ok:
        assert r.rel_err < (1e-13 if r.dtype == "float64" else 1e-5), r
        assert r.precision == r.dtype and r.tolerance > 0
    odd = rows[("odd[dtype=float32]", "strassen", "levels2")]
    assert "padded to 104x68x36" in odd.detail and "49 leaf products of 26x17x9" in odd.detail


def test_gemv_tiny_n_and_small_auto_are_skipped_with_the_reason(run_rows):
    rows = run_rows(SUITE)
    assert not any(case == "gru_a_recurrent" and backend == "strassen" for case, backend, _ in rows)  # gemm only
    auto = rows[("gru_a_batch[n=64,dtype=float32]", "strassen", "auto")]
    assert auto.status == "skipped" and f"below the cutoff {strassen.AUTO_CUTOFF}" in auto.message
    for variant in ("levels1", "levels2"):
        tiny = rows[("tiny_n", "strassen", variant)]
        assert tiny.status == "skipped" and "smallest dimension (6) below 4" in tiny.message
    assert rows[("odd_small", "strassen", "levels2")].status == "skipped"


def test_error_is_bounded_and_grows_with_levels(run_rows, monkeypatch):
    # With the cutoff at 64, auto recurses three times on 256^3 (256, 128, 64 >= 64): a third level.
    monkeypatch.setenv(strassen.CUTOFF_VARIABLE, "64")
    rows = run_rows(ERROR_SUITE)
    for dtype, unit in (("float32", np.finfo(np.float32).eps), ("float64", np.finfo(np.float64).eps)):
        def error(backend, variant):
            return np.mean([rows[(f"square[dtype={dtype},seed={seed}]", backend, variant)].rel_err
                            for seed in range(3)])

        auto = rows[(f"square[dtype={dtype},seed=0]", "strassen", "auto")]
        assert auto.status == "ok" and "3 level(s)" in auto.detail
        errors = [error("numpy", "matmul"), error("strassen", "levels1"), error("strassen", "levels2"),
                  error("strassen", "auto")]
        assert errors == sorted(errors) and len(set(errors)) == 4, (dtype, errors)
        assert errors[-1] < 100 * unit, (dtype, errors)  # bounded: a few ulps per level, far from tolerance


@pytest.mark.parametrize("shape", [(1152, 384, 64), (101, 67, 33)])
@pytest.mark.parametrize("variant", ["levels1", "levels2"])
def test_measured_call_allocates_nothing(shape, variant):
    m, k, n = shape
    backend = StrassenBackend()
    prepared, workload, x, out = bound_backend(backend, matrix_case("c", m, k, n), variant)
    assert traced_peak(lambda: backend.run(prepared, x, out)) < 4096
    assert np.allclose(out, workload.reference, rtol=1e-4, atol=1e-4)
    workspace = sum(b.flat.nbytes for w in prepared.workspaces for b in (*w.t, *w.p))
    assert workspace > 4096  # what a per-call allocation of the temporaries would have cost


def test_auto_levels_follow_the_cutoff(monkeypatch):
    assert strassen.auto_levels(1152, 384, 64, 1536) == 0
    assert strassen.auto_levels(4096, 4096, 4096, 1536) == 2  # 4096 -> 2048 -> 1024 < 1536
    assert strassen.auto_levels(3000, 3001, 1537, 1536) == 1
    monkeypatch.setenv(strassen.CUTOFF_VARIABLE, "32")
    assert strassen.configured_cutoff() == 32
    assert "min(m, k, n) >= 32" in StrassenBackend().variants()[2].detail
    monkeypatch.setenv(strassen.CUTOFF_VARIABLE, "many")
    assert StrassenBackend().available() == (False, f"{strassen.CUTOFF_VARIABLE}='many' is not a positive "
                                                    f"integer (unset it to use {strassen.AUTO_CUTOFF})")


def test_crossover_measures_both_products():
    (row,) = strassen.crossover((64,), ("float64",), repeat=1)
    assert row[:2] == ("float64", 64) and row[2] > 0 and row[3] > 0
