"""compare on the figures that hold on a shared machine: ratios paired by round with the baseline,
run-level tests across repeats, and instruction counts gated only where the dependencies agree."""

import numpy as np
import pytest

from gbtest import write_results
from gemmbench.data.results import load_results
from gemmbench.stats.compare import compare_frames

pytestmark = pytest.mark.slow  # real runs through the CLI: .ci/run and `pytest --slow` run them

ROUNDS = 25


@pytest.fixture(scope="module")
def paired_run(tmp_path_factory):
    """A real run with a baseline (numpy) and a kernel (csimd scalar) measured in the same rounds."""
    from gemmbench.cases.suite import parse_suite
    from gemmbench.measure.runner import RunOptions, run_suite

    suite = parse_suite("name: pairs\nbackends: [numpy, csimd:scalar]\n"
                        f"defaults: {{warmup: 0.001, min_time: 0.0005, samples: {ROUNDS}, max_time: 5}}\n"
                        "cases: [{name: a, m: 96, k: 64}, {name: b, m: 48, k: 32}]\n", "pairs.yaml")
    outcome = run_suite(suite, RunOptions(out_dir=tmp_path_factory.mktemp("pairs"), progress=False, repeat=2))
    return steady(load_results(outcome.path))


def steady(frame, spread=0.02, drift=0.10, seed=1):
    """The run's rows with their samples drawn afresh around each row's median: per (repeat, round) a
    factor every row shares (drift up to `drift`), times each sample's own noise of `spread`. The
    structure (rows, rounds, repeats, columns) is the real run's; the noise is what the test sets, so a
    planted change is judged the same way on a quiet machine and a busy one."""
    rng = np.random.default_rng(seed)
    shared = {}
    out = frame.copy()
    for samples, median in (("samples_ns", "median_ns"), ("native_samples_ns", "native_median_ns")):
        drawn = []
        for (_, row), values in zip(frame.iterrows(), frame[samples]):
            if values is None:
                drawn.append(None)
                continue
            rounds = row["sample_rounds"][:len(values)]
            factors = [shared.setdefault((row["repeat"], r), 1 + drift * rng.uniform(-1, 1)) for r in rounds]
            drawn.append(list(row[median] * np.asarray(factors) * (1 + spread * rng.standard_normal(len(values)))))
        out[samples] = drawn
        out[median] = [np.nan if v is None else float(np.median(v)) for v in drawn]
    return out


def scale(frame, factor_of):
    """Every sample of each row times factor_of(row): drift (all rows alike) or a planted change (some rows)."""
    out = frame.copy()
    for column in ("samples_ns", "native_samples_ns"):
        out[column] = [None if s is None else list(np.asarray(s) * factor_of(row))
                       for s, (_, row) in zip(frame[column], frame.iterrows())]
    for column in ("median_ns", "native_median_ns"):
        out[column] = [v * factor_of(row) for v, (_, row) in zip(frame[column], frame.iterrows())]
    return out


def pairs_by_label(comparison):
    return {(p.key.case, p.key.label): p for p in comparison.pairs}


def one_repeat(frame, repeat=0):
    return frame[frame["repeat"] == repeat].reset_index(drop=True)


def test_drift_that_moves_every_row_alike_is_not_a_regression_at_ten_percent(paired_run):
    base = one_repeat(paired_run)
    drifted = scale(base, lambda row: 1.3)
    result = pairs_by_label(compare_frames(base, drifted, threshold=0.10))
    kernel = result[("a", "csimd:scalar")]
    assert kernel.gated_by == "paired" and kernel.verdict == "unchanged"
    assert kernel.own.ratio == pytest.approx(1.3, rel=1e-6) and kernel.paired.ratio == pytest.approx(1.0)
    baseline = result[("a", "numpy:matmul")]  # its own time is all it has: one run sees no drift, below 0.5
    assert baseline.gated_by in ("native", "python") and baseline.verdict == "unchanged"


