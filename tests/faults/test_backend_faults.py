"""A backend that misbehaves costs only its own row, the row says what happened, and the exit status
says something failed. Every backend here is loaded through the real entry-point path and runs in
real worker processes; the faults (SIGSEGV, os._exit, a hang, a leak, ...) are real."""

import resource

import pytest

from faultkit import temp_files
from gbtest import own_stderr, results_path
from gemmbench.cases.suite import load_suite
from gemmbench.data.results import load_results, read_metadata
from gemmbench.machine.fingerprint import WORKER_MEMORY_SHARE, physical_memory
from gemmbench.measure.runner import RunOptions, run_suite

pytestmark = pytest.mark.slow  # real runs through the CLI: .ci/run and `pytest --slow` run them

CASES = """
name: faults
cases:
  - {name: small, m: 32, k: 16}
  - {name: batch, op: gemm, m: 32, k: 16, n: 4}
"""

# (backend, variant) -> (status, what the message must say), for both cases.
EXPECTED = {
    ("test-segfault", "crash"): ("crashed", "worker killed by SIGSEGV while running this case"),
    ("test-segfault", "fine"): ("ok", ""),
    ("test-raises", "default"): ("error", "RuntimeError: deliberate failure in prepare"),
    ("test-wrong", "default"): ("wrong", "exceeds the float32 tolerance"),
    ("test-hang", "default"): ("timeout", "no result within the 2 s timeout; worker killed"),
    ("test-exit", "os_exit"): ("crashed", "worker exited with status 0 before finishing"),
    ("test-exit", "sys_exit"): ("error", "SystemExit: 3"),
    ("test-exit", "fine"): ("ok", ""),
    ("test-noisy", "default"): ("ok", ""),
    ("test-scribble", "garbage"): ("crashed", "worker broke the result protocol (JSONDecodeError: Expecting value"),
    ("test-scribble", "bad_row"): ("crashed", "broke the result protocol (ArrowInvalid: Could not convert 'many'"),
    ("test-good", "default"): ("ok", ""),
}


def rows_by_key(path):
    return {(r.case, r.backend, r.variant): r for r in load_results(path).itertuples()}


def test_every_fault_costs_only_its_own_row_through_the_cli(plugins, write_suite, tmp_path, cli):
    backends = sorted({backend for backend, _ in EXPECTED})
    suite = write_suite(CASES + f"backends: [{', '.join(backends)}]\n")
    out = tmp_path / "out"
    result = cli("run", suite, "-o", out, "--timeout", "2", timeout=240)
    assert result.returncode == 1, result.stderr  # something failed, and the status says so
    assert own_stderr(result.stderr) == ""  # nothing a backend printed leaks into gemmbench's own output
    path = results_path(result.stdout)
    rows = rows_by_key(path)
    assert len(rows) == 2 * len(EXPECTED)
    for (backend, variant), (status, message) in EXPECTED.items():
        for case in ("small", "batch"):  # the second case ran in a fresh worker after the first failed
            row = rows[(case, backend, variant)]
            assert (row.status, message in row.message) == (status, True), (case, backend, variant, row.message)
            if status == "ok":
                assert row.median_ns > 0 and len(row.samples_ns) == 3
    assert read_metadata(path)["complete"] is True
    failed = 2 * sum(status != "ok" for status, _ in EXPECTED.values())
    assert f"{len(rows)} rows, {failed} failed; results: {path}" in result.stdout
    assert temp_files(out) == []


def run(write_suite, tmp_path, backends: str, **options):
    suite = load_suite(write_suite(CASES + f"backends: [{backends}]\n"))
    return run_suite(suite, RunOptions(out_dir=tmp_path / "out", progress=False, **options))


def test_a_leak_stops_at_the_memory_limit_with_a_row_naming_it(plugins, write_suite, tmp_path):
    limit = 400 << 20
    outcome = run(write_suite, tmp_path, "test-leak, test-good", memory_limit=limit)
    assert outcome.exit_status == 1
    rows = rows_by_key(outcome.path)
    for case in ("small", "batch"):
        python = rows[(case, "test-leak", "python")]
        assert python.status == "error" and "MemoryError" in python.message
        assert "[worker memory limit 400 MiB; see --memory-limit]" in python.message
        native = rows[(case, "test-leak", "native")]  # malloc fails, careless C writes through NULL
        assert native.status == "crashed" and "SIGSEGV" in native.message
        assert "of the 400 MiB limit (--memory-limit)" in native.message
        assert rows[(case, "test-good", "default")].status == "ok"


