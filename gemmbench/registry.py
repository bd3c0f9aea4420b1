"""Discovery of backends, ops and methods: names map to `module:Class` targets, imported on first use.

Built-in backends, ops and methods are declared in the entry-point groups `gemmbench.backends`,
`gemmbench.ops` and `gemmbench.methods`, the groups a third-party package uses, and entry points
are read lazily, on the first lookup. A backend's variants are its own and those of every method
registered for it (`variants_of`). `register()` adds more at run time; registering a taken name is refused
unless asked for. A backend whose import fails (or calls sys.exit) is not an error for anyone
else: it shows up as unavailable, with the import error (and its install hint) as the reason.

Loading a backend runs its code: `get` and `status` are for processes that may run plugin code
(a worker, gemmbench.measure.probe's child). The CLI process learns a backend's availability,
variants and build step from gemmbench.measure.probe, which asks a child process.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from typing import Callable, Generic, TypeVar

from gemmbench.backend import Backend, Variant
from gemmbench.errors import UsageError
from gemmbench.method import BrokenMethod, Method
from gemmbench.op import BrokenOp, Op

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> plugin classes of one kind, from an entry-point group and run-time registrations."""

    def __init__(self, group: str, kind: str, on_failure: Callable[[str, str, str], T]):
        self.group = group
        self.kind = kind  # 'backend', 'op': for messages
        self._on_failure = on_failure  # (name, target, reason) -> stand-in, or raises
        self._registered: dict[str, str | type] = {}
        self._instances: dict[str, T] = {}

    @functools.cached_property
    def _entry_points(self) -> dict[str, str]:
        return {ep.name: ep.value for ep in entry_points(group=self.group)}

    def refresh(self) -> None:
        """Forget what was discovered, so newly installed plugins are seen."""
        self.__dict__.pop("_entry_points", None)
        self._instances.clear()

    def names(self) -> list[str]:
        return sorted(set(self._entry_points) | set(self._registered))

    def target(self, name: str) -> str:
        target = self._registered.get(name) or self._entry_points.get(name, "")
        return target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"

    def registered_targets(self) -> dict[str, str]:
        """Run-time registrations as importable 'module:Class' paths, for worker processes."""
        return {name: self.target(name) for name in self._registered}

    def register(self, name: str, target: str | type, *, clobber: bool = False) -> None:
        """Add a plugin under `name`: a class or its 'module:Class' path."""
        if not clobber and name in self.names():
            raise ValueError(f"{self.kind} {name!r} is already registered; pass clobber=True to replace it")
        self._registered[name] = target
        self._instances.pop(name, None)

    def unregister(self, name: str) -> None:
        self._registered.pop(name, None)
        self._instances.pop(name, None)

    def get(self, name: str) -> T:
        if name not in self._instances:
            if name not in self.names():
                raise UsageError(f"unknown {self.kind} {name!r}; known {self.kind}s: {', '.join(self.names()) or 'none'}")
            self._instances[name] = self._load(name)
        return self._instances[name]

    def _load(self, name: str) -> T:
        target = self._registered.get(name) or self._entry_points[name]
        try:
            if isinstance(target, str):
                module_name, _, attr = target.partition(":")
                cls = getattr(importlib.import_module(module_name), attr)
            else:
                cls = target
            plugin = cls()
        except (Exception, SystemExit) as exc:  # a broken plugin must not break list or run
            return self._on_failure(name, self.target(name), f"{type(exc).__name__}: {exc}")
        if not plugin.name:
            plugin.name = name
        return plugin


