"""gemmbench compare on a real run against copies of it with a known change.

BASE is a real results file written by a real `gemmbench run` of the quick suite's cases. The
NEW side is derived from it with numpy -- samples scaled by 2, resampled from the same samples,
a feature key or a status changed -- and written through gemmbench.data.results. It is synthetic on
purpose: a known ground truth is what makes the verdicts checkable, which a second timed run on
a shared machine could not give.
"""

import json

import numpy as np
import pytest

from gbtest import write_results
from gemmbench.data.results import load_results
from gemmbench.stats.compare import compare_frames, verdict

pytestmark = pytest.mark.slow  # real runs through the CLI: .ci/run and `pytest --slow` run them

@pytest.fixture
def base(quick_results):
    return load_results(quick_results)


def derive(base, tmp_path, name, **columns):
    """A copy of BASE with columns replaced, written as a results file of its own run."""
    frame = base.assign(**columns)
    return write_results(frame, tmp_path / f"{name}.parquet", run_id=f"derived-{name}")


def scaled(frame, factor, column="samples_ns"):
    return [np.asarray(s) * factor for s in frame[column]]


def resampled(frame, seed=7):
    rng = np.random.default_rng(seed)
    return [rng.choice(np.asarray(s), size=len(s)) for s in frame["samples_ns"]]


def compare_json(cli, base_path, new_path, *options):
    result = cli("compare", base_path, new_path, "--format", "json", *options)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_twofold_slowdown_is_a_regression(cli, quick_results, base, tmp_path):
    slower = derive(base, tmp_path, "slower", samples_ns=scaled(base, 2.0), median_ns=base["median_ns"] * 2)
    status, report = compare_json(cli, quick_results, slower)
    assert status == 1 and report["exit_status"] == 1
    assert [p["verdict"] for p in report["pairs"]] == ["slower"] * len(base)
    for pair in report["pairs"]:
        figure = pair["python"]
        assert figure["ratio"] == pytest.approx(2.0) and figure["p_value"] < 0.01
        assert figure["ci_low"] <= 2.0 <= figure["ci_high"]
        assert pair["gated_by"] == "python" and pair["regressed"]
    assert [g["ratio"] for g in report["geomeans"]] == [pytest.approx(2.0)]
    text = cli("compare", quick_results, slower)
    assert text.returncode == 1 and f"REGRESSION in {len(base)} row(s)" in text.stdout and "2.00x" in text.stdout
    faster = cli("compare", slower, quick_results)  # the same pair the other way round is an improvement
    assert faster.returncode == 0 and f"{len(base)} faster. No significant regression." in faster.stdout


def test_noise_from_the_same_distribution_is_not_a_regression(cli, quick_results, base, tmp_path):
    noise = derive(base, tmp_path, "noise", samples_ns=resampled(base))
    status, report = compare_json(cli, quick_results, noise)
    assert status == 0 and report["regressions"] == 0
    assert not {"slower", "faster"} & {p["verdict"] for p in report["pairs"]}
    assert len(report["pairs"]) == len(base)


def test_a_small_real_change_below_the_threshold_does_not_count(cli, quick_results, base, tmp_path):
    slightly = derive(base, tmp_path, "slightly", samples_ns=scaled(base, 1.03))
    status, report = compare_json(cli, quick_results, slightly)
    assert status == 0 and {p["verdict"] for p in report["pairs"]} == {"unchanged"}
    status, report = compare_json(cli, quick_results, slightly, "--threshold", "0.01")
    assert {p["verdict"] for p in report["pairs"]} == {"unchanged"}  # one run's own time: below the drift threshold
    status, report = compare_json(cli, quick_results, slightly, "--threshold", "0.01", "--drift-threshold", "0.01")
    assert {p["verdict"] for p in report["pairs"]} <= {"slower", "insignificant"}


def test_another_feature_key_is_reported_cross_machine_and_never_gates(cli, quick_results, base, tmp_path):
    other = derive(base, tmp_path, "other", samples_ns=scaled(base, 2.0), feature_key="arm-neoverse-n2")
    status, report = compare_json(cli, quick_results, other)
    assert status == 0 and report["pairs"] == [] and len(report["cross_machine"]) == len(base)
    assert all(p["cross_machine"] and not p["regressed"] and p["verdict"] == "slower"
               for p in report["cross_machine"])
    assert report["added"] == [] and report["removed"] == []
    text = cli("compare", quick_results, other).stdout
    assert f"cross-machine, never gates: base {base.loc[0, 'feature_key']} vs new arm-neoverse-n2" in text
    assert "nothing gated" in text


EPYC_MODEL = "AMD EPYC"  # the committed baseline's CPU, as its rows record it
EPYC_FLAGS = ("avx avx2 avx512_bf16 avx512_bitalg avx512_vbmi2 avx512_vnni avx512_vp2intersect avx512_vpopcntdq "
              "avx512bw avx512cd avx512dq avx512f avx512ifma avx512vbmi avx512vl avx_vnni bmi2 f16c fma sse4_1 sse4_2 "
              "sse4a ssse3")
