"""Matrix products: `gemv` (out = W x) and `gemm` (out = W X), dense or block-sparse.

Weights are generated with the scale of a trained layer, N(0, 1/k), or read from a model's
file (`weights: models/lpcnet.npz:gru_a_recurrent`; m and k then come from the array);
activations are uniform in [-1, 1), as after tanh/sigmoid, or recorded (`inputs: acts.npy`,
one input vector a row: the measured call cycles through them and errors are measured on
all of them). A sparse case prunes by block magnitude, one density per gate (rows split
evenly into the gates), optionally keeping the diagonal of each gate's square dense beside
the blocks (LPCNet's GRU). A file's matrix that is already sparse keeps its own mask (its
block structure detected, gemmbench.formats.blockdetect); a density prunes it further. The reference
is computed in float64 from exactly the values the backend gets, so errors measure
arithmetic alone.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from gemmbench.cases import arrayfile
from gemmbench.cases.arrayfile import ArrayFileError, ArrayRef
from gemmbench.cases.fields import FieldReader
from gemmbench.formats import blockdetect
from gemmbench.op import Case, Column, Counts, Op, PlotKind, Workload

BLOCK_SHAPES = ((16, 1), (8, 4), (4, 8), (1, 1), (16, 4), (8, 1), (4, 4))
FLOAT64_COPIES = 3  # data is generated in float64, cast, then packed by a backend: sizing for the memory check
# Recorded inputs used, evenly spaced through the file: the measured call cycles through them
# and the correctness gate checks every one, so a row's error is measured on all of them.
MAX_INPUTS = 256


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
    weights: ArrayRef | None = None  # W read from a file (path, key, SHA-256), else generated
    inputs: ArrayRef | None = None  # recorded input vectors (rows) the call cycles through, else generated
    structure: str = ""  # the file matrix's block structure as detected when the suite was read

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
    inputs: np.ndarray | None = None  # recorded inputs, (N, *x.shape); x is the first
    input_references: np.ndarray | None = None  # float64 (N, *reference.shape)

    def input_set(self) -> tuple[Workload, ...]:
        if self.inputs is None:
            return (self,)
        return tuple(dataclasses.replace(self, x=x, reference=ref, inputs=None, input_references=None)
                     for x, ref in zip(self.inputs, self.input_references))


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


def file_weights(spec: MatrixSpec, rng: np.random.Generator) -> np.ndarray:
    """W from the case's file (float64, as stored or transposed), else generated."""
    if spec.weights is None:
        return generate_weights(rng, spec.m, spec.k)
    return arrayfile.load(spec.weights)


def _recorded_inputs(ref: ArrayRef, n: int) -> np.ndarray:
    """Up to MAX_INPUTS inputs, evenly spaced through the file's rows: (N, k) for gemv, (N, k, n) for
    gemm, each X made of n consecutive rows."""
    array = arrayfile.load(ref, (1, 2))
    rows = array.reshape(-1, array.shape[-1])
    groups = rows.shape[0] // n
    chosen = np.unique(np.linspace(0, groups - 1, min(groups, MAX_INPUTS)).round().astype(int))
    if n == 1:
        return rows[chosen]
    return np.stack([rows[g * n:(g + 1) * n].T for g in chosen])


