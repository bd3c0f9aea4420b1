"""Each variant of a case sees the case's arrays read-only, so one variant cannot change what the next gets.

A worker makes a case's workload (weights, the float64 reference, masks, ...) once and hands it to
every variant of its backend in turn. A variant that scaled the weights in place, or zeroed the
reference, would have its sibling judged on changed data: the sibling became `wrong` or `error`
and the variant that did it stayed `ok`. So each variant gets its own view of every array with
numpy's `writeable` flag off (a write raises, and the variant's row says so), or a fresh copy for a
backend that declares `writable_workload`. Native code can write through a pointer whatever the
flag says; a checksum of every array, taken before and compared after each variant's start and
finish, catches that, fails the variant that did it and makes the changed arrays afresh, in place,
for the others.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any, Callable

import numpy as np

from gemmbench.op import Workload

WRITE_HINT = ("the case's arrays are read-only to a variant; a backend that must write to them declares "
              "writable_workload = True")


def _read_only(workload: Workload) -> Workload:
    """The workload with every array a read-only view of the original."""
    return _map_arrays(workload, _read_only_view)


def _writable_copy(workload: Workload) -> Workload:
    """The workload with every array a copy of its own, writable."""
    return _map_arrays(workload, np.array)


def arrays(workload: Workload) -> dict[str, np.ndarray]:
    """Every array of the workload by its name ('weights', 'extra/bias_a', ...)."""
    found: dict[str, np.ndarray] = {}
    for field in _array_fields(workload):
        _walk(getattr(workload, field.name), field.name, found)
    return found


def _checksums(workload: Workload) -> dict[str, int]:
    """A CRC-32 of every array of the workload, by name."""
    return {name: zlib.crc32(np.ascontiguousarray(array)) for name, array in arrays(workload).items()}


class Guard:
    """The workload a backend's variants share, and the check that none of them changed it."""

    def __init__(self, make: Callable[[], Workload]):
        self.make = make
        self.workload = make()
        self.sums = _checksums(self.workload)

    def view(self, writable: bool) -> Workload:
        return _writable_copy(self.workload) if writable else _read_only(self.workload)

    def changed(self) -> list[str]:
        """The arrays a variant changed since the last check, each then made afresh in place: the other
        variants' prepared states may hold views of them."""
        now = _checksums(self.workload)
        changed = [name for name, crc in self.sums.items() if now.get(name) != crc]
        if changed:
            fresh, held = arrays(self.make()), arrays(self.workload)
            for name in changed:
                held[name].flags.writeable = True  # the worker's own arrays (not a variant's view)
                np.copyto(held[name], fresh[name])
        return changed


def changed_message(names: list[str]) -> str:
    return (f"wrote into the case's shared arrays ({', '.join(names)}) through a pointer; a variant must leave its "
            f"inputs as it found them (they were made afresh for the others; a backend that must write to them "
            f"declares writable_workload = True)")


def _read_only_view(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def _array_fields(workload: Workload) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(workload) if f.init and f.name != "case"]


def _map_arrays(workload: Workload, change: Callable[[np.ndarray], np.ndarray]) -> Workload:
    return dataclasses.replace(workload, **{f.name: _mapped(getattr(workload, f.name), change)
                                            for f in _array_fields(workload)})


def _mapped(value: Any, change: Callable[[np.ndarray], np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        return change(value)
    if isinstance(value, dict):
        return {key: _mapped(item, change) for key, item in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):  # a named tuple is a value
        return type(value)(_mapped(item, change) for item in value)
    return value


def _walk(value: Any, name: str, found: dict[str, np.ndarray]) -> None:
    if isinstance(value, np.ndarray):
        found[name] = value
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{name}/{key}", found)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _walk(item, f"{name}/{index}", found)
