"""Limits: what a backend prints, how far a suite expands, how many problems are listed, how much of a
file validation reads and how much memory each worker may take are all bounded."""

import os
import subprocess
import sys

import pytest

from faultkit import ROOT
from gbtest import own_stderr, results_path
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
    assert proc.returncode == 1 and own_stderr(err) == ""
    peak_mib = usage.ru_maxrss / 1024  # the CLI's, or its largest worker's: none holds the 512 MiB
    assert peak_mib < 400, f"peak RSS {peak_mib:.0f} MiB"
    rows = {r.backend: r for r in load_results(results_path(out)).itertuples()}
    assert rows["test-good"].status == "ok"
    shout = rows["test-shout"]
    assert shout.status == "crashed" and "worker killed by SIGABRT" in shout.message
    assert "(Fatal Python error: Aborted)" in shout.message  # faulthandler's line, written after the 512 MiB
    assert list(temporary.iterdir()) == []  # nothing spilled into the temporary folder


# 125 bytes: five aliased lists of ten make a grid of exactly 100,000 cases, each with the same mistake.
ALIASES = """\
name: bomb
defaults: {m: &l [1,2,3,4,5,6,7,8,9,10], k: *l, seed: *l, warmup: *l, samples: *l, density: 2}
cases: [{name: a}]
"""


def test_a_small_suite_that_expands_to_many_bad_cases_stops_at_the_problem_cap(tmp_path, capsys, monkeypatch):
    """It took 275 s and printed 100,004 lines (198 MB); checking stops once MAX_PROBLEMS are listed."""
    from gemmbench.cases import suite as suites
    from gemmbench.cases.fields import MAX_PROBLEMS
    from gemmbench.cli import main

    built = []
    real = suites._build_case
    monkeypatch.setattr(suites, "_build_case", lambda *args: built.append(args[0]) or real(*args))
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIASES)
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == MAX_PROBLEMS + 1 and len(built) == MAX_PROBLEMS
    assert all("field 'density': must be a number in (0, 1]" in line for line in lines[:-1])
    assert lines[-1] == (f"gemmbench: error: {path}: and possibly more: checking stopped after {MAX_PROBLEMS} "
                         f"problems, with 99,980 of the 100,000 cases unchecked")


@pytest.mark.slow
def test_the_default_memory_limit_is_shared_among_the_run_s_workers(plugins, write_suite, tmp_path, cli):
    """Two workers live at once (one per backend), so each gets half of the default budget; a limit given
    with --memory-limit is each worker's own, as it says."""
    import resource

    from gemmbench.machine.fingerprint import WORKER_MEMORY_SHARE, physical_memory

    suite = write_suite("name: limits\nbackends: [test-limits, test-limits-too]\ncases: [{name: a, m: 16, k: 8}]\n")
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]

    def capped(limit):
        return limit if hard == resource.RLIM_INFINITY else min(limit, hard)

    for flags, each in (([], int(physical_memory() * WORKER_MEMORY_SHARE) // 2), (["--memory-limit", "1G"], 1 << 30)):
        result = cli("run", suite, "-o", tmp_path, "-q", *flags)
        assert result.returncode == 0, result.stderr
        rows = load_results(result.stdout.strip())
        assert sorted(rows["backend"]) == ["test-limits", "test-limits-too"]
        assert {int(d) for d in rows["detail"]} == {capped(each)}
