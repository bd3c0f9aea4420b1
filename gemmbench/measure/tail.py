"""The last part of what a child process writes to stderr, kept in a bounded buffer.

A worker's stderr (and whatever its backend prints, stdout included) goes into a pipe that the
supervisor drains whenever it waits for the worker; only the last `TAIL_BYTES` are kept. A
backend that writes gigabytes costs a pipe's worth of memory and no disk, and the lines that
explain a crash (faulthandler's, a Python error's) come last, so they are kept.
"""

from __future__ import annotations

import fcntl
import os

TAIL_BYTES = 64 << 10  # what is kept
DRAIN_CHUNK = 1 << 16
DRAIN_LIMIT = 16 << 20  # bytes read per drain() call: a child that never stops writing cannot hold the reader
PIPE_BYTES = 1 << 20  # asked of the kernel, so a burst of output rarely blocks the writer
F_SETPIPE_SZ = 1031


class Tail:
    """A pipe: `writer` goes to the child as its stderr, `drain()` reads it, `text()` is the kept end."""

    def __init__(self, limit: int = TAIL_BYTES):
        self.fd, self.writer = os.pipe()
        os.set_blocking(self.fd, False)
        try:
            fcntl.fcntl(self.writer, F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:  # capped by /proc/sys/fs/pipe-max-size: the default size works too
            pass
        self.limit = limit
        self.kept = bytearray()
        self.total = 0  # bytes read so far
        self.closed = False

    def started(self) -> None:
        """The child holds the write end now; the parent's copy goes, so the pipe ends when the child does."""
        if self.writer >= 0:
            os.close(self.writer)
            self.writer = -1

    def open_fds(self) -> list[int]:
        """The read end while the pipe has not ended: what to select() on."""
        return [] if self.closed else [self.fd]

    def drain(self) -> None:
        """Read what the pipe holds now (without waiting), keeping the last `limit` bytes."""
        read = 0
        while not self.closed and read < DRAIN_LIMIT:
            try:
                chunk = os.read(self.fd, DRAIN_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                return
            read += len(chunk)
            self.total += len(chunk)
            self.kept += chunk
            if len(self.kept) > 2 * self.limit:
                del self.kept[:-self.limit]

    def lines(self) -> list[str]:
        """The non-blank lines of the kept end (the first may be cut short when more was written)."""
        self.drain()
        text = bytes(self.kept[-self.limit:]).decode(errors="replace")
        return [line.strip() for line in text.splitlines() if line.strip()]

    def close(self) -> None:
        for fd in (self.fd, self.writer):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.fd = self.writer = -1
        self.closed = True
