"""A one-line progress display on a terminal; silent otherwise. Never called while timing.

It counts in its caller's unit (a run's cases, a report's plots), for example:

    [12/40 cases, 2 failed, 1 min 05 s left] gru_a_recurrent · csimd:avx2 · 1t
"""

from __future__ import annotations

import shutil
import time
from typing import Callable, TextIO

from gemmbench.data.results import FAILED_STATUSES


def remaining_text(seconds: float) -> str:
    """'40 s', '3 min 05 s', '1 h 12 min' for a time estimate."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    def __init__(self, stream: TextIO, enabled: bool | None, total: int | None = None,
                 clock: Callable[[], float] = time.monotonic, unit: str = "rows"):
        self.stream = stream
        self.unit = unit
        self.enabled = stream.isatty() if enabled is None else enabled
        self.total = total  # units (cases, plots) the caller will count, when it knows
        self.rows = 0
        self.failed = 0
        self._clock = clock
        self._started = clock()

    def _show(self, text: str) -> None:
        if not self.enabled:
            return
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write("\r" + text[:width].ljust(width))
        self.stream.flush()

    def status(self) -> str:
        """'12/40 cases, 2 failed, 1 min 05 s left' (the estimate once one is done)."""
        count = f"{self.rows}/{self.total} {self.unit}" if self.total else f"{self.rows} {self.unit}"
        parts = [count] + ([f"{self.failed} failed"] if self.failed else [])
        if self.total and 0 < self.rows < self.total:
            per_row = (self._clock() - self._started) / self.rows
            parts.append(f"{remaining_text(per_row * (self.total - self.rows))} left")
        return ", ".join(parts)

    def begin(self, label: str) -> None:
        self._show(f"[{self.status()}] {label}")

    def note(self, text: str) -> None:
        """A line worth reading whether or not progress is shown (a warning at the start of a run)."""
        if self.enabled:
            self._show("")
            self.stream.write("\r")
        self.stream.write(text + "\n")
        self.stream.flush()

    def row_done(self, status: str) -> None:
        self.rows += 1
        self.failed += status in FAILED_STATUSES

    def unit_done(self, statuses: list[str]) -> None:
        """One unit (a case of a run) done, with the statuses of the rows it produced."""
        self.rows += 1
        self.failed += sum(status in FAILED_STATUSES for status in statuses)

    def close(self) -> None:
        if self.enabled:
            self._show("")
            self.stream.write("\r")
            self.stream.flush()
