"""gemmbench check on this machine, and the verdict a run keeps."""

import json
import os

import pytest

from gemmbench.data.results import read_metadata


def test_check_reports_each_finding_and_a_verdict(cli):
    result = cli("check", "--json")
    assert result.returncode == 0, result.stderr
    check = json.loads(result.stdout)
    names = {f["name"] for f in check["findings"]}
    assert {"measuring CPU", "steal", "other processes", "calibration loop", "preempted samples", "governor", "turbo",
            "SMT siblings"} <= names
    assert check["verdict"] in ("quiet", "noisy", "very noisy") and check["calibration_cv"] >= 0
    assert check["calibration_spread"] >= 0
    assert 0 <= check["steal"] <= 1 and 0 <= check["preempted"] <= 1
    text = cli("check").stdout  # a second look: the verdict may differ, the shape may not
    assert all(name in text for name in names) and text.count("\nverdict: ") == 1


def test_a_run_keeps_its_check_and_warns_when_the_machine_looked_noisy(cli, write_suite, tmp_path):
    result = cli("run", write_suite("name: t\nbackends: [numpy]\ncases: [{name: a, m: 8, k: 8}]\n"), "-o", tmp_path)
    assert result.returncode == 0, result.stderr
    path = next(line for line in result.stdout.splitlines() if "results: " in line).split("results: ")[-1]
    check = read_metadata(path)["noise_check"]
    assert check["verdict"] in ("quiet", "noisy", "very noisy")
    assert ("machine looked" in result.stdout) == (check["verdict"] != "quiet")
    if check["verdict"] != "quiet":  # the warning names what was noisy
        assert any(f["noisy"] and f"{f['name']}: {f['value']}" in result.stdout for f in check["findings"])


def test_a_verdict_other_than_quiet_always_has_a_noisy_finding():
    from gemmbench.stats.noise import SPREAD_QUIET, Finding, judge

    calm = [Finding("measuring CPU", "CPU 1 (0% busy)", False), Finding("calibration loop", "cv 0.5%", False)]
    assert judge(calm, SPREAD_QUIET / 2) == "quiet"
    one = [Finding("measuring CPU", "CPU 1 (0% busy)", False), Finding("calibration loop", "cv 2%", True)]
    assert judge(one, SPREAD_QUIET * 1.5) == "noisy"
    assert judge([Finding("measuring CPU", "CPU 1 (99% busy)", True), *one], SPREAD_QUIET * 1.5) == "very noisy"


@pytest.mark.slow
def test_the_variance_levels_come_from_real_fresh_processes():
    from gemmbench.commands.check import chosen_row
    from gemmbench.stats.variance import Pair, measure_levels

    said = []
    pair = Pair(chosen_row("numpy", "--baseline"), chosen_row("csimd", "--kernel"))
    levels = measure_levels(pair, processes=2, rounds=5, samples=12, min_time=0.0005, progress=said.append)
    assert [level.name for level in levels] == ["samples (one process)", "processes (back to back)"]
    assert levels[0].measurements == 12 and levels[1].measurements == 2
    assert all(level.baseline_cv > 0 and level.kernel_cv > 0 and level.ratio_cv > 0 for level in levels)
    assert sum("process" in line for line in said) >= 2


def test_levels_pair_a_backend_by_its_float32_gemv_of_the_highest_level_the_cpu_runs(plugins, monkeypatch):
    from gemmbench.cases.suite import Selection
    from gemmbench.commands.check import chosen_row

    monkeypatch.setenv("GEMMBENCH_CPU_FLAGS", "-avx")  # a CPU without AVX, on any host
    assert chosen_row("test-isa", "--kernel") == Selection("test-isa", "scalar")  # above the level-less 'generic'
    assert chosen_row("test-isa:generic", "--kernel") == Selection("test-isa", "generic")
    assert chosen_row("numpy", "--baseline") == Selection("numpy", "matmul")  # its conv1d and IIR methods run no GEMV


@pytest.mark.parametrize("option,value,message", [
    ("--kernel", "nope", "--kernel: unknown backend 'nope'"),
    ("--kernel", "test-isa:avx512", "--kernel: test-isa has no float32 GEMV variant 'avx512' this CPU runs"),
    ("--baseline", "numpy:im2col", "--baseline: numpy has no float32 GEMV variant 'im2col'"),
    ("--kernel", "test-broken-import", "--kernel: backend 'test-broken-import' is unavailable"),
])
def test_levels_refuse_a_row_they_cannot_measure_with_one_line(plugins, cli, option, value, message):
    env = {**os.environ, "GEMMBENCH_CPU_FLAGS": "-avx"}
    result = cli("check", "--levels", option, value, env=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
