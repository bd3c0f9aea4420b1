"""A one-line progress display on a terminal; silent otherwise. Never called while timing."""

from __future__ import annotations

import shutil
from typing import TextIO

from gemmbench.results import FAILED_STATUSES


class Progress:
    def __init__(self, stream: TextIO, enabled: bool | None):
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.rows = 0
        self.failed = 0

    def _show(self, text: str) -> None:
        if not self.enabled:
            return
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write("\r" + text[:width].ljust(width))
        self.stream.flush()

    def begin(self, label: str) -> None:
        failed = f", {self.failed} failed" if self.failed else ""
        self._show(f"[{self.rows} rows{failed}] {label}")

    def row_done(self, status: str) -> None:
        self.rows += 1
        self.failed += status in FAILED_STATUSES

    def close(self) -> None:
        if self.enabled:
            self._show("")
            self.stream.write("\r")
            self.stream.flush()
