"""The backend contract: a small class described by class attributes, doing its work in methods.

    class MyBackend(Backend):
        name = "mine"
        ops = frozenset({"gemv", "gemm"})

        def prepare(self, workload, variant):   # untimed: packing, conversion, quantization
            return workload.weights
        def run(self, prepared, x, out):         # the measured call; no allocation in it
            np.matmul(prepared, x, out=out)

Optionally `run_native(prepared, x, out, loops) -> ns` loops inside native code, so
sub-microsecond kernels are timed without Python's call overhead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from gemmbench import isa

if TYPE_CHECKING:  # workload registers composite ops that build on Backend: no import cycle
    import numpy as np

    from gemmbench.workload import Case, Workload

@dataclass(frozen=True)
class Variant:
    """One kernel variant; each becomes its own result row."""

    name: str
    precision: str | None = None  # arithmetic when it is not the case dtype, e.g. "int8"
    requires: tuple[str, ...] = ()  # CPU flags (as /proc/cpuinfo names them) it needs
    isa: str = ""  # ISA level its code targets (a name from gemmbench.isa.LEVELS), '' when not one
    detail: str = ""  # what to record about it: compiler flags, scheme, library
    ops: frozenset[str] | None = None  # the ops it runs (None: every op of its backend); others get no row


class Backend:
    name: ClassVar[str] = ""
    ops: ClassVar[frozenset[str]] = frozenset({"gemv", "gemm"})
    dtypes: ClassVar[frozenset[str]] = frozenset({"float32", "float64"})
    sparse_only: ClassVar[bool] = False  # a sparse format: dense cases are skipped
    install_hint: ClassVar[str] = ""

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
        if self.sparse_only and case.sparsity is None:
            return f"{self.name} is a sparse format; this case is dense"
        return ""

    def prepare(self, workload: Workload, variant: Variant) -> Any:
        raise NotImplementedError

    def run(self, prepared: Any, x: np.ndarray, out: np.ndarray) -> None:
        raise NotImplementedError

    run_native = None  # optional: (prepared, x, out, loops) -> elapsed ns measured in native code

    def bind(self, prepared: Any, x: np.ndarray, out: np.ndarray) -> Any:
        """Optional: tie the prepared state to the very arrays every later `run` gets.

        Called once, after `prepare` and inside its timing, with the input and output arrays
        the harness then passes to every `run` and `run_native`; views, wrapper tensors or
        bound calls made here are not rebuilt in the measured call.
        """
        return prepared

    def describe(self, prepared: Any, variant: Variant) -> str:
        """What actually ran, recorded on the row (library, ISA, flags, scheme)."""
        return variant.detail


def select_isa(variants: list[Variant], spec: str | None) -> list[Variant]:
    """Variants allowed by an ISA spec; variants not tied to an ISA level always stay."""
    if not spec:
        return variants
    levels = isa.parse_spec(spec)
    return [v for v in variants if not v.isa or v.isa in levels]
