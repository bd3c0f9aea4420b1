"""conv1d on a backend's convolution methods: the backend `Conv1d.compose` returns.

The matrix backends keep their hot paths as they are (no per-call test of the op): the ones
that offer convolution methods list them among their variants (ops = {"conv1d"}), and the op
wraps the backend in this class for its cases, as lpcnet_step wraps a GEMV backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from gemmbench.backend import Variant
from gemmbench.backends.composed import ComposedBackend
from gemmbench.backends.conv1d import variants as table
from gemmbench.backends.conv1d.method import Method
from gemmbench.ops.conv1d import facts_columns


class ConvBackend(ComposedBackend):
    ops = frozenset({"conv1d"})
    implementations = "convolution methods"
    takers = "convolution methods"

    def variants(self) -> list[Variant]:
        return table.variants(self.name)

    def variant_available(self, variant: Variant, cpu_flags: frozenset[str]) -> tuple[bool, str]:
        return self.base.variant_available(variant, cpu_flags)

    def implementation_skip_reason(self, case: Any, variant: Variant) -> str:
        return table.skip_reason(table.entry(self.name, variant.name), case.spec)

    def prepare(self, workload: Any, variant: Variant) -> Method:
        method = table.build(table.entry(self.name, variant.name), workload)
        self.native = method.has_native
        return method

    def run(self, prepared: Method, x: np.ndarray, out: np.ndarray) -> None:
        prepared.run(x, out)

    def run_native(self, prepared: Method, x: np.ndarray, out: np.ndarray, loops: int) -> int:
        return prepared.time(x, out, loops)

    def reset(self, prepared: Method) -> None:
        prepared.reset()

    def facts(self, prepared: Method, case: Any) -> dict:
        """The op's method columns for the row (workspace, copies, the method's own flops)."""
        return facts_columns(prepared.facts, case.spec)

    def describe(self, prepared: Method, variant: Variant) -> str:
        return "; ".join(part for part in (variant.detail, prepared.describe()) if part)
