"""Numbers under the conditions a vocoder runs in (issue 25): preempted samples taken again, the
measuring CPU chosen, cache states and pages as case settings reaching their rows, refused in one
line where the machine cannot give them, and the decision table saying what it holds for."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import pytest

from gemmbench.measure import cache, cpus, pages, timing

LINUX = sys.platform.startswith("linux")
needs_linux = pytest.mark.skipif(not LINUX, reason="CPU affinity and per-thread rusage are Linux's")


@contextlib.contextmanager
def busy_on(cpu: int):
    """A process spinning on `cpu` for as long as the block lasts (ended by its own pid)."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    try:
        time.sleep(0.3)  # running flat out before anything looks
        yield proc
    finally:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------- preempted samples

class Scripted:
    """A sampler answering with preempted or clean samples in the order given."""

    def __init__(self, preempted: list[bool]):
        self.answers, self.taken, self.warmed = list(preempted), 0, 0

    def loop(self, loops: int) -> int:
        self.warmed += 1
        return loops

    def take(self, loops: int) -> timing.Sample:
        preempted = self.answers[self.taken]
        self.taken += 1
        return timing.Sample(10.0 + preempted, 10.0, int(preempted), preempted)


def test_a_preempted_sample_is_taken_again_rewarmed_until_a_clean_one_comes():
    script = Scripted([True, True, False])
    sample, seen = timing.steady_sample(script.loop, script.take, 100, 0.25, retakes=3)
    assert not sample.preempted and seen == 2 and script.taken == 3 and script.warmed == 3


def test_retakes_are_bounded_and_the_last_sample_is_kept_marked():
    script = Scripted([True] * 5)
    sample, seen = timing.steady_sample(script.loop, script.take, 100, 0.25, retakes=2)
    assert sample.preempted and seen == 3 and script.taken == 3
    sample, seen = timing.steady_sample(Scripted([True]).loop, Scripted([True]).take, 100, 0.25, retakes=0)
    assert sample.preempted and seen == 1


def test_a_sample_whose_wall_time_runs_ahead_of_its_cpu_time_is_preempted_without_a_switch():
    # A native loop that reports its own clocks: 10% of the wall time off the CPU (a hypervisor's steal).
    stolen = timing.sampler(lambda loops: timing.Clocks(1_000_000, 900_000, 0))(10)
    assert stolen.preempted and stolen.switches == 0 and stolen.cpu_ns == 90_000
    clean = timing.sampler(lambda loops: timing.Clocks(1_000_000, 1_000_500, 0))(10)
    assert not clean.preempted and clean.wall_ns == 100_000


@needs_linux
def test_a_real_switched_out_sample_is_marked_and_taken_again():
    """A busy process on the sampling thread's CPU: a 30 ms sample cannot finish within one time slice."""
    cpu = cpus.allowed()[-1]
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        spin = timing.python_loop(lambda: sum(range(20_000)))
        calls = timing.calibrate(spin, 30e6)
        with busy_on(cpu):
            sample, seen = timing.steady_sample(spin, timing.sampler(spin), calls, 0.0, retakes=2)
    finally:
        os.sched_setaffinity(0, before)
    assert seen >= 1  # found preempted, and taken again
    assert sample.preempted == (seen > 2)  # kept marked only when the retakes ran out


@needs_linux
def test_csimd_reads_the_threads_clocks_in_c_around_its_native_loop():
    import numpy as np

    from gemmbench.backends.csimd import kernels as K

    kern = K.load_kernels("scalar")
    w = np.ones((64, 32), np.float32)
    x, y = np.ones(32, np.float32), np.empty(64, np.float32)
    call = K.bind(K.prepare_gemv(kern, w), x, y)
    clocks = K.run_clocks(call, x, y, 2000)
    assert isinstance(clocks, int) and clocks > 0 and clocks.cpu_ns > 0 and clocks.switches >= 0
    np.testing.assert_allclose(y, 32.0)


@pytest.mark.slow
@needs_linux
def test_a_run_beside_a_busy_process_on_its_cpu_takes_preempted_samples_again(run_rows):
    cpu = cpus.allowed()[-1]
    body = """
name: busy
backends: [numpy, "csimd:scalar"]
defaults: {warmup: 0.001, min_time: 0.03, samples: 4, max_time: 30, retakes: 1}
cases: [{name: a, m: 64, k: 64}]
"""
    with busy_on(cpu):
        rows = run_rows(body, cpus=(cpu,))
    for row in rows.values():
        assert row.cpus == str(cpu) and row.status == "ok"
        # each 30 ms sample (Python call and native loop alike) shares the CPU with the busy process
        assert row.preempted_samples >= len(row.samples_ns)
        assert set(row.preempted_rounds) <= set(row.sample_rounds)


# ---------------------------------------------------------------- the measuring CPU

@needs_linux
def test_the_cpu_choice_avoids_a_cpu_kept_busy():
    allowed = cpus.allowed()
    if len(allowed) < 2:
        pytest.skip(f"this process may use {len(allowed)} CPU: there is nothing to choose between")
    busy = allowed[-1]  # the one every run measured on before CPUs were chosen
    with busy_on(busy):
        choice = cpus.choose(seconds=0.5)
    assert choice.busy[busy] > cpus.BUSY and not choice.pinned
    if min(choice.busy.values()) < choice.busy[busy] - 0.2:  # another CPU is visibly freer (the machine is shared)
        assert choice.cpus[0] != busy
    assert sorted(choice.cpus) == allowed


def test_every_cpu_busy_is_said_with_what_to_do():
    spare = cpus.Choice((1, 0), {1: 0.1, 0: 0.95}, False)
    assert not spare.all_busy and spare.warning() == "" and spare.text() == "CPU 1 (10% busy; CPU 0 95%)"
    crowded = cpus.Choice((1, 0), {1: 0.9, 0: 0.97}, False)
    assert crowded.all_busy and "--cpus" in crowded.warning() and "90% busy" in crowded.warning()
    assert cpus.Choice((0,), {}, True).text() == "CPU 0, pinned"


def test_busy_share_counts_steal_and_leaves_idle_and_iowait():
    before = [100, 0, 0, 100, 0, 0, 0, 0]
    after = [110, 0, 0, 170, 10, 0, 0, 10]  # user 10, idle 70, iowait 10, steal 10 of 100 ticks
    assert cpus.busy_share(before, after) == pytest.approx(0.2)


def test_pinned_cpus_outside_the_allowed_ones_are_refused_in_one_line(cli, write_suite):
    allowed = cpus.allowed()
    result = cli("run", write_suite("name: t\nbackends: [numpy]\ncases: [{name: a, m: 8, k: 8}]\n"), "--cpus",
                 str(max(allowed) + 1))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--cpus: CPU" in result.stderr and "not one this run may use" in result.stderr


# ---------------------------------------------------------------- cache states and pages

SUITE = """
name: conditions
backends: [numpy]
defaults: {warmup: 0.001, min_time: 0.0002, samples: 4, max_time: 5, between_bytes: 65536}
cases:
  - {name: gru, m: 512, k: 256, cache: [hot, between, cold], pages: [huge, normal]}
  - {name: step_gru, m: 48, k: 16, cache: [hot, cold]}
  - {name: step, op: lpcnet_step, m: 48, k: 16, steps: 1}
"""


@pytest.fixture(scope="module")
def condition_rows(tmp_path_factory):
    """One real run of SUITE through the CLI: its stdout and its rows."""
    from gbtest import results_path, run_cli
    from gemmbench.data.results import load_results

    if not pages.advisable():
        pytest.skip(f"transparent huge pages are {pages.transparent_hugepages()}: pages huge is refused here")
    folder = tmp_path_factory.mktemp("conditions")
    suite = folder / "suite.yaml"
    suite.write_text(SUITE)
    result = run_cli("run", suite, "-o", folder)
    assert result.returncode == 0, result.stderr
    path = results_path(result.stdout)
    return result.stdout, load_results(path), path


def test_each_cache_state_and_page_setting_reaches_its_row(condition_rows):
    _, frame, _ = condition_rows
    gru = frame[frame["case"] == "gru"]
    assert set(zip(gru["cache"], gru["pages"])) == {(c, p) for c in cache.STATES for p in pages.MODES}
    assert (gru["status"] == "ok").all() and len(gru) == 6
    between = gru[gru["cache"] == "between"]
    assert (between["between_bytes"] == 65536).all()
    assert gru[gru["cache"] != "between"]["between_bytes"].isna().all()
    cold = gru[gru["cache"] == "cold"]
    # the pile: copies of the 512 KiB matrix (numpy) enough to outgrow the caches twice over
    capacity = cache.cache_capacity()
    numpy_cold = cold[cold["backend"] == "numpy"]
    assert (numpy_cold["placements"] * 512 * 256 * 4 >= cache.COLD_PILE * capacity).all()
    hot = gru[gru["cache"] == "hot"]
    assert hot["cpu_median_ns"].notna().all() and cold["cpu_median_ns"].isna().all()  # a cold call is timed alone
    assert set(frame[frame["case"] == "step"]["pages"]) == {pages.effective("huge")}


def test_the_run_shows_the_other_conditions_beside_the_decision(condition_rows):
    stdout, _, _ = condition_rows
    assert "best per case and precision (1 thread; hot cache (calls back to back), 2 MiB pages; also measured: " \
           "cache between, cold; pages normal)" in stdout
    assert "each cache state measured (native time where measured):" in stdout and "cold / hot" in stdout
    assert "2 MiB against 4 KiB pages (native time where measured):" in stdout and "huge pages worth" in stdout
    assert "GRU-A's product in a vocoder step, and the same product measured alone:" in stdout


@pytest.mark.slow
def test_the_report_shows_them_and_its_decision_can_be_asked_for_a_state(condition_rows, tmp_path, cli):
    from gbtest import write_results

    _, frame, results = condition_rows
    out = tmp_path / "r.html"
    assert cli("report", results, "-o", out).returncode == 0
    page = out.read_text()
    assert "Under other conditions" in page and "huge pages worth" in page and "alone, cold" in page
    assert "These numbers hold for 1 thread; hot cache (calls back to back), 2 MiB pages" in page
    asked = cli("report", results, "-o", out, "--cache", "cold", "--pages", "normal")
    assert asked.returncode == 0, asked.stderr
    assert "These numbers hold for 1 thread; cold cache (weights pushed out before each call), 4 KiB pages" \
        in out.read_text()
    hot_only = write_results(frame[frame["cache"] == "hot"], tmp_path / "hot.parquet", "hot-only")
    missing = cli("report", hot_only, "-o", out, "--cache", "cold")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "no timed row ran with cache cold on huge pages; these results hold: cache hot" in missing.stderr


def test_a_decision_holds_for_one_set_of_conditions_and_says_which():
    from gemmbench.stats.decide import Conditions, decide

    def row(backend, ns, state, mode="huge"):
        return {"run_id": "r", "case": "a", "threads": 1, "backend": backend, "variant": "v", "status": "ok",
                "median_ns": ns, "cache": state, "pages": mode, "precision": "float32"}

    rows = [row("numpy", 10.0, "hot"), row("fast", 5.0, "hot"), row("numpy", 40.0, "cold"),
            row("fast", 45.0, "cold"), row("numpy", 12.0, "hot", "normal")]
    hot = decide(rows)
    assert hot.conditions == Conditions("hot", "huge") and [c.backend for c in hot.choices] == ["fast"]
    assert hot.conditions_text() == ("hot cache (calls back to back), 2 MiB pages; also measured: cache cold; "
                             "pages normal")
    cold = decide(rows, conditions=Conditions("cold", "huge"))
    assert [c.backend for c in cold.choices] == ["numpy"] and cold.choices[0].is_baseline


