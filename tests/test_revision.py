"""An installed gemmbench knows its git revision: setup.py's build step records it in the package."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from gbtest import ROOT
from gemmbench.machine import revision


def git(*args, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def clone(tmp_path):
    if shutil.which("git") is None or revision.from_git(ROOT) is None:
        pytest.skip("needs git and a git checkout of gemmbench")
    target = tmp_path / "src"
    git("clone", "-q", str(ROOT), str(target), cwd=tmp_path)
    return target


def test_the_build_records_the_revision_and_the_built_package_reports_it(clone, tmp_path):
    """What `pip install .` does to the package (build_py), then the built package away from .git."""
    lib = tmp_path / "lib"
    build = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(lib)], cwd=clone,
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    head = git("rev-parse", "HEAD", cwd=clone)
    assert (lib / "gemmbench" / revision.RECORDED).read_text().strip() == head
    asked = subprocess.run([sys.executable, "-c", "from gemmbench.machine.fingerprint import git_sha; print(git_sha())"],
                           cwd=tmp_path, env={"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin"},
                           capture_output=True, text=True)
    assert asked.stdout.strip() == head, asked.stderr


def test_a_clone_with_changes_is_dirty(clone):
    assert revision.from_git(clone) == git("rev-parse", "HEAD", cwd=clone)
    (clone / "README.md").write_text("changed\n")
    assert revision.from_git(clone).endswith("+dirty")


def test_without_git_or_a_record_it_is_unknown(tmp_path):
    assert revision.from_git(tmp_path) is None and revision.recorded(tmp_path) is None
    (tmp_path / revision.RECORDED).write_text("abc123\n")
    assert revision.recorded(tmp_path) == "abc123"
