"""Matrix products: `gemv` (out = W x) and `gemm` (out = W X), dense or block-sparse.

Weights are generated with the scale of a trained layer, N(0, 1/k); activations uniform in
[-1, 1), as after tanh/sigmoid. A sparse case prunes by block magnitude, one density per
gate (rows split evenly into the gates), optionally keeping the diagonal of each gate's
square dense beside the blocks (LPCNet's GRU). The reference is computed in float64 from
exactly the values the backend gets, so errors measure arithmetic alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from gemmbench.fields import FieldReader
from gemmbench.op import Case, Column, Counts, Op, Workload

BLOCK_SHAPES = ((16, 1), (8, 4), (4, 8), (1, 1), (16, 4), (8, 1), (4, 4))
FLOAT64_COPIES = 3  # data is generated in float64, cast, then packed by a backend: sizing for the memory check


@dataclass(frozen=True)
class Sparsity:
    """Block-magnitude pruning: one density per gate (rows split evenly into the gates)."""

    density: tuple[float, ...]
    block: tuple[int, int] = (16, 1)
    keep_diagonal: bool = False

    @property
    def gates(self) -> int:
        return len(self.density)

    def label(self) -> str:
        dens = "/".join(f"{d:g}" for d in self.density)
        return f"{self.block[0]}x{self.block[1]}@{dens}" + ("+diag" if self.keep_diagonal else "")

    def kept_blocks(self, m: int, k: int) -> list[int]:
        """How many blocks each gate keeps (at least one, so no gate is empty)."""
        br, bc = self.block
        per_gate = (m // self.gates // br) * (k // bc)
        return [max(1, round(d * per_gate)) for d in self.density]

    @classmethod
    def from_dict(cls, data: dict | None) -> "Sparsity | None":
        if not data:
            return None
        return cls(tuple(data["density"]), tuple(data["block"]), data["keep_diagonal"])


@dataclass(frozen=True)
class MatrixSpec:
    """W is m x k; x is (k,) for gemv, (k, n) for gemm."""

    m: int
    k: int
    n: int = 1
    sparsity: Sparsity | None = None

    @property
    def nonzeros(self) -> int:
        """Weights the stored format holds (all of them when dense)."""
        if self.sparsity is None:
            return self.m * self.k
        br, bc = self.sparsity.block
        kept = sum(self.sparsity.kept_blocks(self.m, self.k)) * br * bc
        return kept + (self.m if self.sparsity.keep_diagonal else 0)

    @property
    def density(self) -> float:
        return self.nonzeros / (self.m * self.k)


@dataclass(frozen=True, eq=False)
class MatrixWorkload(Workload):
    """The arrays a matrix backend gets: W (pruned, diagonal included, in the case dtype) and its mask."""

    weights: np.ndarray = None  # (m, k)
    block_mask: np.ndarray | None = None  # bool (m/br, k/bc): kept blocks
    diagonal: np.ndarray | None = None  # (m,) kept dense beside the blocks: y[r] += d[r] x[r % k]


# ---------------------------------------------------------------- data

def generate_weights(rng: np.random.Generator, m: int, k: int) -> np.ndarray:
    """float64 weights with the scale of a trained layer: N(0, 1/k)."""
    return rng.standard_normal((m, k)) / math.sqrt(k)


def generate_activations(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """float64 activations in [-1, 1), as after tanh/sigmoid."""
    return rng.uniform(-1.0, 1.0, size=shape)


def prune(weights: np.ndarray, sparsity: Sparsity) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Keep each gate's largest blocks by magnitude; return (pruned, block mask, diagonal).

    With keep_diagonal (LPCNet's GRU) the diagonal of each gate's square is held apart,
    excluded from the block ranking, and added back to the pruned matrix.
    """
    m, k = weights.shape
    br, bc = sparsity.block
    rows_per_gate = m // sparsity.gates
    blocks = weights.copy()
    diagonal = None
    if sparsity.keep_diagonal:
        rows = np.arange(m)
        diagonal = weights[rows, rows % rows_per_gate].copy()
        blocks[rows, rows % rows_per_gate] = 0.0
    energy = (blocks ** 2).reshape(m // br, br, k // bc, bc).sum(axis=(1, 3))
    mask = np.zeros(energy.shape, dtype=bool)
    gate_rows = rows_per_gate // br
    for gate, keep in enumerate(sparsity.kept_blocks(m, k)):
        gate_energy = energy[gate * gate_rows:(gate + 1) * gate_rows].ravel()
        order = np.argsort(-gate_energy, kind="stable")[:keep]
        gate_mask = np.zeros(gate_energy.size, dtype=bool)
        gate_mask[order] = True
        mask[gate * gate_rows:(gate + 1) * gate_rows] = gate_mask.reshape(gate_rows, -1)
    pruned = blocks * np.repeat(np.repeat(mask, br, axis=0), bc, axis=1)
    if diagonal is not None:
        rows = np.arange(m)
        pruned[rows, rows % rows_per_gate] += diagonal
    return pruned, mask, diagonal


def make_matrices(case: Case, x_shape: tuple[int, ...]) -> MatrixWorkload:
    spec: MatrixSpec = case.spec
    rng = np.random.default_rng(case.seed)
    weights = generate_weights(rng, spec.m, spec.k)
    mask = diagonal = None
    if spec.sparsity is not None:
        weights, mask, diagonal = prune(weights, spec.sparsity)
    x = np.ascontiguousarray(generate_activations(rng, x_shape), dtype=case.dtype)
    weights = np.ascontiguousarray(weights, dtype=case.dtype)
    reference = weights.astype(np.float64) @ x.astype(np.float64)
    if diagonal is not None:
        diagonal = diagonal.astype(case.dtype)
    return MatrixWorkload(case, x, reference, weights, mask, diagonal)


# ---------------------------------------------------------------- case fields

def read_sparsity(read: FieldReader, m: int, k: int) -> Sparsity | None:
    """density (a number, or a mapping gate -> number), block and keep_diagonal."""
    raw = read.get("density")
    sparse_keys = [key for key in ("block", "keep_diagonal") if key in read]
    if raw is None:
        if sparse_keys:
            read.bad(sparse_keys[0], "only applies with a 'density' field")
        return None
    if isinstance(raw, dict):
        densities = list(raw.values())
        if not raw:
            read.bad("density", "a per-gate mapping needs at least one gate")
            return None
    else:
        densities = [raw]
    if any(isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 < d <= 1 for d in densities):
        read.bad("density", "must be a number in (0, 1] or a mapping gate -> number in (0, 1]")
        return None
    sparsity = Sparsity(tuple(float(d) for d in densities), _read_block(read), read.boolean("keep_diagonal", False))
    block, gates = sparsity.block, sparsity.gates
    if m % gates or (m // gates) % block[0]:
        read.bad("block", f"{block[0]}-row blocks must divide each of the {gates} gate(s) of m={m}")
    elif k % block[1]:
        read.bad("block", f"{block[1]}-column blocks must divide k={k}")
    if sparsity.keep_diagonal and m // gates != k:
        read.bad("keep_diagonal", f"needs square gates (m/gates = {m // gates} must equal k = {k})")
    return sparsity


def _read_block(read: FieldReader) -> tuple[int, int]:
    raw = read.get("block", "16x1")
    allowed = ", ".join(f"{r}x{c}" for r, c in BLOCK_SHAPES)
    try:
        rows, cols = (int(part) for part in str(raw).lower().split("x"))
    except ValueError:
        read.bad("block", f"must be ROWSxCOLS, one of {allowed}")
        return (16, 1)
    if (rows, cols) not in BLOCK_SHAPES:
        read.bad("block", f"must be one of {allowed}")
        return (16, 1)
    return rows, cols


MATRIX_FIELDS = {
    "m": "output rows of W", "k": "input length (columns of W)", "n": "columns of X (the batch); gemv takes 1 only",
    "density": "fraction of weights kept: a number, or a mapping gate -> number (rows split evenly into gates)",
    "block": f"block shape of the pruning, ROWSxCOLS: {', '.join(f'{r}x{c}' for r, c in BLOCK_SHAPES)}",
    "keep_diagonal": "keep each gate's diagonal dense beside the blocks (LPCNet's GRU)",
}
MATRIX_COLUMNS = (
    Column("m", "int64", "output rows"),
    Column("k", "int64", "input length (inner dimension)"),
    Column("n", "int64", "columns of the right-hand side (1 for gemv)"),
    Column("density", "float64", "fraction of weights stored (1.0 when dense)"),
    Column("sparsity", "string", "block shape and per-gate densities, e.g. 16x1@0.05/0.05/0.2+diag; '' when dense"),
    Column("weight_bytes", "int64", "bytes of weights (and block index) the kernel reads per call, as stored"),
)


def matrix_columns(spec: MatrixSpec) -> dict:
    return {"m": spec.m, "k": spec.k, "n": spec.n, "density": spec.density,
            "sparsity": spec.sparsity.label() if spec.sparsity else ""}


def matrix_label(spec: MatrixSpec) -> str:
    shape = f"{spec.m}x{spec.k}" + (f"x{spec.n}" if spec.n > 1 else "")
    return shape + (f" {spec.sparsity.label()}" if spec.sparsity else "")


class MatrixProduct(Op):
    """What gemv and gemm share: W, its sparsity, the counts and the roofline model."""

    fields: ClassVar[dict[str, str]] = MATRIX_FIELDS
    size_fields = ("m", "k", "n")
    columns = MATRIX_COLUMNS
    spec_type = MatrixSpec

    def read_n(self, read: FieldReader) -> int:
        return read.positive_int("n", 1)

    def spec(self, read: FieldReader) -> MatrixSpec:
        m, k = read.positive_int("m"), read.positive_int("k")
        n = self.read_n(read)
        return MatrixSpec(m, k, n, read_sparsity(read, m, k))

    def spec_from_dict(self, data: dict) -> MatrixSpec:
        return MatrixSpec(data["m"], data["k"], data["n"], Sparsity.from_dict(data.get("sparsity")))

    def memory_bytes(self, spec: MatrixSpec, dtype: str) -> int:
        elements = spec.m * spec.k + spec.k * spec.n + 2 * spec.m * spec.n
        return elements * 8 * FLOAT64_COPIES

    def label(self, case: Case) -> str:
        return matrix_label(case.spec)

    def counts(self, case: Case) -> Counts:
        spec: MatrixSpec = case.spec
        itemsize = np.dtype(case.dtype).itemsize
        return Counts(flops=2 * spec.m * spec.k * spec.n, useful_flops=2 * spec.nonzeros * spec.n,
                      bytes=itemsize * (spec.m * spec.k + spec.k * spec.n + spec.m * spec.n))

    def case_columns(self, case: Case) -> dict:
        return matrix_columns(case.spec)

    def roof(self, case: Case, row: dict, roof: Any) -> dict:
        from gemmbench import roofline

        return roofline.row_columns(roof, row)


class Gemv(MatrixProduct):
    name = "gemv"
    doc = "matrix-vector product out = W x (GRU and dense layers at batch 1)"

    def read_n(self, read: FieldReader) -> int:
        if "n" in read and read.get("n") != 1:
            read.bad("n", "must be 1 for op gemv (use op gemm for n > 1)")
        return 1

    def make(self, case: Case) -> MatrixWorkload:
        return make_matrices(case, (case.spec.k,))


class Gemm(MatrixProduct):
    name = "gemm"
    doc = "matrix product out = W X with X of n columns (batched frames)"

    def make(self, case: Case) -> MatrixWorkload:
        return make_matrices(case, (case.spec.k, case.spec.n))


def matrix_case(name: str, m: int, k: int, n: int = 1, *, sparsity: Sparsity | None = None, dtype: str = "float32",
                seed: int = 0) -> Case:
    """A gemv case (n = 1) or gemm case (n > 1) built in code rather than from a suite."""
    return Case(name, "gemv" if n == 1 else "gemm", MatrixSpec(m, k, n, sparsity), dtype, seed)
