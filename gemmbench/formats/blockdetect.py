"""The block structure of a matrix that is already sparse: which block shape tiles its nonzeros.

A trained, pruned matrix (LPCNet's GRU-A: 16x1 blocks at 5-20%) arrives with exact zeros;
its own mask is what it was trained with, so gemmbench keeps it rather than pruning afresh.
`detect` finds the largest block shape whose blocks hold the nonzeros, and reports:

- the shape and where its grid starts: blocks of a mask made on another grid (16x1 blocks
  starting at row 8) do not sit on the kernels' grid, which starts at 0;
- the nonzeros outside the blocks ("strays": a weight the pruning missed, a bias folded in);
- a diagonal kept beside the blocks (LPCNet's GRU: W[r, r % k] of each square gate);
- a transposed layout (1x16 blocks along a row: the training-time layout, LPCNet issue #123);
- `storage`: the largest kernel block shape that holds the nonzeros on the kernels' grid,
  which is what a case runs (16x1 itself when aligned; 8x1 for 16x1 blocks off by 8 rows).

A shape tiles the nonzeros when its "solid" blocks (at least half full) hold all but a
sliver of them (STRAY_SHARE) and are nearly full (FILL). 1x1 always tiles: that is
unstructured sparsity.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

SPARSE_BELOW = 0.9  # a matrix with fewer nonzeros than this share is treated as already sparse
STRAY_SHARE = 0.01  # nonzeros outside solid blocks a tiling may leave (a few stray weights)
FILL = 0.9  # share of a solid block's positions that must be nonzero


@dataclass(frozen=True)
class Fit:
    """One block shape on one grid: how well its blocks hold the nonzeros."""

    block: tuple[int, int]
    offset: tuple[int, int]  # first row and column of the grid (0, 0: the kernels' grid)
    solid: int  # blocks at least half full
    strays: int  # nonzeros in the other blocks
    fill: float  # nonzeros in solid blocks / their positions

    @property
    def area(self) -> int:
        return self.block[0] * self.block[1]

    def tiles(self, nonzeros: int) -> bool:
        return self.fill >= FILL and self.strays <= STRAY_SHARE * nonzeros


@dataclass(frozen=True)
class Structure:
    """What `detect` found."""

    m: int
    k: int
    nonzeros: int  # the diagonal included
    fit: Fit | None  # None when the matrix is dense
    diagonal: bool = False  # a diagonal kept beside the blocks
    storage: tuple[int, int] | None = None  # the kernel block shape its mask is stored on
    stored_blocks: int = 0  # blocks of `storage` holding a nonzero (the diagonal apart)
    transposed: bool = False  # its blocks run along input columns: the training-time layout

    @property
    def density(self) -> float:
        return self.nonzeros / (self.m * self.k)

    @property
    def sparse(self) -> bool:
        return self.fit is not None

    def text(self) -> str:
        """One line: 'already sparse: 16x1 blocks at 10.0% (2765 blocks), 3 stray nonzeros; stored as 16x1'."""
        if self.fit is None:
            zeros = self.m * self.k - self.nonzeros
            return "dense" + (f" ({zeros} exact zeros, {zeros / (self.m * self.k):.2g} of it)" if zeros else "")
        fit = self.fit
        shape = "unstructured (no block shape tiles the nonzeros)" if fit.area == 1 \
            else f"{fit.block[0]}x{fit.block[1]} blocks"
        parts = [f"already sparse: {shape} at {self.density:.1%} ({fit.solid} blocks)" if fit.area > 1
                 else f"already sparse: {shape} at {self.density:.1%}"]
        if fit.offset != (0, 0):
            parts.append(f"their grid starts at row {fit.offset[0]}, column {fit.offset[1]} (not aligned)")
        if fit.strays:
            parts.append(f"{fit.strays} stray nonzero{'s' if fit.strays != 1 else ''} outside them")
        if self.diagonal:
            parts.append("a diagonal kept beside the blocks")
        if self.transposed:
            parts.append("blocks run along input columns: the file looks transposed (set transpose: true)")
        if self.storage is not None and (self.storage != fit.block or fit.offset != (0, 0)):
            parts.append(f"stored as {self.storage[0]}x{self.storage[1]} blocks on the kernels' grid")
        return "; ".join(parts)


def _candidate_shapes(kernel_shapes: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """The kernel shapes and their transposes, largest first (ties: kernel shapes first)."""
    shapes = list(dict.fromkeys([*kernel_shapes, *((c, r) for r, c in kernel_shapes)]))
    return sorted(shapes, key=lambda s: (-s[0] * s[1], s not in kernel_shapes))


def diagonal_positions(m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(m)
    return rows, rows % k


def fit_blocks(nonzero: np.ndarray, block: tuple[int, int], offset: tuple[int, int] = (0, 0)) -> Fit:
    """How the blocks of one shape, on a grid starting at `offset`, hold the nonzero positions."""
    (m, k), (br, bc), (ro, co) = nonzero.shape, block, offset
    top, left = (br - ro) % br, (bc - co) % bc
    rows, cols = -(-(m + top) // br) * br, -(-(k + left) // bc) * bc
    padded = np.zeros((rows, cols), dtype=np.int32)
    padded[top:top + m, left:left + k] = nonzero
    counts = padded.reshape(rows // br, br, cols // bc, bc).sum(axis=(1, 3))
    size = br * bc
    solid = counts * 2 >= size
    strays = int(counts[~solid].sum())
    solid_blocks = int(solid.sum())
    fill = float(counts[solid].sum()) / (solid_blocks * size) if solid_blocks else 0.0
    return Fit(block, offset, solid_blocks, strays, fill)


def _best_fit(nonzero: np.ndarray, shapes: list[tuple[int, int]]) -> Fit:
    """The largest shape that tiles the nonzeros, on the kernels' grid if it tiles there, else on the
    grid where it fits best."""
    count = int(nonzero.sum())
    m, k = nonzero.shape
    for block in shapes:
        if block[0] > m or block[1] > k:
            continue
        aligned = fit_blocks(nonzero, block)
        if aligned.tiles(count):
            return aligned
        if block[0] * block[1] == 1 or aligned.strays * 2 > count:
            continue  # a shape whose aligned blocks are mostly less than half full fits no other grid either
        shifted = [fit_blocks(nonzero, block, offset) for offset in itertools.product(range(block[0]), range(block[1]))
                   if offset != (0, 0)]
        good = [fit for fit in shifted if fit.tiles(count)]
        if good:
            return min(good, key=lambda fit: (fit.strays, -fit.fill))
    return fit_blocks(nonzero, (1, 1))


def _storage(nonzero: np.ndarray, fit: Fit, kernel_shapes: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """The largest kernel shape whose aligned blocks hold the nonzeros as well as `fit` does."""
    m, k = nonzero.shape
    if fit.block in kernel_shapes and fit.offset == (0, 0) and not (m % fit.block[0] or k % fit.block[1]):
        return fit.block
    count = int(nonzero.sum())
    for block in sorted(kernel_shapes, key=lambda s: -s[0] * s[1]):
        if m % block[0] or k % block[1] or block[0] * block[1] > fit.area:
            continue
        if fit_blocks(nonzero, block).tiles(count):
            return block
    return (1, 1)


def detect(weights: np.ndarray, kernel_shapes: tuple[tuple[int, int], ...]) -> Structure:
    """The block structure of `weights` (dense when at least SPARSE_BELOW of it is nonzero)."""
    m, k = weights.shape
    nonzero = weights != 0
    count = int(nonzero.sum())
    if count >= SPARSE_BELOW * m * k:
        return Structure(m, k, count, None)
    if count == 0:  # every shape and grid fails to tile nothing: searching them all only costs time
        return Structure(m, k, 0, fit_blocks(nonzero, (1, 1)), storage=(1, 1))
    shapes = _candidate_shapes(kernel_shapes)
    fit, diagonal = _best_fit(nonzero, shapes), False
    if m % k == 0 and m > k and nonzero[diagonal_positions(m, k)].all():
        apart = nonzero.copy()
        apart[diagonal_positions(m, k)] = False
        without = _best_fit(apart, shapes)
        if (without.area, -without.strays) > (fit.area, -fit.strays):
            fit, diagonal, nonzero = without, True, apart
    storage = _storage(nonzero, fit, kernel_shapes)
    stored = occupied_blocks(nonzero, storage)
    transposed = fit.block not in kernel_shapes
    return Structure(m, k, count, fit, diagonal, storage, stored, transposed)


def occupied_blocks(nonzero: np.ndarray, block: tuple[int, int]) -> int:
    """Blocks of the kernels' grid (which `block` must divide) holding at least one nonzero."""
    m, k = nonzero.shape
    br, bc = block
    return int(nonzero.reshape(m // br, br, k // bc, bc).any(axis=(1, 3)).sum())