EPYC_OLD_KEY = "amd-epyc+avx2+avx512f+avx512_vnni+avx512_bf16"  # the first key format, its directory's name


def on_epyc(base, tmp_path, name, key, model=EPYC_MODEL, **columns):
    return derive(base, tmp_path, name, cpu_model=model, cpu_flags=EPYC_FLAGS, feature_key=key, **columns)


def test_a_first_format_key_is_another_machine(cli, base, tmp_path):
    """The brand-string key could not tell Zen 4 from Zen 5 ("AMD EPYC" both): its rows never gate a machine's."""
    old = on_epyc(base, tmp_path, "old", EPYC_OLD_KEY)
    slower = on_epyc(base, tmp_path, "slower", "amd-26-2+avx2+avx512f+avx512_vnni+avx512_bf16",
                     samples_ns=scaled(base, 2.0))
    status, report = compare_json(cli, old, slower)
    assert status == 0 and report["pairs"] == [] and len(report["cross_machine"]) == len(base)
    assert "key_matches" not in report


def test_simulated_cpus_are_named_in_a_comparison(cli, quick_results, base, tmp_path):
    key = base.loc[0, "feature_key"] + "+simulated"
    simulated = derive(base, tmp_path, "simulated", feature_key=key, samples_ns=scaled(base, 2.0))
    status, report = compare_json(cli, quick_results, simulated)
    assert status == 0 and report["pairs"] == [] and report["simulated_keys"] == [key]  # never gates a real one
    text = cli("compare", quick_results, simulated).stdout
    assert f"note: {key} is a simulated CPU (GEMMBENCH_CPU_FLAGS)" in text


def test_a_fleet_against_one_machine_pairs_its_own_key_and_crosses_the_others(base):
    import pandas as pd

    other = base.assign(feature_key="arm-neoverse-n2", samples_ns=scaled(base, 3.0))
    comparison = compare_frames(base, pd.concat([base, other], ignore_index=True))
    assert len(comparison.pairs) == len(base) and {p.verdict for p in comparison.pairs} == {"unchanged"}
    assert len(comparison.cross_machine) == len(base) and not comparison.added
    assert {p.new_feature_key for p in comparison.cross_machine} == {"arm-neoverse-n2"}
    assert comparison.exit_status == 0
    both = pd.concat([base, other], ignore_index=True)
    fully_paired = compare_frames(both, both)  # every row has its own machine's partner: nothing crosses
    assert not fully_paired.cross_machine and len(fully_paired.pairs) == 2 * len(base)


def test_ok_to_wrong_is_a_regression_and_back_is_fixed(cli, quick_results, base, tmp_path):
    frame = base.copy()
    frame.loc[0, ["status", "message"]] = ["wrong", "rel_err 0.3 > tolerance 1e-4 (derived for the test)"]
    frame.loc[0, ["median_ns"]] = [None]
    frame["samples_ns"] = [None] + list(frame["samples_ns"][1:])
    wrong = write_results(frame, tmp_path / "wrong.parquet", run_id="derived-wrong")
    status, report = compare_json(cli, quick_results, wrong)
    broke = [p for p in report["pairs"] if p["verdict"] == "broke"]
    assert status == 1 and len(broke) == 1 and broke[0]["key"]["case"] == base.loc[0, "case"]
    assert broke[0]["new_status"] == "wrong" and broke[0]["python"] is None
    status, report = compare_json(cli, wrong, quick_results)
    assert status == 0 and [p["verdict"] for p in report["pairs"]].count("fixed") == 1


def test_rows_on_one_side_only_are_listed_not_failures(cli, quick_results, base, tmp_path):
    fewer = write_results(base.iloc[1:], tmp_path / "fewer.parquet", run_id="derived-fewer")
    status, report = compare_json(cli, quick_results, fewer)
    assert status == 0 and [u["key"]["case"] for u in report["removed"]] == [base.loc[0, "case"]]
    status, report = compare_json(cli, fewer, quick_results)
    assert status == 0 and [u["key"]["case"] for u in report["added"]] == [base.loc[0, "case"]]
    assert "only in NEW (added)" in cli("compare", fewer, quick_results).stdout


def test_bad_input_exits_2_naming_the_problem(cli, quick_results, base, tmp_path):
    missing = cli("compare", quick_results, tmp_path / "nope.parquet")
    assert missing.returncode == 2 and "nope.parquet: no such results file" in missing.stderr
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(quick_results.read_bytes()[:200])
    result = cli("compare", corrupt, quick_results)
    assert result.returncode == 2 and "corrupt.parquet: not a readable parquet results file" in result.stderr
    unrelated = derive(base, tmp_path, "unrelated", suite="another-suite")
    result = cli("compare", quick_results, unrelated)
    assert result.returncode == 2 and "no row matches" in result.stderr and "nothing to compare" in result.stderr
    result = cli("compare", quick_results, quick_results, "--alpha", "1.5")
    assert result.returncode == 2 and "--alpha: expected a probability" in result.stderr
    for bad in (missing, result):
        assert "Traceback" not in bad.stderr and bad.stdout == ""


