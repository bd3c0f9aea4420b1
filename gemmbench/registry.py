"""Backend discovery: names map to `module:Class` targets, imported only when first needed.

Built-in backends and third-party plugins are both declared in the `gemmbench.backends`
entry-point group; `register()` adds more at run time. A backend whose import fails is
not an error for anyone else: it shows up as unavailable, with the import error as reason.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points

from gemmbench.backend import Backend, Variant
from gemmbench.errors import UsageError

GROUP = "gemmbench.backends"

_registered: dict[str, str | type] = {}
_instances: dict[str, Backend] = {}


@functools.cache
def _entry_point_targets() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def refresh() -> None:
    """Forget what was discovered, so newly installed plugins are seen."""
    _entry_point_targets.cache_clear()
    _instances.clear()


def registered_targets() -> dict[str, str]:
    """Run-time registrations as importable 'module:Class' paths, for worker processes."""
    targets = {}
    for name, target in _registered.items():
        if not isinstance(target, str):
            target = f"{target.__module__}:{target.__qualname__}"
        targets[name] = target
    return targets


def names() -> list[str]:
    return sorted(set(_entry_point_targets()) | set(_registered))


def register(name: str, target: str | type, *, clobber: bool = False) -> None:
    """Add a backend under `name`: a Backend subclass or its 'module:Class' path."""
    if not clobber and name in names():
        raise ValueError(f"backend {name!r} is already registered; pass clobber=True to replace it")
    _registered[name] = target
    _instances.pop(name, None)


class BrokenBackend(Backend):
    """Stands in for a backend whose module or class could not be loaded."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self._reason = reason

    def available(self) -> tuple[bool, str]:
        return False, self._reason

    def variants(self) -> list[Variant]:
        return [Variant("default")]


def _load(name: str, target: str | type) -> Backend:
    try:
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            cls = getattr(importlib.import_module(module_name), attr)
        else:
            cls = target
        backend = cls()
    except Exception as exc:  # a broken plugin must not break list or run
        return BrokenBackend(name, f"failed to load {target!r}: {type(exc).__name__}: {exc}")
    if not backend.name:
        backend.name = name
    return backend


def get(name: str) -> Backend:
    if name not in _instances:
        target = _registered.get(name) or _entry_point_targets().get(name)
        if target is None:
            raise UsageError(f"unknown backend {name!r}; known backends: {', '.join(names()) or 'none'}")
        _instances[name] = _load(name, target)
    return _instances[name]


@dataclass(frozen=True)
class BackendStatus:
    name: str
    available: bool
    reason: str
    variants: tuple[str, ...]
    target: str


def status(name: str) -> BackendStatus:
    backend = get(name)
    try:
        ok, reason = backend.available()
        variants = tuple(v.name for v in backend.variants())
    except Exception as exc:  # available() must not raise; if it does, say so
        ok, reason, variants = False, f"available() raised {type(exc).__name__}: {exc}", ()
    target = _registered.get(name) or _entry_point_targets().get(name, "")
    return BackendStatus(name, ok, reason, variants, target if isinstance(target, str) else repr(target))
