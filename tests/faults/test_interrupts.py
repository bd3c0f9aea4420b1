"""Ctrl-C, SIGTERM, SIGHUP and SIGKILL sent to a real `gemmbench run`: completed rows stay on disk in a
valid, partial file, the workers are gone, and `run --resume` finishes the same file."""

import os
import signal
import subprocess
import sys
import time

import pytest

from faultkit import ROOT, start_cli, temp_files, wait_for_rows
from gbtest import own_stderr
from gemmbench.data.results import load_results, read_metadata

pytestmark = pytest.mark.slow  # real runs through the CLI: .ci/run and `pytest --slow` run them

SLOW_SUITE = """
name: slow
backends: [test-slow]
cases:
  - {name: c, m: 16, k: 8, seed: [1, 2, 3, 4, 5, 6]}
"""
TOTAL = 6


def held() -> dict:
    """The environment (as the plugins fixture left it) with test-slow's rows after the second held until the interrupt."""
    return {**os.environ, "GEMMBENCH_TEST_HOLD_AFTER": "2"}


def interrupt(proc, how: str) -> None:
    if how == "ctrl-c":  # what a terminal does: SIGINT to the whole foreground process group
        os.killpg(proc.pid, signal.SIGINT)
    elif how == "ctrl-c twice":
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(getattr(signal, how))


@pytest.mark.parametrize("how, status, name", [
    ("ctrl-c", 130, "SIGINT"), ("ctrl-c twice", 130, "SIGINT"), ("SIGTERM", 143, "SIGTERM"),
    ("SIGHUP", 129, "SIGHUP"),
])
def test_a_signal_saves_completed_rows_marks_the_file_partial_and_kills_the_workers(
        plugins, write_suite, tmp_path, recorded, how, status, name):
    out = tmp_path / "out"
    proc = start_cli("run", write_suite(SLOW_SUITE), "-o", out, "--no-progress", env=held())
    path = wait_for_rows(out, 2, proc)
    interrupt(proc, how)
    stdout, stderr = proc.communicate(timeout=60)

    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr
    saved = load_results(path)
    assert len(saved) == 2 and set(saved["status"]) == {"ok"}  # the held third row never finished
    meta = read_metadata(path)
    assert meta["complete"] is False
    assert f"{len(saved)} rows, 0 failed; partial results (interrupted by {name}): {path}" in stdout
    assert own_stderr(stderr) == (f"gemmbench: interrupted by {name}; {len(saved)} completed rows are saved in {path}, "
                      f"marked partial; finish with: gemmbench run --resume {path}\n")
    assert temp_files(out) == [] and list(out.iterdir()) == [path]
    workers = recorded.pids()
    assert workers and recorded.wait_until_gone(seconds=2) == []


def test_resume_by_path_finishes_the_same_file_and_keeps_the_saved_rows(plugins, write_suite, tmp_path, cli):
    out = tmp_path / "out"
    suite = write_suite(SLOW_SUITE)
    proc = start_cli("run", suite, "-o", out, "--no-progress", env=held())
    path = wait_for_rows(out, 2, proc)
    interrupt(proc, "ctrl-c")
    proc.communicate(timeout=60)
    before = load_results(path)
    run_id = read_metadata(path)["run_id"]

    result = cli("run", "--resume", path, "--no-progress")
    assert result.returncode == 0, result.stderr
    assert f"{TOTAL} rows, 0 failed; results: {path}\nnext: gemmbench report {path}" in result.stdout
    after = load_results(path)
    meta = read_metadata(path)
    assert meta["complete"] is True and meta["run_id"] == run_id and set(after["run_id"]) == {run_id}
    assert sorted(after["case"]) == sorted(f"c[seed={s}]" for s in range(1, TOTAL + 1))  # each once
    kept = after.iloc[:len(before)]
    assert list(kept["case"]) == list(before["case"]) and list(kept["timestamp"]) == list(before["timestamp"])
    assert list(out.iterdir()) == [path]


def test_resume_by_run_id_after_sigkill(plugins, write_suite, tmp_path, recorded, cli):
    """Even SIGKILL, which nothing can catch, leaves a valid file, and takes the workers with it."""
    out = tmp_path / "out"
    proc = start_cli("run", write_suite(SLOW_SUITE), "-o", out, "--no-progress", env=held())
    path = wait_for_rows(out, 1, proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert recorded.wait_until_gone() == []  # the worker dies with its parent (PR_SET_PDEATHSIG)
    assert read_metadata(path)["complete"] is False and len(load_results(out)) >= 1  # hidden leftovers ignored

    run_id = read_metadata(path)["run_id"]
    result = cli("run", "--resume", run_id, "-o", out, "-q")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(path)
    assert read_metadata(path)["complete"] is True and len(load_results(path)) == TOTAL
    assert list(out.iterdir()) == [path]  # the killed run's lock and temporary files are cleared


SIGNAL_DURING_FORK = """
import os, signal, sys
from pathlib import Path

from gemmbench.cli import main
from gemmbench.data.results import load_results

out, fired = Path(sys.argv[1]), []


def after_fork_in_parent():
    # The first fork after a row is saved starts the hanging worker: SIGTERM arrives right then.
    # Unless signals are held during the fork, Python runs the handler inside this callback,
    # where its exception can only be printed and dropped.
    files = list(out.glob("*.parquet"))
    if not fired and files and len(load_results(files[0])):
        fired.append(True)
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10000):  # safe points for the handler, inside the callback
            pass


os.register_at_fork(after_in_parent=after_fork_in_parent)
sys.exit(main(["run", sys.argv[2], "-o", str(out), "-q"]))
"""


def test_a_signal_that_lands_while_a_worker_is_forked_still_stops_the_run(plugins, write_suite, tmp_path):
    suite = write_suite("name: forked\ndefaults: {timeout: 20}\n"  # a's row is saved before c's worker forks
                        "cases: [{name: a, m: 16, k: 8, backends: [numpy]}, {name: c, m: 16, k: 8, backends: [test-hang]}]\n")
    out = tmp_path / "out"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", SIGNAL_DURING_FORK, str(out), str(suite)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 143, proc.stderr
    assert time.monotonic() - started < 15  # not once the hanging row timed out
    assert "Exception ignored" not in proc.stderr
    [path] = out.glob("*.parquet")
    assert read_metadata(path)["complete"] is False and len(load_results(path)) == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped exception, on purpose
def test_an_interrupt_dropped_by_a_finaliser_is_raised_at_the_next_check():
    from gemmbench.measure import interrupts

    class Finalised:
        def __del__(self):  # Python can only print an exception raised here, then drops it
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10000):  # safe points: the handler runs in here
                pass

    before = signal.getsignal(signal.SIGTERM)
    with interrupts.catching():
        Finalised()
        with pytest.raises(interrupts.RunInterrupted, match="interrupted by SIGTERM"):
            interrupts.raise_if_pending()
    assert signal.getsignal(signal.SIGTERM) == before
    interrupts.raise_if_pending()  # outside a run nothing is pending