def test_normal_pages_allocate_as_malloc_and_huge_ones_are_advised():
    import inspect

    from test_pages import _smaps_entry

    code = ("import sys, numpy\nfrom gemmbench.measure import pages\n" + inspect.getsource(_smaps_entry) +
            "pages.use(sys.argv[1])\nfrom gemmbench.cases.workload import aligned_empty\n"
            "a = aligned_empty((1 << 21,), numpy.float32)\na[...] = 1\n"
            "e = _smaps_entry(a.ctypes.data)\n"
            "print(a.ctypes.data % pages.HUGE_PAGE == 0, e.get('THPeligible'), pages.placed_bytes())\n")
    if not LINUX or not pages.advisable():
        pytest.skip("transparent huge pages are Linux's, in madvise or always mode")
    normal = subprocess.run([sys.executable, "-c", code, "normal"], capture_output=True, text=True)
    huge = subprocess.run([sys.executable, "-c", code, "huge"], capture_output=True, text=True)
    assert normal.returncode == 0 and huge.returncode == 0, normal.stderr + huge.stderr
    aligned, eligible, placed = huge.stdout.split()
    assert aligned == "True" and placed == str(4 << 21)
    if pages.transparent_hugepages() == "madvise" and eligible != "None":
        assert eligible == "1" and normal.stdout.split()[1] == "0"  # nobody asked for huge pages there
    assert normal.stdout.split()[2] == str(4 << 21)  # counted either way: a large row gets its placements


def test_each_setting_is_refused_in_one_line_where_the_machine_cannot_give_it(write_suite, tmp_path, monkeypatch,
                                                                             capsys):
    from gemmbench import cli
    from gemmbench.machine import caches

    suite = write_suite("name: t\nbackends: [numpy]\ncases: [{name: a, m: 8, k: 8, pages: huge}]\n")
    setting = tmp_path / "enabled"
    setting.write_text("always madvise [never]\n")
    monkeypatch.setattr(pages, "THP_SETTING", setting)
    assert cli.main(["run", str(suite), "-o", str(tmp_path)]) == 2
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and "field 'pages': pages: huge needs transparent huge pages" in said
    assert "this machine's is never" in said
    assert cli.main(["run", str(suite), "-o", str(tmp_path), "--pages", "normal"]) == 0  # normal it can give
    capsys.readouterr()

    monkeypatch.setattr(caches, "SYSFS_CPUS", tmp_path / "no-sysfs")
    assert cli.main(["run", str(suite), "-o", str(tmp_path), "--pages", "normal", "--cache", "cold"]) == 2
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and "--cache: cache: cold sizes its pile" in said

    assert cli.main(["run", str(suite), "--pages", "normal", "--cache", "between", "--metric", "instructions"]) == 2
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and "cache between is timed only" in said
    assert cli.main(["run", str(suite), "--cache", "lukewarm"]) == 2
    assert "--cache: expected one or more of hot, between, cold" in capsys.readouterr().err


def test_a_suite_names_cache_states_and_pages_and_refuses_others_in_one_line(write_suite):
    from gemmbench.cases.suite import load_suite
    from gemmbench.errors import SuiteError

    suite = load_suite(write_suite("name: t\ncpus: [0]\ncases: [{name: a, m: 8, k: 8, cache: [hot, cold], "
                                   "pages: normal, retakes: 0, between_bytes: 4096}]\n"))
    case = suite.cases[0]
    assert case.cache == ("hot", "cold") and case.pages == ("normal",) and suite.cpus == (0,)
    assert case.timing.retakes == 0 and case.timing.between_bytes == 4096
    with pytest.raises(SuiteError) as caught:
        load_suite(write_suite("name: t\ncpus: x\ncases: [{name: a, m: 8, k: 8, cache: warm, pages: [huge, 4k]}]\n"))
    problems = caught.value.problems
    assert any("field 'cache': must be one of hot, between, cold or a list of them" in p for p in problems)
    assert any("field 'pages': must be one of huge, normal or a list of them" in p for p in problems)
    assert any("field 'cpus': must be a CPU number or a list of them" in p for p in problems)


def test_the_preempted_note_counts_marked_rounds_of_rows_read_back_from_a_file():
    import numpy as np

    from gemmbench.report.summary import _sample_notes

    rows = [{"status": "ok", "samples_ns": np.array([1.0, 2.0]), "preempted_samples": 3,
             "preempted_rounds": np.array([], dtype=np.int64)},  # as load_results gives them: arrays
            {"status": "ok", "samples_ns": np.array([1.0]), "preempted_samples": 2, "preempted_rounds": np.array([4])}]
    (note,) = [cells for cells in _sample_notes(rows).notes if "preempted" in cells]
    assert note.startswith("preempted samples: 5 ") and "; 1 kept after the retakes ran out" in note
