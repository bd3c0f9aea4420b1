"""Ending a child process and everything it started, including processes that left its process group.

A backend may fork, and what it forks may call setsid() and fork again, as a daemon does: that
process is in no process group of the worker's, and killing the group misses it. Two nets catch it:

- a cgroup (version 2) per child, where one can be made: everything the child starts stays in it
  whatever it does, even after the child itself has died, and `cgroup.kill` ends them all at once;
- in every child, PR_SET_CHILD_SUBREAPER: a descendant orphaned by its parent is re-parented to the
  child rather than to init, so walking /proc from the child finds it while the child lives.

`Cage.end()` kills through both and the process group, then removes the cgroup. GEMMBENCH_NO_CGROUP=1
leaves cgroups alone (where a cgroup manager forbids making them); the other nets still hold.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
PREFIX = "gemmbench-"
_numbers = itertools.count()


class Cage:
    """Where one child process and all it starts are kept: its cgroup (or None) and, once started, its pid."""

    def __init__(self):
        self.cgroup = _new_cgroup()
        self.pid: int | None = None

    def join(self, libc) -> None:
        """In the child, between fork and exec: into the cgroup, and a subreaper for its descendants."""
        if self.cgroup is not None:
            try:
                with open(self.cgroup / "cgroup.procs", "w") as procs:
                    procs.write("0")  # '0': the writing process
            except OSError:
                pass  # the process tree still holds what it starts
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    def end_descendants(self) -> None:
        """SIGKILL everything the live child started, the child itself spared (to exit in its own time)."""
        if self.pid is None:
            return
        if self.cgroup is not None:
            _kill_members(self.cgroup, spare=self.pid)
        for _ in range(100):  # the tree may grow while it is walked: until nothing is left
            found = descendants(self.pid)
            if not found:
                break
            for pid in found:
                _kill(pid)

    def end(self, alive: bool) -> None:
        """SIGKILL the child and everything it started. `alive`: the child has not been reaped yet, so its
        pid is still its own (a reaped child's pid may be another process's by now)."""
        if self.pid is None:
            return
        if self.cgroup is not None:
            try:
                (self.cgroup / "cgroup.kill").write_text("1")
            except OSError:
                _kill_members(self.cgroup)  # before cgroup.kill (Linux 5.14): one by one
        if alive:
            self.end_descendants()
            _kill(self.pid)
        try:
            os.killpg(self.pid, signal.SIGKILL)  # a group outlives its leader while members remain
        except (ProcessLookupError, PermissionError):
            pass

    def remove(self) -> None:
        """Remove the cgroup once its processes are gone (they are, shortly after end())."""
        if self.cgroup is None:
            return
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                self.cgroup.rmdir()
                self.cgroup = None
                return
            except FileNotFoundError:
                self.cgroup = None
                return
            except OSError:  # EBUSY while a killed process is still on its way out
                time.sleep(0.01)


def descendants(pid: int) -> list[int]:
    """Every live process under `pid` in the process tree (from /proc), nearest first."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            parent = _parent(entry.name)
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], list(children.get(pid, ()))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, ()))
    return found


def _parent(pid: str) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[1])


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_members(cgroup: Path, spare: int | None = None) -> None:
    for _ in range(100):  # members may fork while they are killed
        try:
            members = [int(line) for line in (cgroup / "cgroup.procs").read_text().split() if int(line) != spare]
        except (OSError, ValueError):
            return
        if not members:
            return
        for pid in members:
            _kill(pid)


# ---------------------------------------------------------------- making a cgroup

def _new_cgroup() -> Path | None:
    """A fresh cgroup under this process's own (cgroup v2), or None where none can be made."""
    if os.environ.get("GEMMBENCH_NO_CGROUP"):
        return None
    home = _own_cgroup()
    if home is None:
        return None
    _sweep(home)
    path = home / f"{PREFIX}{os.getpid()}-{next(_numbers)}"
    try:
        path.mkdir()
    except OSError:
        return None
    return path


def _own_cgroup() -> Path | None:
    mount = _cgroup2_mount()
    if mount is None:
        return None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    own = next((line[3:] for line in lines if line.startswith("0::")), None)
    if own is None:
        return None
    path = mount / own.lstrip("/")
    return path if (path / "cgroup.procs").exists() else None


def _cgroup2_mount() -> Path | None:
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        before, _, after = line.partition(" - ")
        if after.split(" ", 1)[0] == "cgroup2":
            return Path(before.split()[4])
    return None


def _sweep(home: Path) -> None:
    """Empty cgroups left by a gemmbench that was killed (SIGKILL leaves no chance to remove them)."""
    try:
        entries = list(home.glob(f"{PREFIX}*-*"))
    except OSError:
        return
    for entry in entries:
        owner = entry.name[len(PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            try:
                entry.rmdir()  # refused while it holds processes
            except OSError:
                pass