def test_native_samples_gate_when_both_rows_have_them(base):
    """numpy has no native loop, so the native samples here are synthetic too (half the Python time)."""
    native = scaled(base, 0.5)
    with_native = base.assign(native_samples_ns=native)
    python_slower = with_native.assign(samples_ns=scaled(base, 2.0))
    comparison = compare_frames(with_native, python_slower)
    assert {p.gated_by for p in comparison.pairs} == {"native"}
    assert {p.verdict for p in comparison.pairs} == {"unchanged"} and comparison.exit_status == 0
    assert [p.python.ratio for p in comparison.pairs] == pytest.approx([2.0] * len(base))  # shown, not gating
    native_slower = with_native.assign(native_samples_ns=scaled(with_native, 2.0, "native_samples_ns"))
    comparison = compare_frames(with_native, native_slower)
    assert {p.verdict for p in comparison.pairs} == {"slower"} and comparison.exit_status == 1
    one_side_only = compare_frames(base, native_slower)  # native on one side only: Python figure gates
    assert {p.gated_by for p in one_side_only.pairs} == {"python"}


def test_newest_row_of_a_key_is_compared(cli, quick_results, base, tmp_path):
    later = base.assign(samples_ns=scaled(base, 2.0), timestamp=base["timestamp"] + np.timedelta64(1, "h"))
    folder = tmp_path / "two-runs"
    write_results(later, folder / "later.parquet", run_id="derived-later")
    write_results(base, folder / "earlier.parquet", run_id="derived-earlier")
    status, report = compare_json(cli, quick_results, folder)
    assert status == 1 and report["ignored_duplicates"] == {"base": 0, "new": len(base)}
    assert "older row(s) of the same case ignored" in cli("compare", quick_results, folder).stdout


def test_output_is_reproducible_and_markdown_renders_tables(cli, quick_results, base, tmp_path):
    noise = derive(base, tmp_path, "noise", samples_ns=resampled(base, seed=3))
    first, second = (cli("compare", quick_results, noise, "--format", "json").stdout for _ in range(2))
    assert first == second  # fixed bootstrap seed
    md = cli("compare", quick_results, noise, "--format", "markdown", "-v").stdout  # -v: unchanged pairs listed
    assert md.startswith("## gemmbench compare: ") and "| case | backend:variant |" in md and "|---|" in md
    assert "### geometric mean" in md


@pytest.mark.parametrize(("base_status", "new_status", "ratio", "p", "expected"), [
    ("ok", "ok", 1.5, 0.001, "slower"),
    ("ok", "ok", 1.5, 0.2, "insignificant"),
    ("ok", "ok", 1.5, float("nan"), "insignificant"),
    ("ok", "ok", 1.04, 0.0001, "unchanged"),
    ("ok", "ok", 0.5, 0.001, "faster"),
    ("ok", "crashed", None, None, "broke"),
    ("ok", "timeout", None, None, "broke"),
    ("error", "ok", None, None, "fixed"),
    ("wrong", "wrong", None, None, "failing"),
    ("ok", "unavailable", None, None, "not timed"),
])
def test_verdict_rules(base_status, new_status, ratio, p, expected):
    from gemmbench.stats.compare import Figure

    figure = Figure("python", 100.0, 100.0 * ratio, ratio, ratio, ratio, p, 9, 9) if ratio else None
    assert verdict(base_status, new_status, figure, threshold=0.05, alpha=0.01) == expected


def test_another_suite_name_is_named_and_paired_on_request_with_condensed_output(cli, base, tmp_path):
    """A user's own suite against the shipped run: only the suite name differs, and the shipped run also
    holds rows that never ran; the output names the mismatch, pairs on request, and counts the rest."""
    import pandas as pd

    untimed = {"samples_ns": None, "median_ns": None, "native_samples_ns": None}
    shipped = pd.concat([base, base.assign(backend="scipy", variant="csr", status="skipped",
                                           message="scipy is a sparse format; this case is dense", **untimed),
                         base.assign(backend="torch", variant="fp32", status="unavailable",
                                     message="torch not installed", **untimed)], ignore_index=True)
    shipped_path = write_results(shipped, tmp_path / "shipped.parquet", run_id="shipped")
    mine = derive(base, tmp_path, "mine", suite="mine", samples_ns=resampled(base))
    refused = cli("compare", shipped_path, mine)
    assert refused.returncode == 2
    assert (f"{len(base)} row(s) differ only in the suite name (BASE {base.loc[0, 'suite']}, NEW mine): "
            "add --ignore-suite to pair them across suite names") in refused.stderr
    paired = cli("compare", shipped_path, mine, "--ignore-suite")
    assert paired.returncode in (0, 1), paired.stderr
    out = paired.stdout
    assert f"{len(base)} skipped: scipy {len(base)}" in out and f"{len(base)} unavailable: torch {len(base)}" in out
    assert "scipy:csr" not in out and "torch:fp32" not in out  # counted, not one line each
    assert out.count(base.loc[0, "feature_key"]) <= 3  # in section titles, not on every line
    every = cli("compare", shipped_path, mine, "--ignore-suite", "-v").stdout
    assert every.count("scipy:csr") == len(base)
