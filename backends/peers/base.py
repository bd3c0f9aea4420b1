"""What the three peer backends share: the role, the install line, availability without importing
the runtime, the bound call, the thread count, and the call floor through the rows' own path.

A peer's `prepare` returns the library's compiled model (whatever it is), and its `bind_call`
makes the measured call for one input and output array pair: `bind` wraps that in a `Bound`,
`caller` hands the harness its call, so the timed loop runs the library's call and nothing of ours.
Where a library's public Python method only repacks its arguments on every call before calling its
native half (a list of capsules, a dict of results), the call is that native half on arguments
packed once, as numpy's is `np.matmul` itself: what a Python loop holding those arguments would pay.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from gemmbench.backend import Backend, Variant
from gemmbench.cases.workload import aligned_empty, make_workload
from gemmbench.formats.quant import QuantizedWeights, get_scheme, quantize_weights
from gemmbench.measure.timing import Loop, python_loop
from gemmbench.op import Case
from gemmbench.ops.matrix import MatrixSpec

INSTALL_HINT = "pip install 'gemmbench[peers]'"
INT8_WEIGHTS = "w127-row-s8dyn"  # symmetric int8 per output row (per channel), as LPCNet's weights
FLOOR_CASE = Case("call_floor", "gemv", MatrixSpec(1, 1), "float32")


@dataclass(frozen=True, eq=False)
class BoundCall:
    """The measured call on one pair of arrays: reads x, writes out."""

    call: Callable[[], object]
    note: str = ""  # which entry point, and what the call does besides the library's (a staging copy): for the detail
    keep: tuple = ()  # objects the call needs alive (the wrappers whose native halves it calls)


@dataclass(frozen=True, eq=False)
class Bound:
    """A prepared model tied to the arrays every later call reads and writes."""

    model: Any  # what `prepare` returned: rebound as it is for another pair of arrays
    x: np.ndarray
    out: np.ndarray
    bound: BoundCall

    @property
    def call(self) -> Callable[[], object]:
        return self.bound.call


def threads() -> int:
    """The row's thread count: the worker sets OMP_NUM_THREADS for each measurement group."""
    wanted = os.environ.get("OMP_NUM_THREADS", "")
    return int(wanted) if wanted.isdigit() and int(wanted) > 0 else 1


def int8_rows(weights: np.ndarray) -> QuantizedWeights:
    """W as int8 with one scale per output row, symmetric in [-127, 127] (gemmbench's own w127 rows)."""
    return quantize_weights(weights, get_scheme(INT8_WEIGHTS))


def transposes_note(n: int) -> str:
    """How a peer whose product takes the activations first (x^T W^T) meets the harness's k x n input."""
    return "" if n == 1 else "; transposes X in and the result out (the harness's k x n layout)"


class PeerBackend(Backend):
    role = "peer"
    ops = frozenset({"gemv", "gemm"})
    dtypes = frozenset({"float32"})
    install_hint = INSTALL_HINT
    modules: ClassVar[tuple[str, ...]] = ()  # the import names the runtime needs, checked without importing them

    def __init__(self) -> None:
        self._floor: Loop | None = None

    def available(self) -> tuple[bool, str]:
        # find_spec rather than import: `gemmbench list` asks every backend, and these imports take
        # a second together. A package found but broken gives error rows carrying its ImportError.
        missing = [name for name in self.modules if importlib.util.find_spec(name) is None]
        if missing:
            return False, f"{', '.join(missing)} not installed ({INSTALL_HINT})"
        return True, ""

    def bind_call(self, model: Any, x: np.ndarray, out: np.ndarray) -> BoundCall:
        """The measured call of `model` on x into out."""
        raise NotImplementedError

    def bind(self, prepared: Any, x: np.ndarray, out: np.ndarray) -> Bound:
        model = prepared.model if isinstance(prepared, Bound) else prepared
        return Bound(model, x, out, self.bind_call(model, x, out))

    def caller(self, prepared: Bound, x: np.ndarray, out: np.ndarray) -> Callable[[], object]:
        if x is prepared.x and out is prepared.out:
            return prepared.call
        return self.bind(prepared, x, out).call

    def run(self, prepared: Bound, x: np.ndarray, out: np.ndarray) -> None:
        self.caller(prepared, x, out)()

    def call_floor(self) -> Loop:
        """The first variant's call of a 1 x 1 product, bound like a row's to 64-byte aligned arrays:
        the least a call through this library's measured path costs."""
        if self._floor is None:
            workload = make_workload(FLOOR_CASE)
            x, out = aligned_empty(1, np.float32), aligned_empty(1, np.float32)
            x[:], out[:] = workload.x, 0
            variant = self.variants()[0]
            bound = self.bind(self.prepare(workload, variant), x, out)
            self._floor = python_loop(self.caller(bound, x, out))
        return self._floor

    def describe(self, prepared: Bound, variant: Variant) -> str:
        return f"{self.describe_model(prepared.model, variant)}{prepared.bound.note}"

    def describe_model(self, model: Any, variant: Variant) -> str:
        return variant.detail
