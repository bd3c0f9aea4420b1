"""A backend's own code (its import, available(), variants()) never runs in the CLI process: whatever it does
there (sys.exit, a segfault, os._exit, a hang) becomes that backend's rows with the reason, every command
still works, and the exit status follows the rows."""

import os

import pytest

from gbtest import own_stderr, results_path
from gemmbench.data.results import load_results

pytestmark = pytest.mark.slow  # real runs and real crashes through the CLI: .ci/run and `pytest --slow` run them

SUITE = "name: hostile\nbackends: [test-hostile, test-good]\ncases: [{name: a, m: 16, k: 8}]\n"
STARTUP = "2"  # GEMMBENCH_STARTUP_TIMEOUT: how long a child may take to load a backend, here

# mode -> (the row's status, what its message says, the run's exit status, what `list` says)
MODES = {
    "import-sys-exit": ("unavailable", "SystemExit: 0", 0, "SystemExit: 0"),
    "import-segfault": ("crashed", "worker killed by SIGSEGV", 1, "was killed by SIGSEGV while loading or asked "
                                                                 "(Fatal Python error: Segmentation fault)"),
    "variants-os-exit": ("crashed", "worker exited with status 0 before finishing", 1,
                         "ended the process (exit status 0) while loading or asked"),
    "variants-hang": ("timeout", "worker sent nothing for 2 s while starting; killed", 1,
                      "did not answer within 2 s (hung while loading or asked)"),
}


@pytest.mark.parametrize("mode", MODES)
def test_plugin_code_costs_only_its_own_rows(plugins, write_suite, tmp_path, cli, mode):
    status, message, exit_status, listed = MODES[mode]
    env = {**os.environ, "GEMMBENCH_TEST_HOSTILE": mode, "GEMMBENCH_STARTUP_TIMEOUT": STARTUP}

    run = cli("run", write_suite(SUITE), "-o", tmp_path / "out", "--no-progress", env=env)
    assert (run.returncode, own_stderr(run.stderr)) == (exit_status, "")
    path = results_path(run.stdout)  # the summary was printed, down to its last line
    rows = {r.backend: r for r in load_results(path).itertuples()}
    assert rows["test-good"].status == "ok"
    assert rows["test-hostile"].status == status and message in rows["test-hostile"].message

    shown = cli("list", env=env)
    assert shown.returncode == 0 and shown.stderr == ""
    lines = {line.split()[0]: line for line in shown.stdout.splitlines() if line.strip()}
    assert " available " in lines["test-good"] and " unavailable " in lines["test-hostile"]
    assert listed in lines["test-hostile"]

    report = cli("report", path, "-o", tmp_path / "r.html", env=env)
    assert (report.returncode, own_stderr(report.stderr)) == (0, "") and (tmp_path / "r.html").is_file()

    checked = cli("validate", write_suite(SUITE.replace("test-hostile", "test-hostile:default")), env=env)
    assert checked.returncode == 0, checked.stderr  # an unavailable backend's variant cannot be judged: run says why
