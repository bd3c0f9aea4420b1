"""What is measured: the case (op, shapes, dtype, sparsity), its data and its float64 reference.

A `Case` is pure description, hashable and cheap; `make_workload(case)` turns it into
deterministic arrays. Op kinds are registered in `OPS`, so composite ops (a vocoder step)
plug in beside the matrix products without reshaping the case type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

DTYPES = ("float32", "float64")
BLOCK_SHAPES = ((16, 1), (8, 4), (4, 8), (1, 1), (16, 4), (8, 1), (4, 4))


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


@dataclass(frozen=True)
class Case:
    """One measured problem: out = W @ x, with W (m x k) and x (k) or (k x n)."""

    name: str
    m: int
    k: int
    op: str = "gemv"
    n: int = 1
    dtype: str = "float32"
    seed: int = 0
    sparsity: Sparsity | None = None
    params: tuple[tuple[str, Any], ...] = ()  # op-specific settings, kept hashable

    def param(self, key: str, default: Any = None) -> Any:
        return dict(self.params).get(key, default)

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

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

    @property
    def flops(self) -> int:
        return OPS[self.op].flops(self)

    @property
    def useful_flops(self) -> int:
        return OPS[self.op].useful_flops(self)

    @property
    def bytes(self) -> int:
        return OPS[self.op].bytes(self)


@dataclass(frozen=True, eq=False)
class Workload:
    """A case made concrete: the arrays a backend gets, and the float64 answer."""

    case: Case
    weights: np.ndarray  # (m, k) in the case dtype; pruned and diagonal included when sparse
    x: np.ndarray  # (k,) for gemv, (k, n) for gemm, in the case dtype
    reference: np.ndarray  # float64, computed from exactly the values above
    block_mask: np.ndarray | None = None  # bool (m/br, k/bc): kept blocks
    diagonal: np.ndarray | None = None  # (m,) kept dense beside the blocks: y[r] += d[r] x[r % k]
    extra: dict = field(default_factory=dict)  # op-specific arrays (composite ops)

    def new_output(self) -> np.ndarray:
        return np.zeros(self.reference.shape, dtype=self.case.dtype)


@dataclass(frozen=True)
class OpKind:
    """How an op kind makes its data and counts its work."""

    name: str
    make: Callable[[Case], Workload]
    flops: Callable[[Case], int]
    useful_flops: Callable[[Case], int]
    bytes: Callable[[Case], int]
    params: frozenset[str] = frozenset()  # extra suite fields this op takes
    validate: Callable[[Case], list[tuple[str, str]]] | None = None  # (field, problem) pairs
    compose: Callable[[Any], Any] | None = None  # wraps a backend lacking the op (composite ops)
    derive: Callable[[Case, dict], dict] | None = None  # extra result columns from a measured row


def _matrix_flops(case: Case) -> int:
    return 2 * case.m * case.k * case.n


def _matrix_useful_flops(case: Case) -> int:
    return 2 * case.nonzeros * case.n


def _matrix_bytes(case: Case) -> int:
    return case.itemsize * (case.m * case.k + case.k * case.n + case.m * case.n)


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


def _make_matrix_product(case: Case) -> Workload:
    rng = np.random.default_rng(case.seed)
    weights = generate_weights(rng, case.m, case.k)
    mask = diagonal = None
    if case.sparsity is not None:
        weights, mask, diagonal = prune(weights, case.sparsity)
    x_shape = (case.k,) if case.op == "gemv" else (case.k, case.n)
    x = generate_activations(rng, x_shape)
    weights = np.ascontiguousarray(weights, dtype=case.dtype)
    x = np.ascontiguousarray(x, dtype=case.dtype)
    # The reference uses the values the backend sees, so errors measure arithmetic alone.
    reference = weights.astype(np.float64) @ x.astype(np.float64)
    if diagonal is not None:
        diagonal = diagonal.astype(case.dtype)
    return Workload(case, weights, x, reference, mask, diagonal)


OPS: dict[str, OpKind] = {
    name: OpKind(name, _make_matrix_product, _matrix_flops, _matrix_useful_flops, _matrix_bytes)
    for name in ("gemv", "gemm")
}


def register_op(kind: OpKind) -> None:
    OPS[kind.name] = kind


def make_workload(case: Case) -> Workload:
    return OPS[case.op].make(case)


def case_to_dict(case: Case) -> dict:
    """A JSON-ready description of a case (for the worker pipe and the results)."""
    data = {f: getattr(case, f) for f in ("name", "op", "m", "k", "n", "dtype", "seed")}
    data["params"] = [list(p) for p in case.params]
    if case.sparsity is not None:
        s = case.sparsity
        data["sparsity"] = {"density": list(s.density), "block": list(s.block), "keep_diagonal": s.keep_diagonal}
    return data


def case_from_dict(data: dict) -> Case:
    s = data.get("sparsity")
    sparsity = Sparsity(tuple(s["density"]), tuple(s["block"]), s["keep_diagonal"]) if s else None
    params = tuple((key, freeze(value)) for key, value in data.get("params", []))
    fields_ = {f: data[f] for f in ("name", "op", "m", "k", "n", "dtype", "seed")}
    return Case(**fields_, sparsity=sparsity, params=params)


def freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, freeze(v)) for k, v in value.items())
    return value


def aligned_empty(shape: int | tuple[int, ...], dtype: str | np.dtype | type,
                  alignment: int = 64) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on an `alignment`-byte boundary."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    dtype = np.dtype(dtype)
    count = int(np.prod(shape)) if shape else 1
    raw = np.empty(count * dtype.itemsize + alignment, dtype=np.uint8)
    offset = (-raw.ctypes.data) % alignment
    return raw[offset:offset + count * dtype.itemsize].view(dtype).reshape(shape)


def aligned_copy(array: np.ndarray, dtype: str | np.dtype | type | None = None, alignment: int = 64) -> np.ndarray:
    """An aligned copy of `array`, converted to `dtype` when one is given."""
    out = aligned_empty(array.shape, array.dtype if dtype is None else dtype, alignment)
    out[...] = array
    return out


import gemmbench.vocoder  # noqa: E402,F401  (registers lpcnet_step; it builds on the names above)
