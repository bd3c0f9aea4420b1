"""What advice is asked for: the matrices of a file, and the activations their errors are measured on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gemmbench.advise.accuracy import Activations
from gemmbench.cases import arrayfile
from gemmbench.cases.arrayfile import ArrayFileError, ArrayRef
from gemmbench.errors import UsageError
from gemmbench.formats import blockdetect
from gemmbench.ops.matrix import BLOCK_SHAPES, generate_activations

GENERATED_VECTORS = 256  # activations generated when none are recorded
MAX_VECTORS = 4096  # recorded activations used for the errors, evenly spaced through the file


@dataclass(frozen=True, eq=False)
class Target:
    """One matrix to advise on."""

    ref: ArrayRef  # resolved: path, key, SHA-256
    weights: np.ndarray  # float64, as the file holds it (transposed when asked)
    stored_dtype: str
    structure: blockdetect.Structure

    @property
    def name(self) -> str:
        return self.ref.key or Path(self.ref.path).stem

    @property
    def shape(self) -> tuple[int, int]:
        return self.weights.shape

    def describe(self) -> str:
        m, k = self.shape
        return f"{self.ref.source} ({m}x{k} {self.stored_dtype}; {self.structure.text()})"


def targets(text: str, transpose: bool = False) -> list[Target]:
    """WEIGHTS[:KEY]: that matrix, or every 2-D matrix of the file; UsageError (one line) for a bad file."""
    try:
        ref = arrayfile.parse(text, Path.cwd())
        ref = ArrayRef(ref.path, ref.key, transpose, given=ref.given)
        found = arrayfile.contents(ref.path)
        keys = [ref.key] if ref.key or len(found) == 1 else arrayfile.matrices(ref.path)
        if not keys:
            raise ArrayFileError(f"{Path(ref.path).name} holds no 2-D array (it holds: "
                                 f"{', '.join(f'{k} {e.text()}' for k, e in found.items())})")
        return [_target(ArrayRef(ref.path, key if key else next(iter(found)), transpose, given=ref.given))
                for key in keys]
    except ArrayFileError as exc:
        raise UsageError(f"advise: {exc}") from None


def _target(ref: ArrayRef) -> Target:
    ref = arrayfile.resolve(ref)
    weights = arrayfile.load(ref)
    return Target(ref, weights, arrayfile.entry(ref).dtype, blockdetect.detect(weights, BLOCK_SHAPES))


def recorded(text: str) -> ArrayRef:
    """--inputs FILE[:KEY], resolved (without a key, each matrix takes the array of its own name);
    UsageError for a bad file."""
    try:
        ref = arrayfile.resolve(arrayfile.parse(text, Path.cwd()))
        found = arrayfile.contents(ref.path)
        if ref.key or len(found) == 1:
            arrayfile.load(ArrayRef(ref.path, ref.key or next(iter(found)), sha256=ref.sha256), (1, 2))
    except ArrayFileError as exc:
        raise UsageError(f"advise: --inputs: {exc}") from None
    return ref


def inputs_for(target: Target, inputs: ArrayRef | None) -> ArrayRef | None:
    """The recorded activations of one matrix: the array named, the file's only array, or the array
    named like the matrix; None when there is none of k values a vector (then they are generated)."""
    if inputs is None:
        return None
    found = arrayfile.contents(inputs.path)
    key = inputs.key or (next(iter(found)) if len(found) == 1 else target.name)
    if key not in found or found[key].shape[-1] != target.shape[1] or len(found[key].shape) > 2:
        return None
    return ArrayRef(inputs.path, key, sha256=inputs.sha256, given=inputs.given)


def activations(inputs: ArrayRef | None, k: int, asked: bool = False, seed: int = 0) -> Activations:
    """The recorded activations (`inputs_for` chose them), else generated ones (`asked`: --inputs was given)."""
    if inputs is not None:
        array = arrayfile.load(inputs, (1, 2))
        rows = array.reshape(-1, array.shape[-1])
        chosen = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), MAX_VECTORS)).round().astype(int))
        used = f"{len(chosen)} of {len(rows)} vectors" if len(chosen) < len(rows) else f"{len(rows)} vectors"
        return Activations(rows[chosen], f"{inputs.source}, {used}", True)
    why = "record some and pass --inputs FILE[:KEY]" if not asked else \
        f"--inputs holds no array of {k} values a vector for this matrix"
    x = generate_activations(np.random.default_rng(seed), (GENERATED_VECTORS, k))
    return Activations(x.astype(np.float32).astype(np.float64),
                       f"generated: {GENERATED_VECTORS} vectors uniform in [-1, 1), not your model's ({why})", False)
