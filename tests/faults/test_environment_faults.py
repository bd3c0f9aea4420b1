"""The machine fails the run: an output directory that cannot be written, a disk that fills up."""

import re
import resource
import subprocess
import sys

import pytest

from faultkit import ROOT, as_ordinary_user, temp_files
from gbtest import own_stderr
from gemmbench.data.results import load_results, read_metadata

pytestmark = pytest.mark.slow  # real runs through the CLI: .ci/run and `pytest --slow` run them

SUITE = """
name: disk
backends: [{backend}]
defaults: {{warmup: 0.001, min_time: 0.0002, samples: 3, max_time: 0.05}}
cases: [{{name: c, m: 16, k: 8, seed: [1, 2, 3, 4, 5, 6]}}]
"""
def test_an_unwritable_output_directory_is_refused_before_anything_runs(plugins, write_suite, tmp_path, recorded):
    suite = write_suite(SUITE.format(backend="test-slow"), fast=False)
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o555)
    result = subprocess.run([sys.executable, "-m", "gemmbench", "run", suite, "-o", out], capture_output=True,
                            text=True, cwd=ROOT, timeout=120, preexec_fn=as_ordinary_user)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"gemmbench: error: {out}: cannot write results here: Permission denied\n"
    assert recorded.pids() == {}  # no worker ever started
    assert list(out.iterdir()) == []


def test_an_output_path_that_is_a_file_is_refused(cli, write_suite, tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("I am a file")
    result = cli("run", write_suite("name: t\nbackends: [numpy]\ncases: [{name: a, m: 4, k: 4}]\n"),
                 "-o", blocker / "sub")
    assert result.returncode == 2
    assert result.stderr == f"gemmbench: error: {blocker / 'sub'}: cannot write results here: Not a directory\n"


def test_a_full_disk_mid_run_keeps_the_rows_already_written(plugins, write_suite, tmp_path, recorded, cli):
    """RLIMIT_FSIZE makes the kernel refuse writes past a size, as a full disk refuses them: each row of
    test-bulky adds about 16 kB to the journal, so a few cases fit and then a write fails."""
    limit = 64_000
    suite = write_suite(SUITE.format(backend="test-bulky, test-slow"), fast=False)
    out = tmp_path / "out"

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([sys.executable, "-m", "gemmbench", "run", suite, "-o", out], capture_output=True,
                            text=True, cwd=ROOT, timeout=120, preexec_fn=small_files)
    (path,) = out.glob("*.parquet")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    saved = int(re.search(r"File too large; the (\d+) rows", result.stderr)[1])
    assert own_stderr(result.stderr) == (f"gemmbench: error: {path}: writing results failed: File too large; the {saved} rows "
                             f"written before are in the file, marked partial (once the cause is fixed, "
                             f"`gemmbench run --resume {path}` finishes it)\n")
    assert 2 <= saved < 12 and saved % 2 == 0  # whole cases: both rows of a case, or neither
    assert len(load_results(path)) == saved and read_metadata(path)["complete"] is False
    assert temp_files(out) == [] and sorted(out.iterdir()) == [out / f".{path.name}.journal", path]
    assert recorded.wait_until_gone() == []  # no worker is left

    finished = cli("run", "--resume", path, "-q")
    assert finished.returncode == 0, finished.stderr
    assert len(load_results(path)) == 12 and read_metadata(path)["complete"] is True
