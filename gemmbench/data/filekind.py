"""What kind of file a path is, in the words a one-line message uses."""

from __future__ import annotations

import os
import stat

KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
         (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"))


def describe(mode: int) -> str:
    """'a directory', 'a FIFO', 'a character device', ... ('a regular file' for one)."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in KINDS if test(mode)), "not a regular file")


def irregular(path: str | os.PathLike, follow: bool = True) -> str:
    """'' when `path` is a regular file (or missing); otherwise what it is, e.g. 'a FIFO'.

    Never opens the path: opening a FIFO blocks until a writer comes."""
    try:
        mode = (os.stat if follow else os.lstat)(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # absent; a folder on the way that is a file says so elsewhere
        return ""
    return "" if stat.S_ISREG(mode) else describe(mode)
