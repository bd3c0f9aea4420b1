"""Ops are plugins: one from outside gemmbench runs end to end, and older files still load and compare."""

from pathlib import Path

import pytest

from gemmbench.data.results import column_names, load_results, op_columns

ROOT = Path(__file__).resolve().parent.parent
# The fleet baseline committed before ops were plugins (first-format key; schema 1)
BASELINE = next((ROOT / "results" / "baseline" / "amd-epyc+avx2+avx512f+avx512_vnni+avx512_bf16").rglob("*.parquet"))


def test_an_op_from_a_plugin_runs_suite_to_report(plugins, write_suite, cli, tmp_path):
    suite = write_suite("name: sums\nbackends: [test-running-sum, numpy]\n"
                        "cases:\n  - {name: sums, op: test_running_sum, length: [64, 1000], decay: 0.5}\n")
    result = cli("run", suite, "-o", tmp_path, "-q", "--report")
    assert result.returncode == 0, result.stderr
    path, report = result.stdout.split()
    rows = load_results(path)
    mine = rows[rows["backend"] == "test-running-sum"]
    assert list(mine["status"]) == ["ok", "ok"] and mine["test_sums_per_second"].gt(0).all()
    assert set(mine["shape"]) == {"n=64", "n=1000"} and mine["sample_rounds"].map(len).gt(0).all()
    assert rows[rows["backend"] == "numpy"].empty  # numpy's variants run its own ops only: no rows to skip
    assert 'id="plot-test_running_sum"' in Path(report).read_text()


def test_a_stateful_op_catches_a_backend_that_forgets_its_state(plugins, run_rows):
    rows = run_rows("name: s\nbackends: [test-forgetful]\ncases: [{name: sums, op: test_running_sum, length: 32}]\n")
    (row,) = rows.values()
    assert row.status == "wrong" and "relative error" in row.message


def test_an_op_plugin_adds_its_columns_to_the_schema(plugins):
    assert "test_sums_per_second" in column_names()
    assert ("test_sums_per_second", "test_running_sum") in {(name, op) for name, _, _, op in op_columns()}


@pytest.mark.parametrize("command", ["compare", "report"])
def test_the_committed_baseline_written_before_ops_were_plugins_still_loads_and_compares(cli, tmp_path, command):
    frame = load_results(BASELINE)
    assert {"m", "k", "n", "sparsity", "rtf"} <= set(frame.columns) and frame["seq"].isna().all()
    args = [BASELINE, BASELINE] if command == "compare" else [BASELINE, "-o", tmp_path / "r.html"]
    result = cli(command, *args)
    assert result.returncode == 0, result.stderr