def test_the_worker_runs_under_the_memory_limit(plugins, write_suite, tmp_path, cli):
    suite = write_suite("name: limits\nbackends: [test-limits]\ncases: [{name: small, m: 32, k: 16}]\n")
    limits = {}
    for flag in ([], ["--memory-limit", "1.5G"], ["--memory-limit", "25%"], ["--memory-limit", "none"]):
        result = cli("run", suite, "-o", tmp_path, "-q", *flag)
        assert result.returncode == 0, result.stderr
        limits[" ".join(flag)] = {int(d) for d in load_results(result.stdout.strip())["detail"]}
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]  # a limit never exceeds the hard limit it inherits

    def capped(limit):
        return {limit if hard == resource.RLIM_INFINITY else min(limit, hard)}

    assert limits[""] == capped(int(physical_memory() * WORKER_MEMORY_SHARE))
    assert limits["--memory-limit 1.5G"] == capped(int(1.5 * 2**30))
    assert limits["--memory-limit 25%"] == capped(int(physical_memory() * 0.25))
    assert limits["--memory-limit none"] == {resource.RLIM_INFINITY}


@pytest.mark.parametrize("variant", ["fork", "thread"])
def test_what_a_backend_leaves_running_does_not_outlive_its_worker(plugins, write_suite, tmp_path, recorded,
                                                                   variant):
    outcome = run(write_suite, tmp_path, f"test-fork:{variant}")  # would hang if the run waited for them
    assert {row["status"] for row in outcome.rows} == {"ok"} and len(outcome.rows) == 2
    if variant == "fork":
        assert len(recorded.pids()) == 4  # a forked child and a `sleep` per case
    assert recorded.wait_until_gone() == []


def test_a_worker_that_never_starts_times_out(plugins, write_suite, tmp_path, monkeypatch):
    monkeypatch.setenv("GEMMBENCH_TEST_HANG_AT_START", "1")
    outcome = run(write_suite, tmp_path, "test-start-hang, test-good", startup_timeout=1.5)
    rows = rows_by_key(outcome.path)
    for case in ("small", "batch"):
        row = rows[(case, "test-start-hang", "")]
        assert row.status == "timeout" and row.message == "worker sent nothing for 1.5 s while starting; killed"
        assert rows[(case, "test-good", "default")].status == "ok"
    assert outcome.exit_status == 1


@pytest.mark.parametrize("value, message", [
    ("0", "--timeout: expected a positive number of seconds, got 0.0"),
    ("inf", "--timeout: expected a positive number of seconds, got inf"),
])
def test_bad_timeout_is_refused(cli, value, message):
    result = cli("run", "quick", "--timeout", value)
    assert result.returncode == 2 and result.stderr == f"gemmbench: error: {message}\n"


@pytest.mark.parametrize("value", ["12Q", "-1G", "0", "10", "abc"])
def test_bad_memory_limit_is_refused(cli, value):
    result = cli("run", "quick", f"--memory-limit={value}")
    assert result.returncode == 2
    assert result.stderr == (f"gemmbench: error: --memory-limit: expected a size like 8G, 512M or 50%, "
                             f"or 'none' (at least 1M); got {value!r}\n")


def test_a_worker_that_cannot_be_started_is_a_crashed_row(plugins):
    from gemmbench.measure.supervisor import Group, Settings, Supervisor
    from gemmbench.measure.timing import TimingSettings
    from gemmbench.ops.matrix import matrix_case

    supervisor = Supervisor(Settings(cpus=[0], memory_limit=None, python="/no/such/python"))
    (slot,) = supervisor.measure_case(matrix_case("small", 32, 16), TimingSettings(timeout=5), [Group("test-good", 1)], set())
    assert slot.failure["status"] == "crashed" and slot.variant == ""
    assert slot.failure["message"].startswith("could not start a worker: [Errno 2] No such file or directory")
