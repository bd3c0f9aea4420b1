"""The scipy.sparse backend: what it stores, that it is right, and that its measured call allocates nothing."""

import numpy as np
import pytest

from gbtest import bound_backend, traced_peak
from gemmbench.backends.scipy_sparse import ScipySparseBackend
from gemmbench.cases.workload import make_workload
from gemmbench.ops.matrix import Sparsity, matrix_case

LPCNET = Sparsity((0.05, 0.05, 0.2), (16, 1), keep_diagonal=True)
SPARSE_CASES = {
    "gru_a_10": matrix_case("gru_a_10", 1152, 384, sparsity=Sparsity((0.1,), (16, 1))),
    "gru_a_lpcnet": matrix_case("gru_a_lpcnet", 1152, 384, sparsity=LPCNET),
    "blocks_8x4": matrix_case("blocks_8x4", 96, 64, sparsity=Sparsity((0.25,), (8, 4))),
    "odd_1x1": matrix_case("odd_1x1", 37, 29, sparsity=Sparsity((0.3,), (1, 1))),
}

SUITE = """
name: scipy
backends: [scipy]
cases:
  - {name: gru_a_sparse, m: 1152, k: 384, density: 0.1, block: 16x1}
  - {name: gru_a_sparse_batch, op: gemm, n: 16, m: 1152, k: 384, density: 0.1, block: 16x1}
  - &lpcnet
    name: gru_a_lpcnet
    m: 1152
    k: 384
    density: {update: 0.05, reset: 0.05, state: 0.2}
    block: 16x1
    keep_diagonal: true
  - {<<: *lpcnet, name: gru_a_lpcnet_batch, op: gemm, n: 16}
  - {name: odd, m: 48, k: 37, density: 0.3, block: 16x1, op: gemm, n: 7}
  - {name: odd_1x1, m: 37, k: 29, density: 0.3, block: 1x1, dtype: [float32, float64]}
  - {name: odd_1x1_batch, m: 37, k: 29, density: 0.3, block: 1x1, op: gemm, n: 5, dtype: [float32, float64]}
  - {name: dense, m: 64, k: 32}
  - {name: dense_batch, m: 64, k: 32, op: gemm, n: 4}
"""


def blocks_of(bsr) -> np.ndarray:
    """The block grid a BSR matrix stores, from its own index arrays."""
    (m, k), (br, bc) = bsr.shape, bsr.blocksize
    grid = np.zeros((m // br, k // bc), dtype=bool)
    for block_row in range(m // br):
        grid[block_row, bsr.indices[bsr.indptr[block_row]:bsr.indptr[block_row + 1]]] = True
    return grid


def converted(name: str, variant: str):
    """(case, workload, what prepare made) for one of SPARSE_CASES."""
    case = SPARSE_CASES[name]
    workload = make_workload(case)
    backend = ScipySparseBackend()
    return case, workload, backend.prepare(workload, next(v for v in backend.variants() if v.name == variant))


@pytest.mark.parametrize("name", SPARSE_CASES)
def test_bsr_stores_exactly_the_kept_blocks(name):
    case, workload, bsr = converted(name, "bsr")
    assert bsr.blocks.format == "bsr" and bsr.blocks.blocksize == case.spec.sparsity.block
    assert np.array_equal(blocks_of(bsr.blocks), workload.block_mask)
    assert bsr.blocks.data.shape[0] == workload.block_mask.sum() == sum(case.spec.sparsity.kept_blocks(case.spec.m, case.spec.k))
    assert bsr.stored == case.spec.nonzeros  # so useful_flops = 2 * stored * n is what scipy computes


@pytest.mark.parametrize("name", SPARSE_CASES)
def test_csr_holds_every_position_of_the_kept_blocks(name):
    case, workload, csr = converted(name, "csr")
    br, bc = case.spec.sparsity.block
    pattern = np.zeros((case.spec.m, case.spec.k), dtype=bool)
    pattern[np.repeat(np.arange(case.spec.m), np.diff(csr.blocks.indptr)), csr.blocks.indices] = True
    assert np.array_equal(pattern, np.repeat(np.repeat(workload.block_mask, br, 0), bc, 1))
    assert csr.stored == case.spec.nonzeros


def test_diagonal_is_held_apart_with_explicit_zeros_in_the_blocks():
    _, workload, csr = converted("gru_a_lpcnet", "csr")
    rows = np.arange(1152)
    assert np.array_equal(csr.diagonal.toarray()[rows, rows % 384], workload.diagonal)
    inside = workload.block_mask[rows // 16, rows % 384]  # diagonal positions inside kept blocks
    assert inside.sum() > 0
    dense_blocks = csr.blocks.toarray()
    assert np.all(dense_blocks[rows[inside], rows[inside] % 384] == 0)
    assert np.array_equal(dense_blocks + csr.diagonal.toarray(), workload.weights)


def test_vocoder_and_odd_shapes_are_right_and_dense_cases_skipped(run_rows, monkeypatch):
    rows = run_rows(SUITE)
    ran = [r for r in rows.values() if not r.case.startswith("dense")]
    assert len(ran) == 2 * 9 and {r.status for r in ran} == {"ok"}
    for r in ran:
        assert r.rel_err < (1e-12 if r.dtype == "float64" else 1e-6), r
        assert "_sparsetools accumulating into out" in r.detail and f"{r.useful_flops // (2 * r.n)} stored" in r.detail
        assert r.useful_flops < r.flops and r.prepare_ns > 0
    lpcnet = rows[("gru_a_lpcnet", "scipy", "bsr")]
    assert "bsr_matvec + dia_matvec" in lpcnet.detail and lpcnet.sparsity == "16x1@0.05/0.05/0.2+diag"
    dense = [r for r in rows.values() if r.case.startswith("dense")]
    assert len(dense) == 4 and all(r.status == "skipped" and "sparse format" in r.message for r in dense)


@pytest.mark.parametrize("variant", ["csr", "bsr"])
@pytest.mark.parametrize("op", ["gemv", "gemm"])
def test_measured_call_allocates_nothing(variant, op):
    case = matrix_case("c", 1152, 384, 16 if op == "gemm" else 1, sparsity=LPCNET)
    prepared, workload, x, out = bound_backend(ScipySparseBackend(), case, variant)
    backend = ScipySparseBackend()
    assert traced_peak(lambda: backend.run(prepared, x, out)) < 1024
    public = traced_peak(lambda: np.copyto(out, prepared.blocks @ x))
    assert public >= out.nbytes  # the public product the kernels replace does allocate


def test_missing_private_routine_falls_back_to_the_public_product_and_says_so(monkeypatch):
    from scipy.sparse import _sparsetools

    # As in a scipy without it; scipy's own BSR product keeps the reference it imported.
    monkeypatch.delattr(_sparsetools, "bsr_matvec")
    case = matrix_case("c", 1152, 384, sparsity=Sparsity((0.1,), (16, 1)))
    backend = ScipySparseBackend()
    prepared, workload, x, out = bound_backend(backend, case, "bsr")
    out.fill(np.nan)
    backend.run(prepared, x, out)
    assert np.allclose(out, workload.reference, rtol=1e-5, atol=1e-5)
    assert "public A @ x, which allocates" in backend.describe(prepared, backend.variants()[1])
    assert "bsr_matvec" in prepared.fallback
