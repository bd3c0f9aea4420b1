from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gemmbench import registry

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = Path(__file__).resolve().parent / "plugins"

# Small, fast timing so tests exercise the real loop without costing seconds per row.
FAST_DEFAULTS = """\
defaults:
  warmup: 0.001
  min_time: 0.0002
  samples: 3
  max_time: 0.05
  timeout: 30
"""


@pytest.fixture
def plugins(monkeypatch):
    """The misbehaving test backends, visible here and in worker processes."""
    path = os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.syspath_prepend(str(PLUGINS))
    registry.refresh()
    yield
    registry.refresh()


@pytest.fixture
def write_suite(tmp_path):
    """Write a suite YAML (FAST_DEFAULTS prepended unless given) and return its path."""

    def write(body: str, name: str = "suite.yaml", fast: bool = True) -> Path:
        body = textwrap.dedent(body)
        text = (FAST_DEFAULTS + body) if fast and "defaults:" not in body else body
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, as a user would run it (from the repository root by default)."""
    return subprocess.run([sys.executable, "-m", "gemmbench", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli
