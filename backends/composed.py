"""A matrix backend's implementations of an op that is not a matrix product (conv1d, iir_bank).

The op's `compose` wraps the backend in a subclass of ComposedBackend for its cases, so the matrix
hot paths carry no per-call test of the op: the base backend lists those implementations among its
variants (with their op), the subclass prepares and runs them."""

from __future__ import annotations

from typing import Any

from gemmbench.backend import Backend, Variant

FLOAT32_ONLY = frozenset({"csimd", "torch"})  # their implementations of these ops are float32 kernels


class ComposedBackend(Backend):
    implementations = ""  # what the subclass's variants are, in messages: "convolution methods"
    takers = ""  # the same as the subject of "take float32": "convolution methods", "filter banks"

    def __init__(self, base: Backend):
        self.base = base
        self.name = base.name
        self.dtypes = frozenset({"float32"}) if base.name in FLOAT32_ONLY else base.dtypes
        self.install_hint = base.install_hint
        self.native = False  # whether the implementation prepared last loops natively (set by prepare)

    def available(self) -> tuple[bool, str]:
        return self.base.available()

    def skip_reason(self, case: Any, variant: Variant) -> str:
        """The checks every composed op makes, then the subclass's own (`implementation_skip_reason`)."""
        if case.op not in self.ops:
            return f"{self.name}'s {self.implementations} run op {', '.join(sorted(self.ops))} only"
        if case.dtype not in self.dtypes:
            return f"{self.name}'s {self.takers} take {', '.join(sorted(self.dtypes))}; this case is {case.dtype}"
        if variant.name not in {v.name for v in self.variants()}:
            names = ", ".join(v.name for v in self.variants())
            return f"{variant.name} is not one of {self.name}'s {self.implementations} ({names})"
        return self.implementation_skip_reason(case, variant)

    def implementation_skip_reason(self, case: Any, variant: Variant) -> str:
        return ""

    def offers(self, capability: str) -> bool:
        """run_native only for the implementations that loop natively: one composed backend serves one
        item (variant), and whether its implementation has a native loop is known once prepared."""
        if capability == "run_native":
            return self.native
        return super().offers(capability)