def test_a_slowdown_planted_in_one_kernel_is_flagged_through_the_pairing(paired_run):
    base = one_repeat(paired_run)
    slower = scale(base, lambda row: 1.15 if row["backend"] == "csimd" else 1.0)
    comparison = compare_frames(base, slower, threshold=0.10)
    kernel = pairs_by_label(comparison)[("a", "csimd:scalar")]
    assert kernel.verdict == "slower" and kernel.gated_by == "paired" and kernel.paired.ratio == pytest.approx(1.15)
    assert comparison.exit_status == 1


def test_a_regression_of_the_baseline_itself_shows_in_the_rows_own_change(paired_run):
    base = one_repeat(paired_run)
    numpy_slower = scale(base, lambda row: 1.3 if row["backend"] == "numpy" else 1.0)
    kernel = pairs_by_label(compare_frames(base, numpy_slower, threshold=0.10))[("a", "csimd:scalar")]
    assert kernel.paired.ratio == pytest.approx(1 / 1.3)  # against a slower numpy the kernel looks faster ...
    assert kernel.own.ratio == pytest.approx(1.0)  # ... its own time says it did not move: both are shown
    assert kernel.verdict == "insignificant"  # one run a side: the paired verdict needs the own time to agree


def test_a_kernel_that_moved_in_both_figures_is_flagged_and_one_that_moved_in_one_is_not(paired_run):
    base = one_repeat(paired_run)
    both = scale(base, lambda row: 1.2 if row["backend"] == "csimd" else 1.05)
    kernel = pairs_by_label(compare_frames(base, both, threshold=0.10))[("a", "csimd:scalar")]
    assert kernel.own.ratio == pytest.approx(1.2) and kernel.paired.ratio == pytest.approx(1.2 / 1.05)
    assert kernel.verdict == "slower"
    faster_baseline = scale(base, lambda row: 1.05 if row["backend"] == "csimd" else 0.9)
    kernel = pairs_by_label(compare_frames(base, faster_baseline, threshold=0.10))[("a", "csimd:scalar")]
    assert kernel.paired.ratio == pytest.approx(1.05 / 0.9) and kernel.verdict == "insignificant"


def test_repeats_give_run_level_figures(paired_run, tmp_path):
    base_path = write_results(paired_run, tmp_path / "base.parquet", run_id="base")
    new_path = write_results(scale(paired_run, lambda row: 1.6 if row["backend"] == "numpy" else 1.0),
                             tmp_path / "new.parquet", run_id="new")
    comparison = compare_frames(load_results(base_path), load_results(new_path), threshold=0.10)
    result = pairs_by_label(comparison)
    numpy = result[("a", "numpy:matmul")]
    assert (numpy.base_runs, numpy.new_runs) == (2, 2) and numpy.gated_by == "runs"
    assert numpy.runs.ratio == pytest.approx(1.6) and numpy.verdict in ("slower", "insignificant")
    kernel = result[("a", "csimd:scalar")]
    assert kernel.gated_by == "paired runs" and kernel.paired.ratio == pytest.approx(1 / 1.6)


def test_instruction_counts_gate_only_where_compiler_and_libraries_agree(paired_run):
    base = one_repeat(paired_run).assign(metric="instructions", instructions=1000.0)
    more = base.assign(instructions=[1050.0 if b == "csimd" else 1000.0 for b in base["backend"]])
    result = pairs_by_label(compare_frames(base, more, threshold=0.02))
    assert result[("a", "csimd:scalar")].verdict == "slower" and result[("a", "csimd:scalar")].gated_by == "instructions"
    assert result[("a", "numpy:matmul")].verdict == "unchanged"
    other_numpy = more.assign(numpy_version="0.0-elsewhere")
    moved = pairs_by_label(compare_frames(base, other_numpy, threshold=0.02))[("a", "csimd:scalar")]
    assert moved.verdict == "dependencies changed" and "numpy_version" in moved.note
