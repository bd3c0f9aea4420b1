"""Which revision of gemmbench is running: asked of git in a clone, else the one recorded at install.

`pip install .` copies the package out of the clone, away from its .git; setup.py's build step
records the revision it was built from in the package (RECORDED), so an installed gemmbench
still knows it. Standard library only: setup.py loads this file before anything is installed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

RECORDED = "_revision.txt"  # in the installed package, written by setup.py
UNKNOWN = "unknown"


def from_git(source: Path) -> str | None:
    """HEAD of the clone at `source` ('+dirty' with local changes), or None when it is not one."""
    if not (source / ".git").exists():  # a file in a git worktree, a directory in a clone
        return None
    try:
        sha = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=20)
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain"],
                               capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if sha.returncode != 0 or not sha.stdout.strip():
        return None
    return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def recorded(package: Path | None = None) -> str | None:
    """The revision written into the installed package when it was built, if any."""
    path = (package or Path(__file__).resolve().parent.parent) / RECORDED
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return text or None


def current() -> str:
    """The running source's revision: live from git in a clone, else recorded at install, else 'unknown'."""
    package = Path(__file__).resolve().parent.parent
    return from_git(package.parent) or recorded(package) or UNKNOWN
