"""Cases made concrete and carried between processes: the op of a case, its data, its JSON form.

A `Case` (gemmbench.op) is pure description; `make_workload(case)` asks the case's op for
deterministic arrays and the float64 reference. Cases travel to worker processes and into
results files as JSON (`case_to_dict`), their spec in the op's own form.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gemmbench import registry
from gemmbench.measure import pages
from gemmbench.op import Case, Counts, Op, Workload

DTYPES = ("float32", "float64")


def op_of(case: Case) -> Op:
    return registry.ops.get(case.op)


def make_workload(case: Case) -> Workload:
    return op_of(case).make(case)


def counts(case: Case) -> Counts:
    return op_of(case).counts(case)


def case_to_dict(case: Case) -> dict:
    """A JSON-ready description of a case (for the worker pipe, the results and --resume)."""
    return {"name": case.name, "op": case.op, "dtype": case.dtype, "seed": case.seed,
            "spec": op_of(case).spec_to_dict(case.spec)}


def case_from_dict(data: dict) -> Case:
    op = registry.ops.get(data["op"])
    return Case(data["name"], data["op"], op.spec_from_dict(_freeze_dict(data["spec"])), data["dtype"], data["seed"])


def _freeze_dict(data: dict) -> dict:
    """JSON lists back to tuples, so specs stay hashable."""
    return {key: _freeze(value) for key, value in data.items()}


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    return value


def aligned_empty(shape: int | tuple[int, ...], dtype: str | np.dtype | type,
                  alignment: int = 64) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on an `alignment`-byte boundary;
    a large one (gemmbench.measure.pages.HUGE_MIN) on the pages the worker runs (2 MiB by default, so its
    cache placement is the same in every run)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    dtype = np.dtype(dtype)
    count = int(np.prod(shape)) if shape else 1
    if count * dtype.itemsize >= pages.HUGE_MIN:
        return pages.large_bytes(count * dtype.itemsize, alignment).view(dtype).reshape(shape)
    raw = np.empty(count * dtype.itemsize + alignment, dtype=np.uint8)
    offset = (-raw.ctypes.data) % alignment
    return raw[offset:offset + count * dtype.itemsize].view(dtype).reshape(shape)


def aligned_copy(array: np.ndarray, dtype: str | np.dtype | type | None = None, alignment: int = 64) -> np.ndarray:
    """An aligned copy of `array`, converted to `dtype` when one is given."""
    out = aligned_empty(array.shape, array.dtype if dtype is None else dtype, alignment)
    out[...] = array
    return out