class BrokenBackend(Backend):
    """Stands in for a backend whose module or class could not be loaded."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self._reason = reason

    def available(self) -> tuple[bool, str]:
        return False, self._reason

    def prepare(self, workload, variant):
        raise RuntimeError(self._reason)

    def run(self, prepared, x, out):
        raise RuntimeError(self._reason)


def _broken_backend(name: str, target: str, reason: str) -> Backend:
    hint = _install_hint(target)
    return BrokenBackend(name, f"failed to load {target!r}: {reason}" + (f" ({hint})" if hint else ""))


def _install_hint(target: str) -> str:
    """The install hint of the backend class, when its module imports but the class fails."""
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (Exception, SystemExit):
        return ""
    return getattr(cls, "install_hint", "")


def _broken_op(name: str, target: str, reason: str) -> Op:
    return BrokenOp(name, f"op {name!r} could not be loaded from {target!r}: {reason}")


def _broken_method(name: str, target: str, reason: str) -> Method:
    return BrokenMethod(name, f"method {name!r} could not be loaded from {target!r}: {reason}")


backends: Registry[Backend] = Registry("gemmbench.backends", "backend", _broken_backend)
ops: Registry[Op] = Registry("gemmbench.ops", "op", _broken_op)
methods: Registry[Method] = Registry("gemmbench.methods", "method", _broken_method)


def _methods_for(backend: str) -> list[Method]:
    """The methods registered for the backend named `backend`, in the order of their names."""
    return [method for method in map(methods.get, methods.names()) if backend in method.backends]


def variants_of(backend: Backend) -> list[Variant]:
    """Every variant `backend` offers: its own, then its methods' in the order of their names, each marked with
    its method and that method's op. A method's variant named like one offered before it is left out."""
    return _offered(backend)[0]


def method_problems(backend: Backend) -> list[str]:
    """Why methods registered for `backend` offer it fewer variants than they declare (one line each)."""
    return _offered(backend)[1]


def _offered(backend: Backend) -> tuple[list[Variant], list[str]]:
    offered, problems = list(backend.variants()), []
    taken = {variant.name for variant in offered}
    for method in _methods_for(backend.name):
        try:
            declared = method.variants()
        except Exception as exc:  # a broken method plugin costs its own variants only
            problems.append(f"method {method.name!r}: variants() raised {type(exc).__name__}: {exc}")
            continue
        for variant in declared:
            if variant.name in taken:
                problems.append(f"method {method.name!r}: {backend.name} already has a variant {variant.name!r}; "
                                f"the method's is left out")
                continue
            taken.add(variant.name)
            offered.append(replace(variant, ops=frozenset({method.op}), method=method.name))
    return offered, problems


def _broken_methods() -> list[BrokenMethod]:
    """Method plugins that failed to load, each with its reason."""
    return [method for method in map(methods.get, methods.names()) if isinstance(method, BrokenMethod)]


@dataclass(frozen=True)
class BackendStatus:
    name: str
    available: bool
    reason: str
    variants: tuple[str, ...]
    target: str
    lacking: tuple[str, ...] = ()  # variants needing a CPU flag this CPU (real or simulated) lacks
    reference_only: tuple[str, ...] = ()  # variants offered as a reference, never a choice
    builds: bool = False  # it has a build() step (gemmbench build)
    method_problems: tuple[str, ...] = ()  # method plugins that failed to load, or could not add a variant to it
    role: str = "ours"  # or "peer" (Backend.role)
    isas: tuple[str, ...] = ()  # each variant's ISA level ('' for none), in the order of `variants`
    plain_gemv: tuple[str, ...] = ()  # variants this CPU runs that do a GEMV in the case's own dtype


def inspect(backend: Backend) -> tuple[bool, str, list[Variant]]:
    """(available, reason, variants) of a loaded backend, its methods' variants included; what it raises
    (even SystemExit) is the reason."""
    try:
        ok, reason = backend.available()
        if not ok and backend.install_hint and backend.install_hint not in reason:
            reason = f"{reason} ({backend.install_hint})"
        return ok, reason, variants_of(backend)
    except (Exception, SystemExit) as exc:  # available() must not raise; if it does, say so
        return False, f"available() or variants() raised {type(exc).__name__}: {exc}", []


def status(name: str) -> BackendStatus:
    """The backend's status, learnt by loading it here (its code runs in this process)."""
    from gemmbench.machine.fingerprint import cpu_flags

    backend = backends.get(name)
    ok, reason, variants = inspect(backend)
    flags = cpu_flags() if ok and variants else frozenset()
    try:
        lacking = tuple(v.name for v in variants if ok and not backend.variant_available(v, flags)[0])
        builds = backend.offers("build")
        problems = tuple([method.reason for method in _broken_methods()] + method_problems(backend))
        gemv = tuple(v.name for v in variants if ok and v.name not in lacking and v.precision is None
                     and backend.runs(v, "gemv"))
        role = str(backend.role)
    except (Exception, SystemExit) as exc:
        ok, reason, variants, lacking, builds = False, f"raised {type(exc).__name__}: {exc}", [], (), False
        problems, gemv, role = (), (), "ours"
    return BackendStatus(name, ok, reason, tuple(v.name for v in variants), backends.target(name), lacking,
                         tuple(v.name for v in variants if v.reference_only), builds, problems, role,
                         tuple(v.isa or "" for v in variants), gemv)


def refresh() -> None:
    backends.refresh()
    ops.refresh()
    methods.refresh()


def register_backend(name: str, target: str | type, *, clobber: bool = False) -> None:
    backends.register(name, target, clobber=clobber)


def register_op(name: str, target: str | type, *, clobber: bool = False) -> None:
    ops.register(name, target, clobber=clobber)


def register_method(name: str, target: str | type, *, clobber: bool = False) -> None:
    methods.register(name, target, clobber=clobber)
