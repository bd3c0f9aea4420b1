"""gemmbench.formats.blocksparse: LPCNet's 16x1 format (and 8x4), round trips, counts, orientation."""

from __future__ import annotations

import numpy as np
import pytest

from gemmbench.formats import blocksparse as bs


def pruned(m: int, k: int, block: tuple[int, int], density: float, diagonal: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    br, bc = block
    grid = (m // br, k // bc)
    nblocks = round(density * grid[0] * grid[1])
    mask = np.zeros(grid[0] * grid[1], dtype=bool)
    mask[rng.choice(mask.size, nblocks, replace=False)] = True
    mask = mask.reshape(grid)
    w = rng.standard_normal((m, k)).astype(np.float32) * np.repeat(np.repeat(mask, br, 0), bc, 1)
    diag = None
    if diagonal:
        rows = np.arange(m)
        diag = rng.standard_normal(m).astype(np.float32)
        w[rows, rows % k] = diag
    return w, mask, diag


@pytest.mark.parametrize("block", [(16, 1), (8, 4)])
@pytest.mark.parametrize("diagonal", [False, True])
def test_round_trip_is_exact(block: tuple[int, int], diagonal: bool) -> None:
    w, mask, diag = pruned(1152, 384, block, 0.1, diagonal)
    sparse = bs.to_block_sparse(w, mask, diag, block)
    assert sparse.weights.shape == (mask.sum(), block[0] * block[1])
    assert np.array_equal(sparse.block_mask(), mask)
    assert np.array_equal(bs.to_dense(sparse), w)
    again = bs.to_block_sparse(bs.to_dense(sparse), sparse.block_mask(), sparse.diagonal, block)
    assert np.array_equal(again.index, sparse.index) and np.array_equal(again.weights, sparse.weights)


def test_lpcnet_gru_index_count() -> None:
    """10% of 3 x 384 x 384 in 16x1 blocks: 2765 blocks, 2765 + 72 = 2837 index entries (issue #123)."""
    w, mask, diag = pruned(1152, 384, (16, 1), 0.1, True)
    sparse = bs.to_block_sparse(w, mask, diag)
    assert sparse.nblocks == 2765
    assert sparse.index.size == sparse.nblocks + 72 == 2837


def test_index_layout_is_count_then_columns() -> None:
    w = np.zeros((32, 8), np.float32)
    w[0:16, 5] = 1.0
    w[0:16, 2] = 2.0
    w[16:32, 7] = np.arange(16)
    sparse = bs.to_block_sparse(w, bs.block_mask_of(w, (16, 1)))
    assert sparse.index.tolist() == [2, 2, 5, 1, 7]
    assert sparse.weights[0].tolist() == [2.0] * 16 and sparse.weights[2].tolist() == list(range(16))


def test_8x4_blocks_are_row_major_and_index_first_column() -> None:
    w = np.zeros((8, 8), np.float32)
    w[:, 4:8] = np.arange(32).reshape(8, 4)
    sparse = bs.to_block_sparse(w, bs.block_mask_of(w, (8, 4)), block=(8, 4))
    assert sparse.index.tolist() == [1, 4]
    assert sparse.weights[0].tolist() == list(range(32))


def test_int8_weights_keep_their_dtype() -> None:
    w, mask, _ = pruned(64, 32, (8, 4), 0.3, False)
    q = np.clip(np.rint(w * 20), -127, 127).astype(np.int8)
    sparse = bs.to_block_sparse(q, mask, block=(8, 4))
    assert sparse.weights.dtype == np.int8 and np.array_equal(bs.to_dense(sparse), q)


def test_transposed_mask_shape_is_rejected() -> None:
    w, mask, _ = pruned(1152, 384, (16, 1), 0.1, False)
    wt_mask = np.zeros((1152, 384 // 16), dtype=bool)  # the 1x16 block grid
    with pytest.raises(bs.OrientationError, match="looks transposed"):
        bs.to_block_sparse(w, wt_mask)


def test_transposed_weights_are_rejected() -> None:
    """Training-time layout: 1x16 blocks along a row. Stored as 16x1 it would need ~8x the blocks."""
    rng = np.random.default_rng(3)
    mask_1x16 = rng.random((1152, 384 // 16)) < 0.1
    w = rng.standard_normal((1152, 384)).astype(np.float32) * np.repeat(mask_1x16, 16, axis=1)
    assert bs.looks_transposed(w, (16, 1))
    with pytest.raises(bs.OrientationError, match="looks transposed.*LPCNet issue #123"):
        bs.to_block_sparse(w, bs.block_mask_of(w, (16, 1)))  # a mask that covers it, so only orientation fails
    as_16x1 = bs.block_mask_of(w, (16, 1)).sum()
    assert as_16x1 + 1152 // 16 > 2 * (mask_1x16.sum() + 72)  # index entries: one per block, one per block-row


def test_runtime_layout_is_not_flagged() -> None:
    for block in [(16, 1), (8, 4)]:
        w, _, _ = pruned(1152, 384, block, 0.1, False)
        assert not bs.looks_transposed(w, block)
    w, _, _ = pruned(1152, 384, (16, 1), 1.0, False)  # dense: either orientation fits equally
    assert not bs.looks_transposed(w, (16, 1))


def test_nonzeros_outside_mask_are_rejected() -> None:
    w, mask, _ = pruned(64, 32, (16, 1), 0.2, False)
    free = np.argwhere(~np.repeat(mask, 16, axis=0))[0]
    w[tuple(free)] = 1.0
    with pytest.raises(ValueError, match="1 nonzero weights lie outside"):
        bs.to_block_sparse(w, mask)


def test_diagonal_must_be_the_weights_diagonal() -> None:
    w, mask, diag = pruned(96, 32, (16, 1), 0.2, True)
    with pytest.raises(ValueError, match=r"weights\[r, r % k\] must equal diagonal"):
        bs.to_block_sparse(w, mask, diag + 1)
    with pytest.raises(ValueError, match="diagonal has shape"):
        bs.to_block_sparse(w, mask, diag[:10])


def test_shapes_not_divisible_by_block_are_refused() -> None:
    w = np.ones((1000, 383), np.float32)
    with pytest.raises(ValueError, match="does not split into 16x1 blocks"):
        bs.to_block_sparse(w, np.ones((62, 383), bool))
    with pytest.raises(ValueError, match="does not split into 8x4 blocks"):
        bs.to_block_sparse(w, np.ones((125, 95), bool), block=(8, 4))
    with pytest.raises(ValueError, match="block mask has shape"):
        bs.to_block_sparse(np.ones((64, 32), np.float32), np.ones((3, 32), bool))
