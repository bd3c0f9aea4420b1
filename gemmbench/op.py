"""The op contract: what is computed, described by a small class the way a backend is.

An op (gemv, gemm, lpcnet_step, iir_bank, conv1d, or a plugin's) owns everything about
its problem that the harness must not guess:

- its case fields (`fields`, parsed by `spec()` into a frozen dataclass, the case's `spec`);
- its data and float64 reference (`make`), and how much memory they take (`memory_bytes`);
- its work: FLOPs (dense-equivalent and useful) and bytes (`counts`);
- its result columns (`columns`: name, type, doc), filled before measuring (`case_columns`)
  and from the measured figures (`derive`);
- how a backend's output is judged (`verify`), also after repeated calls for ops that keep
  state between calls (a filter bank, a streaming convolution);
- its roofline figures (`roof`) and the plot kinds that show its columns (`plots`);
- optionally, how to run it on a backend that lacks it (`compose`: lpcnet_step from GEMVs).

Ops are found through the `gemmbench.ops` entry-point group (see gemmbench.registry), so a
third-party package adds one exactly as it adds a backend.

    class Saxpy(Op):
        name = "saxpy"
        fields = {"n": "vector length"}

        def spec(self, read):                    # read: a FieldReader; problems are collected
            return SaxpySpec(read.positive_int("n"))
        def make(self, case):
            ...                                  # Workload(case, x, reference)
        def counts(self, case):
            return Counts(flops=2 * case.spec.n, bytes=12 * case.spec.n)
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar

if TYPE_CHECKING:
    import numpy as np

    from gemmbench.backend import Backend
    from gemmbench.cases.fields import FieldReader
    from gemmbench.measure.verify import Verdict

COLUMN_TYPES = ("string", "int64", "float64", "bool", "list<float64>", "list<int64>")


@dataclass(frozen=True)
class Column:
    """A result column an op adds to its rows."""

    name: str
    type: str  # one of COLUMN_TYPES
    doc: str


@dataclass(frozen=True)
class PlotKind:
    """A plot an op adds to the report (and `gemmbench plot --kind`), drawn from its columns."""

    name: str
    title: str
    description: str
    target: str  # 'module:function' drawing it: (gemmbench.report.data.ReportData) -> Figure or [Figure, ...]
    on_demand: str = ""  # how to ask for it when the report leaves it out by default ('' : always drawn)

    def draw(self, data) -> list:
        """The kind's pages (most kinds have one), from a gemmbench.report.data.ReportData."""
        import importlib

        module, _, function = self.target.partition(":")
        drawn = getattr(importlib.import_module(module), function)(data)
        return list(drawn) if isinstance(drawn, (list, tuple)) else [drawn]


@dataclass(frozen=True)
class Counts:
    """The work of one measured call, as the op counts it."""

    flops: int  # dense-equivalent floating-point (or integer) operations
    bytes: int  # bytes a call must at least read and write
    useful_flops: int | None = None  # operations that change the result (sparse, fast algorithms); default flops

    @property
    def useful(self) -> int:
        return self.flops if self.useful_flops is None else self.useful_flops


@dataclass(frozen=True)
class Case:
    """One measured problem: pure description, hashable, cheap; `make_workload` makes it concrete."""

    name: str
    op: str
    spec: Any  # the op's frozen dataclass of parsed case fields
    dtype: str = "float32"
    seed: int = 0


@dataclass(frozen=True, eq=False)
class Workload:
    """A case made concrete: the input every measured call gets, and the float64 answer.

    Ops subclass it with what their backends need (weights, masks, coefficients)."""

    case: Case
    x: "np.ndarray"
    reference: "np.ndarray"  # float64, computed from exactly the values the backend gets

    def new_output(self) -> "np.ndarray":
        """A zeroed output on a 64-byte boundary, as the inputs are: a library that wants aligned buffers
        (XNNPACK) would otherwise stage it through a copy, or not, as malloc happened to place it."""
        from gemmbench.cases.workload import aligned_empty

        out = aligned_empty(self.reference.shape, self.case.dtype)
        out.fill(0)
        return out

    def input_set(self) -> "tuple[Workload, ...]":
        """The inputs the measured call cycles through, each a workload of its own (x and reference).

        This one alone by default; a matrix case with recorded inputs returns each of them."""
        return (self,)


