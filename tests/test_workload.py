import numpy as np
import pytest

from gemmbench.cases.workload import aligned_copy, aligned_empty, case_from_dict, case_to_dict, counts, make_workload
from gemmbench.ops.matrix import Sparsity, matrix_case, prune


def test_data_is_deterministic_and_seeded():
    a = make_workload(matrix_case("a", 64, 32, seed=1))
    b = make_workload(matrix_case("b", 64, 32, seed=1))
    c = make_workload(matrix_case("c", 64, 32, seed=2))
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.x, b.x)
    assert not np.array_equal(a.weights, c.weights)


@pytest.mark.parametrize("op, n", [("gemv", 1), ("gemm", 5)])
def test_reference_is_float64_product_of_the_cast_values(op, n):
    w = make_workload(matrix_case("a", 48, 16, n, dtype="float32"))
    assert w.weights.dtype == np.float32 and w.reference.dtype == np.float64
    assert w.x.shape == ((16,) if op == "gemv" else (16, n))
    np.testing.assert_array_equal(w.reference, w.weights.astype(np.float64) @ w.x.astype(np.float64))
    assert w.new_output().shape == w.reference.shape and w.new_output().dtype == np.float32


def test_flops_and_bytes_come_from_the_shape():
    case = matrix_case("a", 1152, 384, 16)
    work = counts(case)
    assert work.flops == 2 * 1152 * 384 * 16
    assert work.bytes == 4 * (1152 * 384 + 384 * 16 + 1152 * 16)
    assert work.useful == work.flops and case.spec.density == 1.0


def test_pruning_keeps_the_largest_blocks_per_gate():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((96, 32))
    pruned, mask, diag = prune(w, Sparsity((0.25, 0.5), (16, 1)))
    assert diag is None and mask.shape == (6, 32)
    assert mask[:3].sum() == round(0.25 * 96) and mask[3:].sum() == round(0.5 * 96)
    energy = (w ** 2).reshape(6, 16, 32, 1).sum(axis=(1, 3))
    for gate in (slice(0, 3), slice(3, 6)):
        kept, dropped = energy[gate][mask[gate]], energy[gate][~mask[gate]]
        assert kept.min() >= dropped.max()
    expanded = np.repeat(mask, 16, axis=0)
    np.testing.assert_array_equal(pruned[~expanded], 0)
    np.testing.assert_array_equal(pruned[expanded], w[expanded])


def test_keep_diagonal_holds_each_gate_diagonal_apart():
    case = matrix_case("a", 3 * 32, 32, sparsity=Sparsity((0.1, 0.1, 0.1), (16, 1), keep_diagonal=True))
    w = make_workload(case)
    rows = np.arange(96)
    np.testing.assert_array_equal(w.weights[rows, rows % 32], w.diagonal)
    blocks = w.weights.copy()
    blocks[rows, rows % 32] = 0
    expanded = np.repeat(w.block_mask, 16, axis=0)
    assert np.all(blocks[~expanded] == 0)
    assert case.spec.nonzeros == w.block_mask.sum() * 16 + 96
    assert counts(case).useful == 2 * case.spec.nonzeros


def test_case_round_trips_through_json_dict():
    case = matrix_case("a", 96, 32, 4, sparsity=Sparsity((0.1, 0.2, 0.3), (8, 4), True))
    assert case_from_dict(case_to_dict(case)) == case


def test_aligned_buffers():
    for shape in [(7,), (3, 5), (1152, 384)]:
        a = aligned_empty(shape, "float32")
        assert a.ctypes.data % 64 == 0 and a.shape == shape
    src = np.arange(10, dtype=np.float64)
    copy = aligned_copy(src)
    assert copy.ctypes.data % 64 == 0 and np.array_equal(copy, src)
