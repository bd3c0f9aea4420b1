"""The backend contract: a small class described by class attributes, doing its work in methods.

    class MyBackend(Backend):
        name = "mine"
        ops = frozenset({"gemv", "gemm"})

        def prepare(self, workload, variant):   # untimed: packing, conversion, quantization
            return workload.weights
        def run(self, prepared, x, out):         # the measured call; no allocation in it
            np.matmul(prepared, x, out=out)

`prepare` and `run` are required; a class without them fails to load and its rows say so.
`caller(prepared, x, out)` gives the measured Python call as a callable of no arguments
(default: `run` with those arrays); a backend may return one that skips its own Python frame,
e.g. a `functools.partial` of the library function, since a Python loop calling it with the
same arrays would pay no more. Verification and timing both go through it.
The optional capabilities are methods of this base class that a backend overrides:

- `build()`: compile or fetch what it needs, ahead of any row (`gemmbench build`, and a
  run before its first row), never counted in prepare_ns;
- `run_native(prepared, x, out, loops) -> ns`: the call looped inside native code, so
  sub-microsecond kernels are timed without Python's call overhead (a `timing.Clocks`, an int,
  where the native code also read the thread's CPU time and context switches around its loop);
- `parts(prepared, x)`: timing loops of a composite op's parts (a vocoder step's products);
- `reset(prepared)`: restore the state `prepare` left, for ops that keep state between calls;
- `facts(prepared, case)`: op columns only the prepared backend knows (a method's workspace bytes);
- `call_floor()`: a timing loop of the least a call from Python into its native code costs (a bare
  call of a C no-op through the same call path), recorded beside its rows as `call_floor_ns`.

`offers("run_native")` tells whether a backend overrides one of them.

`role` says whose a backend is: "ours" (the default) or "peer", a production runtime a user could
ship instead (LiteRT, ONNX Runtime, OpenVINO, torch), measured through the zero-copy call a
deployment would make and shown with its own call floor; ROLES lists the two.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from gemmbench.machine import isa

if TYPE_CHECKING:
    import numpy as np

    from gemmbench.op import Case, Workload

OPTIONAL = ("build", "run_native", "parts", "reset", "facts", "call_floor")
ROLES = ("ours", "peer")


@dataclass(frozen=True)
class Variant:
    """One kernel variant; each becomes its own result row."""

    name: str
    precision: str | None = None  # arithmetic judged by the correctness gate when not the case dtype: int8, bf16
    requires: tuple[str, ...] = ()  # CPU flags (as /proc/cpuinfo names them) it needs
    isa: str = ""  # ISA level its code targets (a name from gemmbench.machine.isa.LEVELS): --isa selects on it
    detail: str = ""  # what to record about it: compiler flags, scheme, library
    ops: frozenset[str] | None = None  # the ops it runs (None: every op of its backend); others get no row
    reference_only: bool = False  # a bit-exact reference of a scheme, not a contender: folded away in summaries
    method: str = ""  # the registered method (gemmbench.method) that runs it, set by the registry; '' if the backend


class Backend(ABC):
    name: ClassVar[str] = ""
    ops: ClassVar[frozenset[str]] = frozenset({"gemv", "gemm"})
    dtypes: ClassVar[frozenset[str]] = frozenset({"float32", "float64"})
    sparse_only: ClassVar[bool] = False  # a sparse format: dense cases are skipped
    install_hint: ClassVar[str] = ""  # shown with every 'unavailable' reason, e.g. "pip install 'gemmbench[torch]'"
    # "ours" (gemmbench's own kernels and baselines) or "peer" (a production runtime users could ship
    # instead: LiteRT, ONNX Runtime, OpenVINO, torch): recorded on every row it runs (the results' `role`),
    # and the decision holds our best against the best peer.
    role: ClassVar[str] = "ours"
    # Each variant sees the case's arrays (weights, reference, ...) read-only; a backend that must write
    # into them gets a copy of its own per variant instead (gemmbench/measure/isolation.py).
    writable_workload: ClassVar[bool] = False

    def available(self) -> tuple[bool, str]:
        """(usable, reason when not). Never raises."""
        return True, ""

    def variants(self) -> list[Variant]:
        return [Variant("default")]

    def variant_available(self, variant: Variant, cpu_flags: frozenset[str]) -> tuple[bool, str]:
        missing = [flag for flag in variant.requires if flag not in cpu_flags]
        if missing:
            return False, f"CPU lacks {', '.join(missing)}"
        return True, ""

    def skip_reason(self, case: Case, variant: Variant) -> str:
        """Why this backend does not apply to the case ('' when it does)."""
        if case.op not in self.ops:
            return f"{self.name} does not implement op '{case.op}' (it has: {', '.join(sorted(self.ops))})"
        if case.dtype not in self.dtypes:
            return f"{self.name} does not take dtype {case.dtype} (it takes: {', '.join(sorted(self.dtypes))})"
        if self.sparse_only and getattr(case.spec, "sparsity", None) is None:
            return f"{self.name} is a sparse format; this case is dense"
        return ""

    @abstractmethod
    def prepare(self, workload: Workload, variant: Variant) -> Any:
        """Everything per case that is not the measured call; timed apart (prepare_ns)."""

    @abstractmethod
    def run(self, prepared: Any, x: np.ndarray, out: np.ndarray) -> None:
        """The measured call; no allocation in it."""

    def bind(self, prepared: Any, x: np.ndarray, out: np.ndarray) -> Any:
        """Optional: tie the prepared state to the very arrays every later `run` gets.

        Called once, after `prepare` and inside its timing, with the input and output arrays
        the harness then passes to every `run` and `run_native`; views, wrapper tensors or
        bound calls made here are not rebuilt in the measured call.
        """
        return prepared

    def caller(self, prepared: Any, x: np.ndarray, out: np.ndarray) -> Callable[[], None]:
        """The measured Python call on x into out, as a callable of no arguments (made once, untimed)."""
        return functools.partial(self.run, prepared, x, out)

    def describe(self, prepared: Any, variant: Variant) -> str:
        """What actually ran, recorded on the row (library, ISA, flags, scheme)."""
        return variant.detail

    # ---- optional capabilities (see the module docstring)

    def build(self, ops: frozenset[str] = frozenset()) -> str:
        """Compile or fetch ahead of any row what runs of `ops` need; returns what was done ('' when nothing)."""
        return ""

    def run_native(self, prepared: Any, x: np.ndarray, out: np.ndarray, loops: int) -> int:
        """Run the call `loops` times inside native code; elapsed ns."""
        raise NotImplementedError

    def parts(self, prepared: Any, x: np.ndarray) -> dict[str, tuple[Callable[[int], int], float]]:
        """name -> (timing loop, calls per measured call) for each part of a composite op."""
        raise NotImplementedError

    def reset(self, prepared: Any) -> None:
        """Restore the state `prepare` left (ops whose calls carry state)."""

    def facts(self, prepared: Any, case: Case) -> dict:
        """Columns of the case's op that only the prepared backend knows (workspace, copies, method)."""
        return {}

    def call_floor(self) -> Callable[[int], int]:
        """A loop(n) -> ns of n bare calls into the backend's native code, made the way `run` makes its call."""
        raise NotImplementedError

    def runs(self, variant: Variant, op: str, composed_from: frozenset[str] = frozenset()) -> bool:
        """Whether `variant` gets a row on `op`: the ops it names, else every op of the backend and every
        op composed from them (lpcnet_step from gemv). An op built from variants of its own (conv1d's
        methods) gets rows from those variants only."""
        if variant.ops is not None:
            return op in variant.ops
        return op in self.ops or bool(composed_from & self.ops)

    def offers(self, capability: str) -> bool:
        """Whether this backend overrides the optional `capability` (one of OPTIONAL)."""
        if capability not in OPTIONAL:
            raise ValueError(f"unknown capability {capability!r}; known: {', '.join(OPTIONAL)}")
        return getattr(type(self), capability) is not getattr(Backend, capability)


def select_isa(variants: list[Variant], spec: str | None) -> list[Variant]:
    """Variants allowed by an ISA spec; variants not tied to an ISA level always stay."""
    if not spec:
        return variants
    levels = isa.parse_spec(spec)
    return [v for v in variants if not v.isa or v.isa in levels]
