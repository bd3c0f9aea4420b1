"""Limits: what a backend prints, how far a suite expands, how many problems are listed, how much of a
file validation reads and how much memory each worker may take are all bounded."""

import os
import subprocess
import sys

import pytest

from faultkit import ROOT
from gbtest import results_path
from gemmbench.data.results import load_results


@pytest.mark.slow
def test_a_worker_s_stderr_is_kept_to_its_last_part(plugins, write_suite, tmp_path):
    """A backend writes 512 MiB to stderr and aborts: the run keeps a pipe's worth of it, the row quotes the end."""
    suite = write_suite("name: shout\nbackends: [test-shout, test-good]\ncases: [{name: a, m: 16, k: 8}]\n")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "GEMMBENCH_TEST_SHOUT_MIB": "512", "TMPDIR": str(temporary)}
    proc = subprocess.Popen([sys.executable, "-m", "gemmbench", "run", suite, "-o", tmp_path / "out"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 1 and err == ""
    peak_mib = usage.ru_maxrss / 1024  # the CLI's, or its largest worker's: none holds the 512 MiB
    assert peak_mib < 400, f"peak RSS {peak_mib:.0f} MiB"
    rows = {r.backend: r for r in load_results(results_path(out)).itertuples()}
    assert rows["test-good"].status == "ok"
    shout = rows["test-shout"]
    assert shout.status == "crashed" and "worker killed by SIGABRT" in shout.message
    assert "(Fatal Python error: Aborted)" in shout.message  # faulthandler's line, written after the 512 MiB
    assert list(temporary.iterdir()) == []  # nothing spilled into the temporary folder
