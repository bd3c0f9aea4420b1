"""Files the user names for gemmbench to write (`report -o`, `plot -o`, `advise --page`).

An output path is written only when it is a regular file or does not exist yet, inside a
directory gemmbench can create files in. It is never written over a symbolic link (refused, not
followed: a link planted in a shared folder must not redirect a write), a directory, a FIFO, a
device or a socket, nor over a file the command is reading (same device and inode). `checked`
says so before any long work starts, by creating and removing a file beside the target; `write`
checks again as it publishes. Every refusal and every failed write is one line naming the path
(UsageError: exit 2).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

from gemmbench.data import atomic
from gemmbench.errors import UsageError


def checked(path: str | os.PathLike, reading: Iterable[str | os.PathLike] = ()) -> Path:
    """`path`, once it is known to be a place gemmbench may write; UsageError naming it otherwise."""
    path = Path(path)
    try:
        atomic.check_replaceable(path)
        _check_not_read(path, reading)
        _check_folder(path)
    except OSError as exc:
        raise failure(path, exc) from None
    return path


def write(path: Path, data: bytes, reading: Iterable[str | os.PathLike] = ()) -> None:
    """`data` published atomically as `path`, after the same checks as `checked`."""
    checked(path, reading)
    try:
        atomic.write_bytes(path, data)
    except OSError as exc:
        raise failure(path, exc) from None


def failure(path: Path, exc: OSError) -> UsageError:
    """One line naming the output path and what stopped the write."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return UsageError(f"{path}: cannot write the output here: {' '.join(reason.split())}")


def _check_not_read(path: Path, reading: Iterable[str | os.PathLike]) -> None:
    try:
        target = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    for source in reading:
        try:
            if os.path.samestat(target, os.stat(source)):
                raise atomic.NotReplaceable(f"it is {source}, which this command reads; name another output file")
        except (FileNotFoundError, NotADirectoryError):
            continue


def _check_folder(path: Path) -> None:
    """The nearest existing folder of `path` must be a directory gemmbench can create a file in
    (permissions alone do not say: root ignores them, and /proc or a read-only mount refuse anyway)."""
    folder = path.parent
    while not os.path.lexists(folder):
        folder = folder.parent
    if not folder.is_dir():
        raise atomic.NotReplaceable(f"{folder} is not a directory")
    fd, probe = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp", dir=folder)
    os.close(fd)
    os.unlink(probe)

