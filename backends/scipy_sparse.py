"""scipy.sparse: the block-pruned weights in CSR or BSR, multiplied by scipy's compiled sparsetools.

What is stored, in both formats, is what LPCNet stores: every kept block whole (the pattern is
`workload.block_mask`; a kept block over a diagonal position holds an explicit zero there) and,
with keep_diagonal, the diagonal apart as a DIA matrix. So the stored values are
kept blocks x block size + m = `case.spec.nonzeros`, and `useful_flops` (2 x nonzeros x n) counts
exactly the multiply-adds scipy does. Converting the pruned matrix naively would store
something else: `csr_array(weights)` merges each diagonal entry into the blocks, and
`bsr_array(weights, blocksize=(16, 1))` stores a whole block, 15 zeros, for each of the m
diagonal entries (about 40% more work at LPCNet's densities).

scipy's public `A @ x` allocates its result. The sparsetools routines behind it
(`scipy.sparse._sparsetools.csr_matvec`, `bsr_matvecs`, `dia_matvec`, ...) accumulate into a
given output, so the measured call zeroes `out` and accumulates into it, allocating nothing.
They are private: when one is missing, or does not write into the given array (checked once
against the public product), the public product is used instead, and `detail` says which ran.
sparsetools is single-threaded whatever the case's thread count.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from gemmbench.backend import Backend, Variant
from gemmbench.formats.blocksparse import diagonal_positions
from gemmbench.op import Workload

FORMATS = ("csr", "bsr")


@dataclass(frozen=True, eq=False)
class SparseWeights:
    blocks: object  # scipy csr_array or bsr_array: the kept blocks
    diagonal: object | None  # scipy dia_array: the diagonal kept beside the blocks, or None
    kernels: tuple[Callable[[], None], ...] = ()  # bound sparsetools calls accumulating into out
    fallback: str = ""  # why the public, allocating product runs ('' when the kernels do)

    @property
    def stored(self) -> int:
        """Values the formats hold, explicit zeros included: the multiply-adds per column."""
        stored = self.blocks.data.size
        return stored + (self.diagonal.nnz if self.diagonal is not None else 0)


def block_values(workload: Workload) -> np.ndarray:
    """The pruned matrix without its diagonal: what the blocks hold."""
    weights = workload.weights
    if workload.diagonal is None:
        return weights
    values = weights.copy()
    values[diagonal_positions(*weights.shape)] = 0
    return values


def to_bsr(values: np.ndarray, mask: np.ndarray, block: tuple[int, int]):
    """Exactly the blocks the mask keeps, each stored whole, in block-row order."""
    from scipy.sparse import bsr_array

    (m, k), (br, bc) = values.shape, block
    tiles = values.reshape(m // br, br, k // bc, bc).transpose(0, 2, 1, 3)
    block_rows, block_cols = np.nonzero(mask)
    indptr = np.concatenate(([0], np.cumsum(mask.sum(axis=1)))).astype(np.int32)
    data = np.ascontiguousarray(tiles[block_rows, block_cols])
    return bsr_array((data, block_cols.astype(np.int32), indptr), shape=(m, k), blocksize=block)


def to_csr(values: np.ndarray, mask: np.ndarray, block: tuple[int, int]):
    """Every position of every kept block, explicit zeros included."""
    from scipy.sparse import csr_array

    br, bc = block
    kept = np.repeat(np.repeat(mask, br, axis=0), bc, axis=1)
    rows, cols = np.nonzero(kept)
    indptr = np.concatenate(([0], np.cumsum(kept.sum(axis=1)))).astype(np.int32)
    return csr_array((values[rows, cols], cols.astype(np.int32), indptr), shape=values.shape)


def to_dia(diagonal: np.ndarray, k: int):
    """y[r] += diagonal[r] x[r % k]: one stored diagonal per gate (offset -g k)."""
    from scipy.sparse import dia_array

    m = diagonal.shape[0]
    gates = m // k
    data = diagonal.reshape(gates, k)  # DIA keeps the value of column j of offset o at row j - o
    offsets = -k * np.arange(gates, dtype=np.int32)
    return dia_array((np.ascontiguousarray(data), offsets), shape=(m, k))


def _accumulating_kernel(matrix, x: np.ndarray, out: np.ndarray) -> Callable[[], None]:
    """A bound sparsetools call doing out += matrix @ x; raises AttributeError when missing."""
    from scipy.sparse import _sparsetools as tools

    m, k = matrix.shape
    vector = x.ndim == 1
    n = 1 if vector else x.shape[1]
    if matrix.format == "csr":
        if vector:
            return functools.partial(tools.csr_matvec, m, k, matrix.indptr, matrix.indices, matrix.data, x, out)
        return functools.partial(tools.csr_matvecs, m, k, n, matrix.indptr, matrix.indices, matrix.data,
                                 x.reshape(-1), out.reshape(-1))
    if matrix.format == "bsr":
        (br, bc), data = matrix.blocksize, matrix.data.reshape(-1)
        if vector:
            return functools.partial(tools.bsr_matvec, m // br, k // bc, br, bc, matrix.indptr, matrix.indices,
                                     data, x, out)
        return functools.partial(tools.bsr_matvecs, m // br, k // bc, n, br, bc, matrix.indptr, matrix.indices,
                                 data, x.reshape(-1), out.reshape(-1))
    if matrix.format == "dia":
        diags, length = matrix.data.shape
        if vector:
            return functools.partial(tools.dia_matvec, m, k, diags, length, matrix.offsets, matrix.data, x, out)
        return functools.partial(tools.dia_matvecs, m, k, diags, length, matrix.offsets, matrix.data, n, x, out)
    raise AttributeError(f"no accumulating sparsetools routine for format {matrix.format}")


def public_product(weights: SparseWeights, x: np.ndarray) -> np.ndarray:
    product = weights.blocks @ x
    if weights.diagonal is not None:
        product += weights.diagonal @ x
    return product


class ScipySparseBackend(Backend):
    name = "scipy"
    ops = frozenset({"gemv", "gemm"})
    sparse_only = True

    def available(self) -> tuple[bool, str]:
        try:
            import scipy.sparse  # noqa: F401
        except ImportError as exc:
            return False, f"scipy.sparse cannot be imported ({exc}; pip install scipy)"
        return True, ""

    def variants(self) -> list[Variant]:
        return [Variant("csr", detail="scipy csr_array of the kept blocks"),
                Variant("bsr", detail="scipy bsr_array, blocksize = the case's block shape")]

    def prepare(self, workload: Workload, variant: Variant) -> SparseWeights:
        block = workload.case.spec.sparsity.block
        values = block_values(workload)
        convert = to_bsr if variant.name == "bsr" else to_csr
        blocks = convert(values, workload.block_mask, block)
        diagonal = to_dia(workload.diagonal, workload.case.spec.k) if workload.diagonal is not None else None
        return SparseWeights(blocks, diagonal)

    def bind(self, prepared: SparseWeights, x: np.ndarray, out: np.ndarray) -> SparseWeights:
        parts = [prepared.blocks] + ([prepared.diagonal] if prepared.diagonal is not None else [])
        try:
            bound = replace(prepared, kernels=tuple(_accumulating_kernel(part, x, out) for part in parts))
            self.run(bound, x, out)
        except Exception as exc:  # a private API that moved or changed its signature
            return replace(prepared, fallback=f"private sparsetools unusable: {type(exc).__name__}: {exc}")
        if not np.allclose(out, public_product(prepared, x), rtol=1e-5, atol=1e-6):
            return replace(prepared, fallback="private sparsetools did not write into the output array")
        return bound

    def run(self, prepared: SparseWeights, x: np.ndarray, out: np.ndarray) -> None:
        if not prepared.kernels:
            np.copyto(out, public_product(prepared, x))
            return
        out.fill(0)
        for kernel in prepared.kernels:
            kernel()

    def describe(self, prepared: SparseWeights, variant: Variant) -> str:
        import scipy

        blocks = prepared.blocks
        what = f"scipy {scipy.__version__} {blocks.format}"
        if blocks.format == "bsr":
            what += f" blocksize {blocks.blocksize[0]}x{blocks.blocksize[1]}, {blocks.data.shape[0]} blocks"
        if prepared.diagonal is not None:
            what += f" + dia diagonal ({len(prepared.diagonal.offsets)} offsets)"
        what += f", {prepared.stored} stored values"
        if prepared.fallback:
            return f"{what}; public A @ x, which allocates its result ({prepared.fallback})"
        routines = " + ".join(kernel.func.__name__ for kernel in prepared.kernels)
        return f"{what}; {routines} from scipy.sparse._sparsetools accumulating into out (no allocation); single-threaded"
