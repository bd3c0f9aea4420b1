"""The method contract: a way to compute an op (a conv1d lowering, an IIR form) on a backend's
machinery, registered for the backends it runs on.

A backend lists the variants of its own ops; a method adds variants to the backends it names,
for its one op, so no backend splices another op's implementations into its list and nothing
switches on a backend's name. Methods are found through the `gemmbench.methods` entry-point
group (gemmbench.registry), the group built-in and third-party methods both use, and a
backend receives every method registered for its name in the same way, built-in or not.

    class EinsumConv(Method):
        op = "conv1d"
        backends = frozenset({"numpy", "fastgemv"})   # the backends whose rows it gets

        def variants(self):
            return [Variant("einsum", detail="np.einsum over (out, in, tap)")]
        def prepare(self, workload, variant):         # untimed, as a backend's prepare
            return EinsumPrepared(workload)           # a Prepared: run(x, out), ...

The harness gives each method variant its op (`Variant.ops`) and the method's registry name
(`Variant.method`); a row of it runs through `MethodBackend`: the base backend's availability
and CPU checks, the method's own checks, and the prepared object's calls.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Callable, ClassVar

from gemmbench.backend import Backend, Variant

if TYPE_CHECKING:
    import numpy as np

    from gemmbench.op import Case, Workload


class Prepared(ABC):
    """A method prepared for one workload: the measured call, and what the harness may ask of it.

    The optional hooks mirror the backend's (gemmbench.backend): a prepared method offers
    `run_native`, `parts` or `columns` by overriding them."""

    @abstractmethod
    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        """The measured call; no allocation in it unless the method's own figures say so."""

    def run_native(self, x: np.ndarray, out: np.ndarray, loops: int) -> int:
        """`loops` calls inside native code; elapsed ns."""
        raise NotImplementedError

    def bind(self, x: np.ndarray, out: np.ndarray) -> Prepared:
        """Tie the prepared state to the arrays every later call gets (see Backend.bind)."""
        return self

    def reset(self) -> None:
        """Back to the state prepare left (methods of ops whose calls carry state)."""

    def parts(self, x: np.ndarray) -> dict[str, tuple[Callable[[int], int], float]]:
        """name -> (timing loop, calls per measured call) of parts worth timing apart."""
        return {}

    def columns(self, case: Case) -> dict:
        """Op columns only the prepared method knows (its workspace, its own FLOP count)."""
        return {}

    def describe(self) -> str:
        """What ran, beyond the variant's detail (library versions, the chosen blocking)."""
        return ""

    @classmethod
    def overrides(cls, hook: str) -> bool:
        """Whether this kind of prepared method offers the optional `hook` (run_native, parts, columns)."""
        return getattr(cls, hook) is not getattr(Prepared, hook)


class Method(ABC):
    """Base class of every method. Class attributes say what it computes and where it runs."""

    name: ClassVar[str] = ""  # its registry name (set from the entry point when empty)
    op: ClassVar[str] = ""  # the one op it computes
    backends: ClassVar[frozenset[str]] = frozenset()  # the backends it runs on: their rows get its variants
    dtypes: ClassVar[frozenset[str]] = frozenset({"float32", "float64"})  # narrowed further by the backend's

    @abstractmethod
    def variants(self) -> list[Variant]:
        """Its variants, each a row on the op's cases (the harness sets `ops` and `method`)."""

    def available(self, variant: Variant) -> tuple[bool, str]:
        """What the variant needs beyond its backend and CPU flags (a library). Never raises."""
        return True, ""

    def skip_reason(self, case: Case, variant: Variant) -> str:
        """Why the variant does not apply to the case ('' when it does)."""
        return ""

    @abstractmethod
    def prepare(self, workload: Workload, variant: Variant) -> Prepared:
        """Everything per case that is not the measured call; timed apart (prepare_ns)."""


class BrokenMethod(Method):
    """Stands in for a method whose plugin could not be loaded: it runs nowhere; `gemmbench list` says why."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason

    def variants(self) -> list[Variant]:
        return []

    def prepare(self, workload: Workload, variant: Variant) -> Prepared:
        raise RuntimeError(self.reason)


class MethodBackend(Backend):
    """The backend a method variant's row runs on: `base` for availability and CPU checks, `method`
    for the rest, so the base backend's own hot path carries no test of the op."""

    def __init__(self, base: Backend, method: Method):
        self.base, self.method = base, method
        self.name = base.name
        self.ops = frozenset({method.op})
        self.dtypes = method.dtypes & base.dtypes
        self.install_hint = base.install_hint
        self.prepared_type: type | None = None  # what prepare made last: its hooks are the capabilities

    def available(self) -> tuple[bool, str]:
        return self.base.available()

    def variants(self) -> list[Variant]:
        return self.method.variants()

    def variant_available(self, variant: Variant, cpu_flags: frozenset[str]) -> tuple[bool, str]:
        ok, reason = self.base.variant_available(variant, cpu_flags)
        return self.method.available(variant) if ok else (ok, reason)

    def skip_reason(self, case: Case, variant: Variant) -> str:
        if case.op != self.method.op:
            return f"{self.method.name} runs op {self.method.op} only"
        if case.dtype not in self.dtypes:
            return f"{self.name}'s {case.op} methods take {', '.join(sorted(self.dtypes))}; this case is {case.dtype}"
        return self.method.skip_reason(case, variant)

    def prepare(self, workload: Workload, variant: Variant) -> Prepared:
        prepared = self.method.prepare(workload, variant)
        self.prepared_type = type(prepared)
        return prepared

    def bind(self, prepared: Prepared, x: np.ndarray, out: np.ndarray) -> Prepared:
        return prepared.bind(x, out)

    def run(self, prepared: Prepared, x: np.ndarray, out: np.ndarray) -> None:
        prepared.run(x, out)

    def run_native(self, prepared: Prepared, x: np.ndarray, out: np.ndarray, loops: int) -> int:
        return prepared.run_native(x, out, loops)

    def parts(self, prepared: Prepared, x: np.ndarray) -> dict[str, tuple[Callable[[int], int], float]]:
        return prepared.parts(x)

    def reset(self, prepared: Prepared) -> None:
        prepared.reset()

    def facts(self, prepared: Prepared, case: Case) -> dict:
        return prepared.columns(case)

    def describe(self, prepared: Prepared, variant: Variant) -> str:
        return "; ".join(part for part in (variant.detail, prepared.describe()) if part)

    _HOOKS = {"run_native": "run_native", "parts": "parts", "facts": "columns"}

    def offers(self, capability: str) -> bool:
        """The prepared method's hooks: one MethodBackend serves one row, and what its method offers
        (a native loop, parts) is known once prepared."""
        hook = self._HOOKS.get(capability)
        if hook is None:
            return super().offers(capability)
        return self.prepared_type is not None and self.prepared_type.overrides(hook)
