"""Files published whole: written beside their target, fsynced, then renamed into place.

A reader sees the old file or the new one, never half of either, and a process killed
mid-write leaves at most a hidden `.NAME.*.tmp` beside the target (writers of results files
sweep those up when they take the file's lock). Every file gemmbench writes for others to
read (results, reports, compiled kernels, the roofline cache) goes through here, and it only
ever replaces a regular file: a directory, FIFO, device, socket or symbolic link at the target
stays as it is and the write fails (NotReplaceable).
"""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from gemmbench.data import filekind


class NotReplaceable(OSError):
    """The target is not a regular file (or is one the command reads): publishing would destroy it."""

    def __init__(self, reason: str):
        super().__init__(errno.EEXIST, reason)


def check_replaceable(path: Path) -> None:
    """NotReplaceable unless `path` is a regular file or absent (a symbolic link is not followed)."""
    what = filekind.irregular(path, follow=False)
    if what:
        raise NotReplaceable(f"it is {what}; gemmbench writes only over a regular file or a new path")


def umask() -> int:
    """The process's umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def publishing(path: Path, *, exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends without an error, the file
    written there is fsynced and renamed onto `path` (with `exclusive`, FileExistsError when
    `path` exists: two writers can never claim one name). On an error the temporary goes."""
    path = Path(path)
    check_replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600; published files are as readable as any other
        yield tmp
        _fsync(tmp)
        check_replaceable(path)  # again: it may have changed while the file was written
        if exclusive:
            _link_exclusive(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """`data` as the whole content of `path`, published atomically."""
    with publishing(path, exclusive=exclusive) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link_exclusive(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)  # atomic and exclusive
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))  # no hard links here: claim, then fill
        os.replace(tmp, path)