@dataclass
class Calls:
    """What `Op.verify` may do with a prepared backend: call it, reset it, read its output."""

    out: "np.ndarray"
    run: Callable[[], None]  # one Python-level call, the one timed: backend.caller(prepared, x, out)
    run_native: Callable[[], None] | None  # one call through the backend's native loop, where it has one
    reset: Callable[[], None]  # back to the state prepare left (backend.reset)


class Op(ABC):
    """Base class of every op. Class attributes describe it; methods do the work."""

    name: ClassVar[str] = ""
    doc: ClassVar[str] = ""  # one line for `gemmbench list` and the docs
    fields: ClassVar[dict[str, str]] = {}  # case field -> what it means (dtype, seed, timing are the harness's)
    list_fields: ClassVar[frozenset[str]] = frozenset()  # fields whose list value is one value, not a grid
    columns: ClassVar[tuple[Column, ...]] = ()
    plots: ClassVar[tuple[PlotKind, ...]] = ()
    size_fields: ClassVar[tuple[str, ...]] = ()  # the fields memory_bytes grows with, named when a case is too big
    composed_from: ClassVar[frozenset[str]] = frozenset()  # ops `compose` builds this one from (lpcnet_step: gemv)
    dtypes: ClassVar[tuple[str, ...]] = ("float32", "float64")

    # ---- the case

    @abstractmethod
    def spec(self, read: "FieldReader") -> Any:
        """The frozen spec from a case's fields; report bad ones through `read` (one line each)."""

    def validate(self, spec: Any, dtype: str) -> list[tuple[str, str]]:
        """(field, problem) pairs the fields pass one by one but not together."""
        return []

    def memory_bytes(self, spec: Any, dtype: str) -> int:
        """Peak bytes data, reference and one backend's copy need (cases that would not fit are refused)."""
        return 0

    def label(self, case: Case) -> str:
        """The problem's size in a few characters, for tables ('1152x384', 'B32 F128 T16000')."""
        return ""

    def files(self, spec: Any) -> tuple:
        """The files the case's data is read from (gemmbench.cases.arrayfile.ArrayRef, each with the SHA-256 it had
        when the suite was read): a resumed run refuses to go on when one has changed."""
        return ()

    def spec_to_dict(self, spec: Any) -> dict:
        return dataclasses.asdict(spec)

    def spec_from_dict(self, data: dict) -> Any:
        return self.spec_type(**data)

    spec_type: ClassVar[type] = object  # the spec's dataclass, for the default spec_from_dict

    # ---- data and work

    @abstractmethod
    def make(self, case: Case) -> Workload:
        """Deterministic data from case.seed, and the float64 reference of what the backend is given."""

    @abstractmethod
    def counts(self, case: Case) -> Counts:
        ...

    def case_columns(self, case: Case) -> dict:
        """The op's columns known before anything runs (shape, density, ...)."""
        return {}

    def derive(self, case: Case, row: dict, parts: dict[str, float] | None) -> dict:
        """The op's columns computed from a measured row (real-time factor, part shares, ...)."""
        return {}

    def roof(self, case: Case, row: dict, roof: Any) -> dict:
        """roof_gflops / roof_pct / roof_level for a measured row against the machine's roofline, or {}."""
        return {}

    # ---- judging a backend

    def tolerance(self, case: Case, precision: str) -> float:
        from gemmbench.measure.verify import TOLERANCE

        return TOLERANCE[precision]

    def verify(self, workload: Workload, calls: Calls, precision: str, native: bool = False) -> "Verdict":
        """One call (reset first, for stateful ops) against the reference.

        Stateful ops override this to also check that a second call continues the first."""
        from gemmbench.measure.verify import check

        calls.reset()
        calls.out.fill(math.nan)
        (calls.run_native if native and calls.run_native else calls.run)()
        return check(calls.out, workload.reference, precision, self.tolerance(workload.case, precision))

    def compose(self, backend: "Backend") -> "Backend | None":
        """A backend that runs this op on `backend`'s primitives, or None (then the rows are skipped)."""
        return None


class BrokenOp(Op):
    """Stands in for an op whose plugin could not be loaded: a suite naming it gets the reason."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason

    def spec(self, read: "FieldReader") -> Any:
        from gemmbench.errors import UsageError

        raise UsageError(self.reason)

    def make(self, case: Case) -> Workload:
        raise RuntimeError(self.reason)

    def counts(self, case: Case) -> Counts:
        raise RuntimeError(self.reason)
