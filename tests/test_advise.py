"""gemmbench advise: the frontier from known rows, the int8 model, the budget, and the command end to end."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from gbtest import ROOT
from gemmbench.advise import accuracy
from gemmbench.advise.frontier import Candidate, Ratio, beats, frontier, recommend
from gemmbench.commands.advise import parse_budget
from gemmbench.errors import UsageError
from gemmbench.formats import quant

EXAMPLE = ROOT / "suites" / "models" / "example.npz"


def cand(label: str, error: float, time_ns: float, spread: float = 0.05, reference: bool = False) -> Candidate:
    return Candidate(label, "case", label, "fmt", error, time_ns, time_ns * (1 - spread), time_ns * (1 + spread),
                     reference)


# ---------------------------------------------------------------- the frontier

def test_frontier_of_known_rows():
    rows = [cand("exact-slow", 1e-7, 1000), cand("exact-fast", 1e-7, 500), cand("int8", 0.01, 200),
            cand("int8-worse-slower", 0.02, 300), cand("sparse", 0.3, 50), cand("sparse-more-error", 0.5, 60)]
    assert [c.label for c in frontier(rows)] == ["sparse", "int8", "exact-fast"]


def test_a_faster_row_within_the_noise_does_not_push_one_off():
    accurate, quick = cand("accurate", 0.01, 105, spread=0.1), cand("quick", 0.02, 100, spread=0.1)
    slightly_worse = cand("same-error-tie", 0.0104, 110, spread=0.1)  # within 5%: the same error
    assert not beats(accurate, slightly_worse)  # 105 vs 110 with +-10%: a tie
    assert [c.label for c in frontier([accurate, quick, slightly_worse])] == ["quick", "accurate", "same-error-tie"]
    clearly_slower = cand("same-error-slow", 0.0104, 200, spread=0.05)
    assert beats(accurate, clearly_slower) and clearly_slower not in frontier([accurate, clearly_slower])


def test_more_accurate_and_no_slower_beats_a_row_inside_its_noise():
    exact, pruned = cand("exact", 1e-7, 850, spread=0.5), cand("pruned", 0.48, 1700, spread=0.6)
    assert beats(exact, pruned) and [c.label for c in frontier([exact, pruned])] == ["exact"]


def test_errors_below_the_float32_floor_are_equal():
    numpy, kernel = cand("numpy", 8e-8, 2000), cand("kernel", 1e-7, 900)
    assert [c.label for c in frontier([numpy, kernel])] == ["kernel"]


def test_reference_implementations_are_never_on_it_nor_advised():
    rows = [cand("ref", 0.001, 10, reference=True), cand("real", 0.001, 100)]
    assert [c.label for c in frontier(rows)] == ["real"]
    assert recommend(rows, 0.01).best.label == "real"


def test_recommendation_runner_up_and_ties():
    rows = [cand("fast-bad", 0.5, 50), cand("best", 0.005, 100, 0.02), cand("close", 0.001, 103, 0.02),
            cand("far", 1e-7, 300, 0.02)]
    advice = recommend(rows, 0.01)
    assert advice.best.label == "best" and advice.runner_up.label == "close" and advice.versus.tie
    assert [c.label for c in advice.ties] == ["close"]
    wide = cand("wide", 1e-7, 180, 0.5)  # slower by its median, but its interval reaches the best's
    assert [c.label for c in recommend([*rows, wide], 0.01).ties] == ["close", "wide"]
    advice = recommend([rows[1], rows[3]], 0.01)
    assert advice.runner_up.label == "far" and not advice.versus.tie and advice.versus.low > 2.5
    nothing = recommend(rows, 1e-9)
    assert nothing.best is None and nothing.most_accurate.label == "far"


def test_pairing_decides_when_it_can():
    slow, fast = cand("slow", 0.01, 110, 0.2), cand("fast", 0.01, 100, 0.2)
    assert not beats(fast, slow)  # the common-scale intervals overlap
    assert beats(fast, slow, pairing=lambda a, b: Ratio(1.1, 1.08, 1.12))  # paired round by round: clear


# ---------------------------------------------------------------- accuracy

@pytest.mark.parametrize("scheme", sorted(quant.SCHEMES))
@pytest.mark.parametrize("with_diagonal", [False, True])
def test_vectorised_int8_model_is_the_reference_bit_for_bit(scheme, with_diagonal):
    rng = np.random.default_rng(4)
    weights = (rng.standard_normal((48, 16)) / 4).astype(np.float32)
    weights[5] *= 9  # an outlier row
    x = rng.uniform(-1.3, 1.3, (7, 16)).astype(np.float32)  # some beyond the u8 clip
    diagonal = None
    if with_diagonal:
        diagonal = weights[np.arange(48), np.arange(48) % 16].copy()
    ours = accuracy.int8_outputs(weights, diagonal, quant.SCHEMES[scheme], x)
    block = weights.copy()
    if with_diagonal:
        block[np.arange(48), np.arange(48) % 16] = 0
    qw = quant.quantize_weights(block, quant.SCHEMES[scheme])
    for row, vector in enumerate(x):
        expected = quant.int8_gemv_reference(qw, vector, diagonal)
        assert np.array_equal(ours[row], expected.astype(np.float64))


def test_outlier_rows_per_tensor_against_per_row():
    rng = np.random.default_rng(5)
    weights = rng.standard_normal((64, 32)) / np.sqrt(32)
    weights[[3, 40]] *= 12
    x = rng.uniform(-1, 1, (50, 32))
    found = accuracy.outlier_rows(weights, x, x @ weights.T)
    assert found.rows == (3, 40) and found.factor > 4
    assert found.per_tensor[1] > 5 * found.per_row[1]  # the other rows lose to the outliers' scale
    assert accuracy.outlier_rows(rng.standard_normal((64, 32)), x, x @ weights.T) is None


def test_clipped_share():
    acts = accuracy.Activations(np.array([[0.5, 1.5], [-2.0, 1.0]]), "t", True)
    assert acts.clipped == 0.5


# ---------------------------------------------------------------- the budget

@pytest.mark.parametrize("text, budget", [("1%", 0.01), ("0.5 %", 0.005), ("0.01", 0.01), ("30dB", 10 ** -1.5),
                                          ("40 dB", 0.01), ("100%", 1.0)])
def test_budget_forms(text, budget):
    assert parse_budget(text) == pytest.approx(budget)


@pytest.mark.parametrize("text", ["", "1 percent", "-3dB", "0", "150%", "x"])
def test_bad_budgets(text):
    with pytest.raises(UsageError, match=r"^--budget: expected a relative error like 1% or 0.01, or an SNR"):
        parse_budget(text)


# ---------------------------------------------------------------- the example and the command

def test_the_committed_example_is_what_its_script_makes():
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        import make_example_model
    finally:
        sys.path.pop(0)
    weights, inputs = make_example_model.arrays()
    for path, arrays in ((EXAMPLE, weights), (make_example_model.INPUTS_OUT, inputs)):
        with np.load(path) as stored:
            assert sorted(stored.files) == sorted(arrays)
            for key, array in arrays.items():
                assert stored[key].dtype == array.dtype
                np.testing.assert_allclose(stored[key].astype(np.float64), array.astype(np.float64), rtol=1e-3,
                                           atol=1e-3)  # LAPACK builds differ in the last bits of the QR
    assert EXAMPLE.stat().st_size < 400 * 1024


def test_bad_files_exit_2_with_one_line(cli, tmp_path):
    result = cli("advise", f"{EXAMPLE}:gru_b", "--quick")
    assert result.returncode == 2
    assert result.stderr == ("gemmbench: error: advise: example.npz has no array 'gru_b'; it holds: gru_a_recurrent "
                             "(1152x384 float16), fc_dense (256x128 float16)\n")
    result = cli("advise", f"{EXAMPLE}:fc_dense", "--budget", "lots")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--budget:" in result.stderr


def test_the_sweep_takes_its_backends_and_blocks_from_its_settings_and_always_runs_the_baseline(plugins):
    from dataclasses import replace

    from gemmbench.advise import sweep
    from gemmbench.advise.target import targets

    (target,) = targets(f"{EXAMPLE}:gru_a_recurrent")
    settings = replace(sweep.QUICK, dense=("test-good", "no-such-backend"), sparse=("test-isa",), blocks=((16, 1),))
    cases = {plan.format: case for plan, case in sweep.planned_cases(target, settings, None)}
    assert cases["dense"]["backends"] == ["numpy", "test-good"]  # the baseline first; a name not installed left out
    assert cases["own 16x1 mask"]["backends"] == ["numpy", "test-isa"]
    assert sorted(name for name in cases if "@" in name) == ["16x1 @5%"]  # QUICK's 20% is above the 10% it holds
    default = {plan.format: case for plan, case in sweep.planned_cases(target, sweep.DEFAULT, None)}
    assert default["dense"]["backends"][0] == "numpy" and "int8-numpy" in default["dense"]["backends"]
    assert {name.split(" @")[0] for name in default if "@" in name} == {"16x1", "8x4"}


def test_advise_refuses_an_unknown_backend_with_one_line(cli):
    result = cli("advise", f"{EXAMPLE}:fc_dense", "--quick", "--sparse-backends", "csimd,scipi")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--sparse-backends: unknown backend 'scipi' (did you mean 'scipy'?)" in result.stderr


@pytest.mark.slow
def test_advise_quick_end_to_end_on_the_example(cli, tmp_path):
    page = tmp_path / "advice.html"
    result = cli("advise", f"{EXAMPLE}:gru_a_recurrent", "--inputs", EXAMPLE.with_name("example_inputs.npz"),
                 "--quick", "--budget", "30dB", "-o", tmp_path / "results", "--page", page, "--no-progress",
                 timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "already sparse: 16x1 blocks at 10.0% (2766 blocks)" in out  # the planted structure, found
    assert "activations: " in out and "example_inputs.npz:gru_a_recurrent, 64 vectors" in out
    assert "Pareto frontier, time against error" in out
    assert "recommended within 3.16%: " in out and "runner-up: " in out
    assert "outlier rows: 4 (max |w| at least " in out and "rows 7, 400, 777, 1100)" in out
    assert "each int8 row's error measured by the run on its inputs equals its scheme's model" in out
    assert "not the model's accuracy" in out
    table_line = next(line for line in out.splitlines() if line.startswith("results: "))
    advice = pd.read_parquet(table_line.split()[1])
    assert advice["recommended"].sum() == 1 and advice["frontier"].any()
    best = advice[advice["recommended"]].iloc[0]
    assert best["error"] <= 10 ** -1.5 and (advice["error"] <= 10 ** -1.5).sum() >= 2
    assert (advice["format"] == "own 16x1 mask float32").any()
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "not the model&#39;s accuracy" in html
