"""Block structure of already-sparse matrices: planted masks of every shape found again."""

from __future__ import annotations

import numpy as np
import pytest

from gemmbench.formats.blockdetect import detect
from gemmbench.ops.matrix import BLOCK_SHAPES

M, K = 384, 128


def planted(block, density, offset=(0, 0), strays=0, diagonal=False, seed=0) -> np.ndarray:
    """Nonzeros exactly on blocks of `block` at `density`, the grid starting at `offset`."""
    rng = np.random.default_rng(seed)
    (br, bc), (ro, co) = block, offset
    grid = rng.random((M // br + 1, K // bc + 1)) < density
    full = np.repeat(np.repeat(grid, br, axis=0), bc, axis=1)
    top, left = (br - ro) % br, (bc - co) % bc
    keep = full[top:top + M, left:left + K]
    weights = np.where(keep, rng.standard_normal((M, K)) + 3.0, 0.0)  # kept weights never exactly zero
    zeros = np.argwhere(weights == 0)
    for index in rng.choice(len(zeros), size=strays, replace=False):
        weights[tuple(zeros[index])] = 0.5
    if diagonal:
        rows = np.arange(M)
        weights[rows, rows % K] = 0.25
    return weights


@pytest.mark.parametrize("block", [b for b in BLOCK_SHAPES if b != (1, 1)])
def test_each_kernel_shape_is_found_on_its_grid(block):
    structure = detect(planted(block, 0.1), BLOCK_SHAPES)
    assert structure.sparse and structure.fit.block == block and structure.fit.offset == (0, 0)
    assert structure.storage == block and structure.fit.strays == 0 and not structure.transposed
    assert structure.stored_blocks == structure.fit.solid
    assert structure.text().startswith(f"already sparse: {block[0]}x{block[1]} blocks at ")


def test_unstructured_sparsity_is_1x1():
    rng = np.random.default_rng(3)
    weights = np.where(rng.random((M, K)) < 0.1, 1.0, 0.0)
    structure = detect(weights, BLOCK_SHAPES)
    assert structure.fit.block == (1, 1) and structure.storage == (1, 1)
    assert structure.text().startswith("already sparse: unstructured (no block shape tiles the nonzeros) at 10.")


def test_a_grid_off_the_kernels_is_found_and_stored_on_a_smaller_aligned_shape():
    structure = detect(planted((16, 1), 0.1, offset=(8, 0)), BLOCK_SHAPES)
    assert structure.fit.block == (16, 1) and structure.fit.offset == (8, 0)
    assert structure.storage == (8, 1)  # 16x1 blocks starting at row 8 are two aligned 8x1 blocks each
    assert "their grid starts at row 8, column 0 (not aligned)" in structure.text()
    assert structure.text().endswith("stored as 8x1 blocks on the kernels' grid")


def test_stray_nonzeros_are_reported_and_cost_a_block_each():
    clean = detect(planted((16, 1), 0.1), BLOCK_SHAPES)
    structure = detect(planted((16, 1), 0.1, strays=7), BLOCK_SHAPES)
    assert structure.fit.block == (16, 1) and structure.fit.strays == 7
    assert structure.stored_blocks == clean.stored_blocks + 7
    assert "7 stray nonzeros outside them" in structure.text()


def test_an_lpcnet_diagonal_is_kept_apart():
    structure = detect(planted((16, 1), 0.1, diagonal=True), BLOCK_SHAPES)
    assert structure.diagonal and structure.fit.block == (16, 1) and structure.fit.strays == 0
    assert "a diagonal kept beside the blocks" in structure.text()


def test_a_transposed_layout_is_named():
    structure = detect(planted((1, 16), 0.1), BLOCK_SHAPES)
    assert structure.fit.block == (1, 16) and structure.transposed
    assert "the file looks transposed (set transpose: true)" in structure.text()


def test_dense_matrices_are_not_sparse():
    weights = np.random.default_rng(1).standard_normal((M, K))
    weights[0, :5] = 0
    structure = detect(weights, BLOCK_SHAPES)
    assert not structure.sparse and structure.text() == "dense (5 exact zeros, 0.0001 of it)"
