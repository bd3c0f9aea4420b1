"""Large arrays on 2 MiB pages: the same cache placement in every worker process.

A cache indexed by physical address (L2, L3) places a matrix by the physical pages the kernel
happened to hand out: with 4 KiB pages, two processes running the same kernel on the same
matrix get different set conflicts, and a matrix that nearly fills L2 (LPCNet's GRU-A, 1.77 MB
against 1-2 MiB) runs markedly faster in one process than in the next (docs/measurement.md,
"Large arrays on huge pages"). On one 2 MiB page the placement is the same every time, as far
as the guest sees: a hypervisor may still back the page with scattered host pages, which is why
a row on huge pages is measured on several of them (gemmbench.measure.item, "Placements").

Arrays of at least `HUGE_MIN` bytes are therefore mapped at a 2 MiB boundary and advised
MADV_HUGEPAGE (Linux transparent huge pages in `madvise` or `always` mode). Where the
advice cannot be given (not Linux, THP `never`), the mapping still works as ordinary memory.

That is the `huge` pages setting, the default. `normal` (a case setting, `pages`) allocates
large arrays as a plain C program's malloc would, without advice, and turns numpy's own advice
for arrays of 4 MiB and more off: 4 KiB pages under THP `madvise`, each process its own scatter
of physical pages (what a vocoder's weights get unless it asks for more). A worker runs one
setting (`use`), chosen before anything is prepared.
"""

from __future__ import annotations

import errno
import functools
import mmap
from pathlib import Path

import numpy as np

MODES = ("huge", "normal")
HUGE_PAGE = 2 << 20
HUGE_MIN = 256 << 10  # smaller arrays sit in L1/L2 whatever their pages, and a 2 MiB page would waste 8x
THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def transparent_hugepages() -> str:
    """The kernel's THP mode ('always', 'madvise', 'never'), or 'unavailable'."""
    try:
        text = THP_SETTING.read_text()
    except OSError:
        return "unavailable"
    chosen = [word.strip("[]") for word in text.split() if word.startswith("[")]
    return chosen[0] if chosen else "unavailable"


def advisable() -> bool:
    """Whether MADV_HUGEPAGE can put an advised mapping on huge pages here."""
    return hasattr(mmap, "MADV_HUGEPAGE") and transparent_hugepages() in ("always", "madvise")


def effective(mode: str) -> str:
    """The pages a setting gives on this machine: huge pages need transparent huge pages."""
    return "huge" if mode == "huge" and advisable() else "normal"


def unavailable(mode: str) -> str:
    """Why this machine cannot give the setting ('' when it can)."""
    if mode == "huge" and not advisable():
        return (f"pages: huge needs transparent huge pages in madvise or always mode; this machine's is "
                f"{transparent_hugepages()} ({THP_SETTING})")
    return ""


_mode = "huge"
_placed = 0  # bytes of large arrays this process has allocated through large_bytes
_mapped = 0  # of them, bytes mapped by huge_bytes: outside numpy's allocator, so tracemalloc does not see them


def use(mode: str) -> None:
    """Allocate this process's large arrays on `mode` pages from now on (a worker, before any prepare)."""
    global _mode
    if mode not in MODES:
        raise ValueError(f"pages: expected one of {', '.join(MODES)}, got {mode!r}")
    _mode = mode
    if mode == "normal":
        _numpy_advice(False)


def _numpy_advice(enabled: bool) -> None:
    """numpy advises huge pages itself for arrays of 4 MiB and more; a plain program's malloc does not."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _set_madvise_hugepage
    _set_madvise_hugepage(enabled)


def placed_bytes() -> int:
    """Bytes of large arrays allocated in this process so far: a prepare that raised it put data on pages of its own."""
    return _placed


def mapped_bytes() -> int:
    """Bytes huge_bytes has mapped in this process so far (memory tracemalloc does not count)."""
    return _mapped


def large_bytes(nbytes: int, alignment: int = 64) -> np.ndarray:
    """`nbytes` uninitialised bytes for a large array, on the pages `use` chose."""
    global _placed
    _placed += nbytes
    if _mode == "huge":
        return _huge_bytes(nbytes)
    raw = np.empty(nbytes + alignment, dtype=np.uint8)  # malloc, as a C program's
    offset = (-raw.ctypes.data) % alignment
    return raw[offset:offset + nbytes]


@functools.cache
def _advisable_here() -> bool:
    """advisable(), read from sysfs once per process: allocations happen inside timed prepares."""
    return advisable()


def _huge_bytes(nbytes: int) -> np.ndarray:
    """`nbytes` uninitialised bytes starting on a 2 MiB boundary, advised onto huge pages.

    MemoryError when the address space is refused (the worker's --memory-limit), as for numpy's own arrays."""
    global _mapped
    length = -(-max(nbytes, 1) // HUGE_PAGE) * HUGE_PAGE + HUGE_PAGE  # room to slide to the boundary
    try:
        mapping = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except OSError as exc:
        if exc.errno == errno.ENOMEM:
            raise MemoryError(f"cannot map {nbytes} bytes for a large array") from None
        raise
    _mapped += nbytes
    raw = np.frombuffer(mapping, dtype=np.uint8)  # keeps the mapping alive as long as the array
    start = (-raw.ctypes.data) % HUGE_PAGE
    if _advisable_here():
        mapping.madvise(mmap.MADV_HUGEPAGE, start, length - start)
    return raw[start:start + nbytes]
