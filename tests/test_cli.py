"""The real CLI, end to end, in subprocesses."""

import json

from gbtest import results_path
from gemmbench.cases.suite import load_suite
from gemmbench.data.results import column_names, load_results, op_columns
from gemmbench.report.summary import summary
from gemmbench.report.text import text

COLUMN_NAMES = column_names()
OPTIONAL_WHEN_NO_NATIVE = {"native_loops", "native_samples_ns", "native_median_ns", "native_iqr_ns",
                           "native_cpu_samples_ns", "native_cpu_median_ns"}
CONDITIONAL = {"between_bytes", "placement_spread"}  # cache between; rows on several placements
ROOFLINE_ONLY = {"weight_bytes", "roof_level", "roof_gflops", "roof_pct", "core_bound_ns", "core_pct"}  # --roofline
INSTRUCTIONS_ONLY = {"instructions", "d1_misses", "ll_misses", "est_cycles"}  # runs with --metric instructions
RUN_LEVEL = {"call_floor_ns"}  # runs that time a backend with a native call path
COMPOSITE_ONLY = {"steps", "sample_rate", "time_per_sample_ns", "rtf", "native_time_per_sample_ns", "native_rtf",
                  "parts_ratio", "parts_warning"} | {c for c in COLUMN_NAMES if c.startswith(("part_", "share_"))}
STEP_CHOICES = {"activation", "activation_max_abs_err", "output", "sampling"}  # every lpcnet_step row
TREE_ONLY = {"flipped_samples", "near_tie_flips"}  # lpcnet_step rows with output: tree
MATRIX = {"m", "k", "n", "density", "sparsity", "weight_bytes"}
OTHER_OPS = {name for name, _, _, op in op_columns() if op not in ("gemv", "gemm", "lpcnet_step")} - MATRIX


def test_run_quick_end_to_end(cli, tmp_path):
    result = cli("run", "quick", "-o", tmp_path, "--backend", "numpy")
    assert result.returncode == 0, result.stderr
    path = results_path(result.stdout)
    frame = load_results(path)
    assert len(frame) == len(load_suite("quick").cases) and set(frame["status"]) == {"ok"}
    assert "gemv_small" in result.stdout and "numpy:matmul" in result.stdout
    products = frame[frame["op"] != "lpcnet_step"]
    filled = [c for c in COLUMN_NAMES if products[c].notna().all()]
    assert set(COLUMN_NAMES) - set(filled) <= (OPTIONAL_WHEN_NO_NATIVE | COMPOSITE_ONLY | ROOFLINE_ONLY
                                               | INSTRUCTIONS_ONLY | RUN_LEVEL | OTHER_OPS | CONDITIONAL
                                               | STEP_CHOICES | TREE_ONLY)
    step = frame[frame["op"] == "lpcnet_step"]
    assert len(step) == 1 and step[sorted(COMPOSITE_ONLY - {"native_time_per_sample_ns", "native_rtf"} | STEP_CHOICES)
                                   ].notna().all(axis=None)  # the vocoder step fills every composite column and
    # states its choices (numpy has no native loop)
    assert "Traceback" not in result.stderr


def test_run_ends_with_failures_first_then_the_decision_table_then_what_is_next(cli, tmp_path, write_suite,
                                                                                 plugins):
    suite = write_suite("name: q\nbackends: [test-wrong, numpy, int8-numpy]\n"
                        "cases: [{name: a, m: 48, k: 16}, {name: b, m: 48, k: 16, dtype: float64}]\n")
    result = cli("run", suite, "-o", tmp_path)
    assert result.returncode == 1, result.stderr
    out = result.stdout
    path = results_path(out)
    assert out.index("FAILED: 2 rows") < out.index("best per case") < out.index("not run (-v lists every row)")
    table = out[out.index("best per case"):out.index("reference only")]
    assert "baseline" in table and "native" in table and "Python call" in table and "SNR dB" in table
    printed = next(t for t in summary(load_results(path).to_dict("records")) if t.title.startswith("best per case"))
    assert printed.column("best") == ["numpy:matmul", "numpy:matmul"]  # int8-numpy is a reference: never the best
    assert text(printed) in out  # the table printed is the one built
    assert "reference only, never a choice: int8-numpy: 9 timed rows" in out
    assert "w127-row-u8off" not in out  # folded away ...
    assert out.strip().splitlines()[-1] == f"next: gemmbench report {path}"
    assert "w127-row-u8off" in cli("run", suite, "-o", tmp_path, "-v").stdout  # ... and shown on request


def test_quiet_prints_only_the_path(cli, tmp_path, write_suite):
    suite = write_suite("name: q\nbackends: [numpy]\ncases: [{name: a, m: 8, k: 8}]\n")
    result = cli("run", suite, "-o", tmp_path, "-q")
    assert result.returncode == 0 and result.stdout.strip().endswith(".parquet")
    assert len(result.stdout.strip().splitlines()) == 1


def test_failed_rows_exit_1_and_are_saved(cli, tmp_path, write_suite, plugins):
    suite = write_suite("name: q\nbackends: [test-wrong, numpy]\ncases: [{name: a, m: 8, k: 8}]\n")
    result = cli("run", suite, "-o", tmp_path, "-q")
    assert result.returncode == 1
    frame = load_results(result.stdout.strip())
    assert sorted(frame["status"]) == ["ok", "wrong"]


def test_bad_suite_is_one_line_per_problem_exit_2(cli, write_suite):
    suite = write_suite("name: q\ncases:\n  - {name: a, m: -1, k: 8, dtype: half}\n")
    result = cli("validate", suite)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(l.startswith(f"gemmbench: error: {suite}: case 'a': field ") for l in lines)
    assert cli("run", suite).returncode == 2


def test_unknown_backend_is_bad_input(cli, write_suite):
    suite = write_suite("name: q\nbackends: [nonesuch]\ncases: [{name: a, m: 8, k: 8}]\n")
    result = cli("run", suite)
    assert result.returncode == 2
    assert "unknown backend 'nonesuch'; known backends: " in result.stderr and "Traceback" not in result.stderr
    result = cli("run", "quick", "--backend", "numpy:nope")
    assert result.returncode == 2 and "has no variant 'nope'; it has: matmul" in result.stderr


def test_missing_suite_file(cli):
    result = cli("run", "no/such.yaml")
    assert result.returncode == 2 and "no/such.yaml: no such suite file" in result.stderr


def test_validate_shipped_suites(cli):
    result = cli("validate", "suites/gru384.yaml", "quick")
    assert result.returncode == 0, result.stderr
    assert "suite 'gru384'" in result.stdout and "suite 'quick'" in result.stdout


def test_info_reports_machine_and_blas(cli):
    result = cli("info", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["machine"]["cpu_model"] and info["machine"]["cores"] >= 1
    assert any(lib["user_api"] == "blas" for lib in info["blas"])
    text = cli("info").stdout
    assert "cpu_flags" in text and "threadpool" in text and "feature_key" in text


def test_console_script_is_installed_beside_python():
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "gemmbench"
    assert exe.exists(), "the gemmbench console script is installed with the package"
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("gemmbench ")


def test_every_command_prints_its_help(cli):
    from gemmbench.commands import load_all

    for command in load_all():
        result = cli(command.NAME, "--help")
        assert result.returncode == 0 and result.stdout.startswith("usage: gemmbench"), result.stderr
