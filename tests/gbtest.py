"""Helpers the test modules import (named apart from conftest.py: tests/faults has its own)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, as a user would run it (from the repository root by default)."""
    return subprocess.run([sys.executable, "-m", "gemmbench", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=timeout)


BUSY_CPUS = "warning: every CPU this run may measure on is busy"


def own_stderr(stderr: str) -> str:
    """A run's stderr without the line saying the machine's CPUs were all busy when it started (a state of
    the machine the tests share, not of what they test)."""
    return "".join(line for line in stderr.splitlines(keepends=True) if not line.startswith(BUSY_CPUS))


def results_path(stdout: str) -> str:
    """The results file a run's summary names ('N rows, F failed; results: PATH')."""
    return next(line for line in stdout.splitlines() if "; results: " in line).split("; results: ")[-1]


def write_rows(rows: list[dict], path: Path, run_id: str, suite: str, started: str) -> Path:
    """Rows written through ResultsFile as a run writes them: each paired with its baseline row (as the
    runner does, by gemmbench.stats.decide), the plot kinds of their ops in the file's metadata."""
    import dataclasses

    from gemmbench import registry
    from gemmbench.data.results import ResultsFile, RunInfo
    from gemmbench.stats.decide import pair

    rows = [{**row, **columns} for row, columns in zip(rows, pair(rows))]
    results = ResultsFile(path, RunInfo(run_id, suite, started))
    results.extra["plots"] = [dataclasses.asdict(kind) for op in dict.fromkeys(r.get("op") for r in rows)
                              if op in registry.ops.names() for kind in registry.ops.get(op).plots]
    results.add(rows)
    results.close()
    return path


def write_results(frame, path: Path, run_id: str) -> Path:
    """Write a results frame (usually derived from a real run) as a run does (write_rows)."""
    import pandas as pd

    def value(v):
        return None if pd.api.types.is_scalar(v) and pd.isna(v) else v

    rows = [{k: value(v) for k, v in row.items()} for row in frame.assign(run_id=run_id).to_dict("records")]
    return write_rows(rows, path, run_id, str(rows[0]["suite"]), str(rows[0]["timestamp"]))


def bound_backend(backend, case, variant_name: str):
    """A backend prepared and bound in this process, as a worker does: (prepared, workload, x, out)."""
    from gemmbench.cases.workload import aligned_copy, make_workload

    variant = next(v for v in backend.variants() if v.name == variant_name)
    workload = make_workload(case)
    x, out = aligned_copy(workload.x), workload.new_output()
    prepared = backend.bind(backend.prepare(workload, variant), x, out)
    return prepared, workload, x, out


def traced_peak(call) -> int:
    """Peak bytes Python and numpy allocate during one call (after a warm-up call)."""
    import tracemalloc

    call()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def composed_step(case, state=None) -> tuple:
    """An lpcnet_step case's workload and the numpy composition's output of one run from `state`
    (default: the workload's x)."""
    from gemmbench.backend import Variant
    from gemmbench.backends.numpy_blas import NumpyBackend
    from gemmbench.cases.workload import make_workload
    from gemmbench.ops.lpcnet_step import Composed

    workload = make_workload(case)
    backend = Composed(NumpyBackend())
    out = workload.new_output()
    backend.run(backend.prepare(workload, Variant("matmul")), workload.x if state is None else state, out)
    return workload, out
