"""Block-sparse weight formats in LPCNet's runtime layout: 16x1 float blocks and 8x4 int8 blocks.

A block is `br` output rows by `bc` consecutive inputs. For each block-row (br output
rows) the index holds the number of kept blocks, then the first input column of each;
the weights hold br*bc values per block, row-major within the block, in index order.
So for LPCNet's GRU (1152 x 384, 16x1 blocks) with B kept blocks the index has
B + 1152/16 = B + 72 entries: about 2765 + 72 = 2837 at 10% density.

Blocks run down output rows. Keras trains with the transposed kernel, and a mask made
there marks 1x16 blocks along a row (LPCNet issue #123); such a matrix or mask is
rejected as transposed rather than silently stored as ~8x more blocks.

An optional diagonal (LPCNet GRU: y[r] += diag[r] * x[r % k]) is kept dense beside the
blocks; its positions are excluded from the blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class OrientationError(ValueError):
    """The blocks run along input columns (training-time layout), not down output rows."""


@dataclass(frozen=True, eq=False)
class BlockSparse:
    m: int
    k: int
    block: tuple[int, int]  # (rows, input columns) per block
    index: np.ndarray  # int32: per block-row, a count then the first input column of each block
    weights: np.ndarray  # (nblocks, rows * cols), row-major within a block, in index order
    diagonal: np.ndarray | None = None  # (m,): y[r] += diagonal[r] * x[r % k]

    @property
    def nblocks(self) -> int:
        return int(self.weights.shape[0])

    def block_mask(self) -> np.ndarray:
        br, bc = self.block
        mask = np.zeros((self.m // br, self.k // bc), dtype=bool)
        pos = 0
        for row in range(mask.shape[0]):
            count = int(self.index[pos])
            mask[row, self.index[pos + 1:pos + 1 + count] // bc] = True
            pos += 1 + count
        return mask


def _grid_shape(m: int, k: int, block: tuple[int, int]) -> tuple[int, int]:
    br, bc = block
    if m % br or k % bc:
        raise ValueError(f"a {m}x{k} matrix does not split into {br}x{bc} blocks (rows must divide by {br}, "
                         f"columns by {bc})")
    return m // br, k // bc


def diagonal_positions(m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(m)
    return rows, rows % k


def block_mask_of(weights: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """Blocks holding at least one nonzero, as a bool (m/br, k/bc) grid."""
    m, k = weights.shape
    r, c = _grid_shape(m, k, block)
    return (weights.reshape(r, block[0], c, block[1]) != 0).any(axis=(1, 3))


def looks_transposed(weights: np.ndarray, block: tuple[int, int]) -> bool:
    """True when the nonzeros pack into fewer (bc x br) blocks than (br x bc) blocks."""
    br, bc = block
    m, k = weights.shape
    if br == bc or m % bc or k % br:
        return False
    return int(block_mask_of(weights, (bc, br)).sum()) < int(block_mask_of(weights, block).sum())


def _transposed_message(what: str, block: tuple[int, int]) -> str:
    br, bc = block
    return (f"{what} looks transposed: its nonzeros form {bc}x{br} blocks along input columns (the "
            f"training-time layout, LPCNet issue #123), but the runtime format needs {br}x{bc} blocks "
            f"down {br} output rows; transpose each gate's blocks before converting")


def _check_orientation(weights: np.ndarray, mask: np.ndarray, block: tuple[int, int]) -> None:
    """Raise OrientationError if the mask has the transposed block grid or the weights look transposed."""
    m, k = weights.shape
    br, bc = block
    grid = _grid_shape(m, k, block)
    if mask.shape != grid:
        if br != bc and m % bc == 0 and k % br == 0 and mask.shape == (m // bc, k // br):
            raise OrientationError(_transposed_message(f"block mask of shape {mask.shape}", block))
        raise ValueError(f"block mask has shape {mask.shape}; {br}x{bc} blocks of a {m}x{k} matrix need {grid}")
    if looks_transposed(weights, block):
        raise OrientationError(_transposed_message(f"{m}x{k} weight matrix", block))


def _block_part(weights: np.ndarray, diagonal: np.ndarray | None) -> np.ndarray:
    if diagonal is None:
        return weights
    m, k = weights.shape
    rows, cols = diagonal_positions(m, k)
    if diagonal.shape != (m,):
        raise ValueError(f"diagonal has shape {diagonal.shape}, expected ({m},)")
    if not np.array_equal(weights[rows, cols], diagonal.astype(weights.dtype)):
        raise ValueError("weights[r, r % k] must equal diagonal[r]: the diagonal is included in the "
                         "weights and excluded from the blocks")
    part = weights.copy()
    part[rows, cols] = 0
    return part


def to_block_sparse(
    weights: np.ndarray,
    mask: np.ndarray,
    diagonal: np.ndarray | None = None,
    block: tuple[int, int] = (16, 1),
) -> BlockSparse:
    """Convert a pruned dense matrix (diagonal included, if any) and its block mask."""
    if weights.ndim != 2:
        raise ValueError(f"weights must be 2-D, got shape {weights.shape}")
    m, k = weights.shape
    br, bc = block
    mask = np.asarray(mask, dtype=bool)
    part = _block_part(weights, diagonal)
    _check_orientation(part, mask, block)
    r, c = mask.shape
    blocks = part.reshape(r, br, c, bc).transpose(0, 2, 1, 3)  # (block-row, block-col, br, bc)
    outside = int(np.count_nonzero(blocks[~mask]))
    if outside:
        raise ValueError(f"{outside} nonzero weights lie outside the kept blocks of the mask")
    counts = mask.sum(axis=1)
    index = np.empty(r + int(counts.sum()), dtype=np.int32)
    starts = np.concatenate(([0], np.cumsum(counts[:-1] + 1)))
    index[starts] = counts
    columns_at = np.ones(index.size, dtype=bool)
    columns_at[starts] = False
    index[columns_at] = np.nonzero(mask)[1] * bc  # row-major nonzero: by block-row, columns ascending
    values = np.ascontiguousarray(blocks[mask].reshape(-1, br * bc))
    diag = None if diagonal is None else np.array(diagonal, dtype=weights.dtype)
    return BlockSparse(m, k, (br, bc), index, values, diag)


def to_dense(sparse: BlockSparse) -> np.ndarray:
    """The dense matrix back, diagonal included: exact inverse of to_block_sparse."""
    br, bc = sparse.block
    mask = sparse.block_mask()
    blocks = np.zeros(mask.shape + (br, bc), dtype=sparse.weights.dtype)
    blocks[mask] = sparse.weights.reshape(-1, br, bc)
    dense = np.ascontiguousarray(blocks.transpose(0, 2, 1, 3).reshape(sparse.m, sparse.k))
    if sparse.diagonal is not None:
        rows, cols = diagonal_positions(sparse.m, sparse.k)
        dense[rows, cols] = sparse.diagonal
    return dense
