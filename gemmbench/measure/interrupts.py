"""Stopping a run by signal: SIGINT, SIGTERM and SIGHUP become RunInterrupted in the main thread.

Python runs a signal's handler at the next safe point of the main thread, and that can be
inside code whose exceptions Python can only print and drop: an at-fork callback (logging
registers one, and subprocess forks for every worker) or an object's finaliser. A run that
lost its interrupt there went on to the end, deaf to further signals. So workers are forked
with the signals held: blocked in this thread, and, since a signal may still land on another
thread (OpenBLAS starts some when numpy loads) and have its handler run in ours, the handler
only records it while held; it is raised just after, in the run's own code. The handler also
records the signal for raise_if_pending(), which the wait loops call.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator

INTERRUPTS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

_pending: int | None = None  # the signal that stopped the run, once one has
_holding = 0  # depth of held() blocks: a signal arriving inside one is raised when the outermost ends


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by a signal; `outcome` holds the rows saved in the (partial) file."""

    def __init__(self, signum: int, outcome=None):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
        self.outcome = outcome


def ignore_all() -> None:
    """From now on every interrupt signal is ignored: what follows (cleanup, the summary) must finish."""
    for number in INTERRUPTS:
        signal.signal(number, signal.SIG_IGN)


def _interrupt(signum, frame) -> None:
    global _pending
    ignore_all()  # cleanup (killing workers, writing the file) must not be cut short
    _pending = signum
    if not _holding:
        raise RunInterrupted(signum)


def raise_if_pending() -> None:
    """Raise RunInterrupted if a signal arrived whose exception was swallowed where it was raised."""
    if _pending is not None:
        raise RunInterrupted(_pending)


@contextmanager
def catching() -> Iterator[None]:
    """SIGTERM and SIGHUP stop a run the way Ctrl-C does; the first one wins, the rest are ignored."""
    global _pending
    _pending = None
    previous = {}
    try:
        for number in INTERRUPTS:
            if signal.getsignal(number) != signal.SIG_IGN:  # ignored by whoever started us (nohup): keep it so
                previous[number] = signal.signal(number, _interrupt)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        _pending = None


@contextmanager
def held() -> Iterator[None]:
    """The interrupt signals blocked (held pending, not lost) for the duration: around a fork."""
    global _holding
    mask = hasattr(signal, "pthread_sigmask")
    before = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS) if mask else None
    _holding += 1
    try:
        yield
    finally:
        _holding -= 1
        if mask:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)  # a blocked signal is handled here ...
    if not _holding:
        raise_if_pending()  # ... and one that was only recorded is raised here


def release_in_child() -> None:
    """In a child between fork and exec: unblock what held() blocked (the mask survives exec)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, INTERRUPTS)
