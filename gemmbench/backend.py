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
from typing import Any, ClassVar

import numpy as np

from gemmbench.workload import Case, Workload


@dataclass(frozen=True)
class Variant:
    """One kernel variant; each becomes its own result row."""

    name: str
    precision: str | None = None  # arithmetic when it is not the case dtype, e.g. "int8"
    requires: tuple[str, ...] = ()  # CPU flags (as /proc/cpuinfo names them) it needs
    detail: str = ""  # what to record about it: compiler flags, scheme, library


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

    def select_variants(self, variants: list[Variant], options: dict) -> list[Variant]:
        """The variants to run given command-line options (e.g. an ISA cap); all by default."""
        return variants

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

    def describe(self, prepared: Any, variant: Variant) -> str:
        """What actually ran, recorded on the row (library, ISA, flags, scheme)."""
        return variant.detail