def product(weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """W applied to each of a stack of inputs: (N, k) -> (N, m), or (N, k, n) -> (N, m, n)."""
    return inputs @ weights.T if inputs.ndim == 2 else weights @ inputs


def _make_matrices(case: Case, x_shape: tuple[int, ...]) -> MatrixWorkload:
    spec: MatrixSpec = case.spec
    rng = np.random.default_rng(case.seed)
    weights = file_weights(spec, rng)
    mask = diagonal = None
    if spec.sparsity is not None:
        weights, mask, diagonal = prune(weights, spec.sparsity)
    inputs = None
    if spec.inputs is not None:
        inputs = np.ascontiguousarray(_recorded_inputs(spec.inputs, spec.n), dtype=case.dtype)
        x = inputs[0]
    else:
        x = np.ascontiguousarray(generate_activations(rng, x_shape), dtype=case.dtype)
    weights = np.array(weights, dtype=case.dtype, order="C")  # a copy: a file's array is read-only
    exact = weights.astype(np.float64)
    reference = exact @ x.astype(np.float64)
    references = None if inputs is None else product(exact, inputs.astype(np.float64))
    if diagonal is not None:
        diagonal = diagonal.astype(case.dtype)
    return MatrixWorkload(case, x, reference, weights, mask, diagonal, inputs, references)


# ---------------------------------------------------------------- case fields

@dataclass(frozen=True, eq=False)
class MatrixFile:
    """A case's matrix as read from its file when the suite is read."""

    ref: ArrayRef  # with the file's SHA-256
    weights: np.ndarray  # float64, read-only
    structure: blockdetect.Structure


def read_matrix_file(read: FieldReader, key: str = "weights") -> MatrixFile | None:
    """The `weights` field: the file read, checked (one line per problem) and its structure detected."""
    raw = read.get(key)
    if raw is None:
        return None
    try:
        ref = arrayfile.resolve(arrayfile.parse(raw, read.base))
        weights = arrayfile.load(ref)
    except ArrayFileError as exc:
        read.bad(key, str(exc))
        return None
    for size_key, size in zip(("m", "k"), weights.shape):
        if size_key in read and read.get(size_key) != size:
            read.bad(size_key, f"the matrix {ref.source} is {weights.shape[0]}x{weights.shape[1]}; "
                               f"give {size_key}: {size} or leave {size_key} out")
    return MatrixFile(ref, weights, _structure_of(ref, weights))


_STRUCTURES: dict[tuple, blockdetect.Structure] = {}


def _structure_of(ref: ArrayRef, weights: np.ndarray) -> blockdetect.Structure:
    """The detected block structure, once per file content (a grid of cases reads one file often)."""
    key = (ref.sha256, ref.key, ref.transpose)
    if key not in _STRUCTURES:
        _STRUCTURES[key] = blockdetect.detect(weights, BLOCK_SHAPES)
    return _STRUCTURES[key]


def read_shape(read: FieldReader, source: MatrixFile | None) -> tuple[int, int]:
    if source is not None:
        return source.weights.shape
    if "weights" in read:  # a file that could not be read: its one line says so, m and k are not missing
        return 1, 1
    return read.positive_int("m"), read.positive_int("k")


def _read_inputs(read: FieldReader, k: int, n: int) -> ArrayRef | None:
    """The `inputs` field: a file of input vectors, one a row, k values each."""
    raw = read.get("inputs")
    if raw is None:
        return None
    try:
        ref = arrayfile.resolve(arrayfile.parse(raw, read.base))
        array = arrayfile.load(ref, (1, 2))
    except ArrayFileError as exc:
        read.bad("inputs", str(exc))
        return None
    vectors = array.size // array.shape[-1]
    if array.shape[-1] != k:
        read.bad("inputs", f"{ref.source} holds vectors of {array.shape[-1]} values (one a row); this case's "
                           f"k is {k}")
    elif vectors < n:
        read.bad("inputs", f"{ref.source} holds {vectors} vectors; n = {n} columns need at least {n}")
    return ref


def read_sparsity(read: FieldReader, m: int, k: int, source: MatrixFile | None = None) -> Sparsity | None:
    """density (a number, or a mapping gate -> number), block and keep_diagonal.

    A file's matrix that is already sparse keeps its own mask without a density; with one, it is
    pruned further (block and keep_diagonal default to what was detected)."""
    raw = read.get("density")
    sparse_keys = [key for key in ("block", "keep_diagonal") if key in read]
    own = source.structure if source is not None and source.structure.sparse else None
    if "own_mask" in read and source is None:
        read.bad("own_mask", "applies to a matrix read from a file (a 'weights' field)")
    if raw is None and not read.boolean("own_mask", True):
        own = None  # run the file's sparse matrix dense, its zeros multiplied like any weight
    if raw is None:
        if sparse_keys:
            read.bad(sparse_keys[0], "only applies with a 'density' field" +
                     (" (without one, the file's own mask is kept)" if own else ""))
        return _own_sparsity(source) if own else None
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
    block = _read_block(read, f"{own.storage[0]}x{own.storage[1]}" if own else "16x1")
    sparsity = Sparsity(tuple(float(d) for d in densities), block,
                        read.boolean("keep_diagonal", own.diagonal if own else False))
    block, gates = sparsity.block, sparsity.gates
    if m % gates or (m // gates) % block[0]:
        read.bad("block", f"{block[0]}-row blocks must divide each of the {gates} gate(s) of m={m}")
    elif k % block[1]:
        read.bad("block", f"{block[1]}-column blocks must divide k={k}")
    elif sparsity.keep_diagonal and m // gates != k:
        read.bad("keep_diagonal", f"needs square gates (m/gates = {m // gates} must equal k = {k})")
    elif own:
        _check_prunes_further(read, source, sparsity)
    return sparsity


def _own_sparsity(source: MatrixFile) -> Sparsity:
    """The file's own mask as a Sparsity: per gate (square gates when it keeps a diagonal), the share of
    its storage blocks holding a nonzero, so pruning at that density keeps exactly those blocks."""
    structure = source.structure
    gates = structure.m // structure.k if structure.diagonal else 1
    held = _held_blocks(source.weights, structure.storage, gates, structure.diagonal)
    rows, (br, bc) = structure.m // gates, structure.storage
    total = (rows // br) * (structure.k // bc)
    return Sparsity(tuple(h / total for h in held), structure.storage, structure.diagonal)


def _held_blocks(weights: np.ndarray, block: tuple[int, int], gates: int, diagonal: bool) -> list[int]:
    """Per gate, the blocks of the kernels' grid holding a nonzero (the diagonal apart when kept)."""
    m, k = weights.shape
    nonzero = weights != 0
    if diagonal:
        nonzero[blockdetect.diagonal_positions(m, k)] = False
    rows = m // gates
    return [blockdetect.occupied_blocks(nonzero[g * rows:(g + 1) * rows], block) for g in range(gates)]


def _check_prunes_further(read: FieldReader, source: MatrixFile, sparsity: Sparsity) -> None:
    """A density above what the file's matrix holds would keep blocks of zeros: refuse it."""
    m, k = source.weights.shape
    held = _held_blocks(source.weights, sparsity.block, sparsity.gates, sparsity.keep_diagonal)
    br, bc = sparsity.block
    total = (m // sparsity.gates // br) * (k // bc)
    for gate, (keep, have) in enumerate(zip(sparsity.kept_blocks(m, k), held)):
        if keep > have:
            where = f" in gate {gate + 1}" if sparsity.gates > 1 else ""
            read.bad("density", f"the file's matrix holds {have} nonzero {br}x{bc} blocks{where} (density "
                                f"{have / total:.3g}); a higher density would keep blocks of zeros")
            return


def _read_block(read: FieldReader, default: str = "16x1") -> tuple[int, int]:
    raw = read.get("block", default)
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
    "own_mask": "an already-sparse file's matrix keeps its own mask (default true); false runs it dense",
    "weights": "W from a file instead of generated: FILE:KEY or {file, key, transpose} (.npy, .npz, .safetensors, "
               "PyTorch state dict; relative to the suite); m and k come from the array",
}
INPUTS_FIELD = {"inputs": "input vectors from a file, one a row (FILE[:KEY], relative to the suite): the measured "
                          "call cycles through them, errors are measured on them"}
MATRIX_COLUMNS = (
    Column("m", "int64", "output rows"),
    Column("k", "int64", "input length (inner dimension)"),
    Column("n", "int64", "columns of the right-hand side (1 for gemv)"),
    Column("density", "float64", "fraction of weights stored (1.0 when dense)"),
    Column("sparsity", "string", "block shape and per-gate densities, e.g. 16x1@0.05/0.05/0.2+diag; '' when dense"),
    Column("weight_bytes", "int64", "bytes of weights (and block index) the kernel reads per call, as stored"),
    Column("core_bound_ns", "float64", "block-sparse rows: in-core (issue) bound, the blocks at one block per "
                                       "cycle at the measured clock; a bound beside the roof, not part of it"),
    Column("core_pct", "float64", "core_bound_ns as a percentage of the row's native time (its median time "
                                  "where none)"),
    Column("weights_source", "string", "the file and key W was read from ('' when generated)"),
    Column("weights_sha256", "string", "SHA-256 of that file when the suite was read"),
    Column("weights_structure", "string", "the block structure detected in the file's matrix (dense, or its "
                                          "block shape, density, strays, diagonal)"),
)
INPUTS_COLUMNS = (
    Column("inputs_source", "string", "the file of recorded input vectors ('' when generated)"),
    Column("inputs_sha256", "string", "SHA-256 of that file when the suite was read"),
)


def matrix_columns(spec: MatrixSpec) -> dict:
    weights = spec.weights
    return {"m": spec.m, "k": spec.k, "n": spec.n, "density": spec.density,
            "sparsity": spec.sparsity.label() if spec.sparsity else "",
            "weights_source": weights.source if weights else "", "weights_sha256": weights.sha256 if weights else "",
            "weights_structure": spec.structure}


def _inputs_columns(spec: MatrixSpec) -> dict:
    return {"inputs_source": spec.inputs.source if spec.inputs else "",
            "inputs_sha256": spec.inputs.sha256 if spec.inputs else ""}


def matrix_files(spec: MatrixSpec) -> tuple[ArrayRef, ...]:
    return tuple(ref for ref in (spec.weights, spec.inputs) if ref is not None)


def spec_from_dict(spec_type: type, data: dict) -> MatrixSpec:
    """A matrix spec (or a subclass) back from its JSON form."""
    return spec_type(**{**data, "sparsity": Sparsity.from_dict(data.get("sparsity")),
                        "weights": ArrayRef.from_dict(data.get("weights")),
                        "inputs": ArrayRef.from_dict(data.get("inputs"))})


def matrix_label(spec: MatrixSpec) -> str:
    shape = f"{spec.m}x{spec.k}" + (f"x{spec.n}" if spec.n > 1 else "")
    return shape + (f" {spec.sparsity.label()}" if spec.sparsity else "")


class MatrixProduct(Op):
    """What gemv and gemm share: W, its sparsity, the counts and the roofline model."""

    fields: ClassVar[dict[str, str]] = {**MATRIX_FIELDS, **INPUTS_FIELD}
    size_fields = ("m", "k", "n")
    columns = (*MATRIX_COLUMNS, *INPUTS_COLUMNS)
    plots = (PlotKind("sweep", "Time per call against size and density",
                      "Time per call (native where measured), log-log, one line per backend:variant: across densities "
                      "of one shape and block pattern (where a sparse kernel's line crosses the baseline's is its "
                      "break-even density) and across dense sizes m·k.", "gemmbench.ops.matrix_plot:sweep_plot"),)
    spec_type = MatrixSpec

    def read_n(self, read: FieldReader) -> int:
        return read.positive_int("n", 1)

    def spec(self, read: FieldReader) -> MatrixSpec:
        source = read_matrix_file(read)
        m, k = read_shape(read, source)
        n = self.read_n(read)
        return MatrixSpec(m, k, n, read_sparsity(read, m, k, source), source.ref if source else None,
                          _read_inputs(read, k, n), source.structure.text() if source else "")

    def spec_from_dict(self, data: dict) -> MatrixSpec:
        return spec_from_dict(MatrixSpec, data)

    def files(self, spec: MatrixSpec) -> tuple[ArrayRef, ...]:
        return matrix_files(spec)

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
        return {**matrix_columns(case.spec), **_inputs_columns(case.spec)}

    def roof(self, case: Case, row: dict, roof: Any) -> dict:
        from gemmbench.machine import roofline

        return roofline.row_columns(roof, row)


class Gemv(MatrixProduct):
    name = "gemv"
    doc = "matrix-vector product out = W x (GRU and dense layers at batch 1)"

    def read_n(self, read: FieldReader) -> int:
        if "n" in read and read.get("n") != 1:
            read.bad("n", "must be 1 for op gemv (use op gemm for n > 1)")
        return 1

    def make(self, case: Case) -> MatrixWorkload:
        return _make_matrices(case, (case.spec.k,))


class Gemm(MatrixProduct):
    name = "gemm"
    doc = "matrix product out = W X with X of n columns (batched frames)"

    def make(self, case: Case) -> MatrixWorkload:
        return _make_matrices(case, (case.spec.k, case.spec.n))


def matrix_case(name: str, m: int, k: int, n: int = 1, *, sparsity: Sparsity | None = None, dtype: str = "float32",
                seed: int = 0) -> Case:
    """A gemv case (n = 1) or gemm case (n > 1) built in code rather than from a suite."""
    return Case(name, "gemv" if n == 1 else "gemm", MatrixSpec(m, k, n, sparsity), dtype, seed)
