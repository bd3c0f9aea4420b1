"""Interleaved rounds on real workers: every row of a case sampled once per round in a seeded shuffled
order, rows paired round by round, repeats in fresh workers, and a crash mid-rounds costing its row only."""

import numpy as np
import pytest

from gemmbench.data.results import read_metadata
from gemmbench.measure.timing import REFERENCE_SAMPLES
from gemmbench.stats import paired

pytestmark = pytest.mark.slow  # real runs through the CLI: .ci/run and `pytest --slow` run them

ROUNDS = 12
SUITE = f"""
name: rounds
backends: [numpy, csimd:scalar, int8-numpy:w127-row-u8off]
defaults: {{warmup: 0.001, min_time: 0.0002, samples: {ROUNDS}, max_time: 5}}
cases: [{{name: a, m: 64, k: 32}}, {{name: b, m: 48, k: 16}}]
"""


def test_every_row_of_a_case_takes_one_sample_per_round_and_pairs_with_its_baseline(run_rows):
    rows = run_rows(SUITE)
    timed = [r for r in rows.values() if r.status == "ok"]
    assert {(r.case, r.backend) for r in timed} >= {("a", "numpy"), ("a", "csimd"), ("b", "numpy")}
    for row in timed:
        # int8-numpy's schemes are references (shown, never chosen): a few samples, in the first rounds
        rounds = REFERENCE_SAMPLES if row.backend == "int8-numpy" else ROUNDS
        assert list(row.sample_rounds) == list(range(rounds)) and len(row.samples_ns) == rounds
        if row.native_samples_ns is not None:
            assert len(row.native_samples_ns) == rounds  # taken in the same rounds as the Python calls
    assert ("a", "int8-numpy", "w127-row-u8off") in rows
    numpy_a, scalar_a = rows[("a", "numpy", "matmul")], rows[("a", "csimd", "scalar")]
    ratios = paired.round_ratios(scalar_a._asdict(), numpy_a._asdict())
    expected = np.asarray(scalar_a.native_samples_ns) / np.asarray(numpy_a.samples_ns)
    np.testing.assert_allclose(ratios, expected)  # native against Python call, round by round
    ratio = paired.paired_ratio(scalar_a._asdict(), numpy_a._asdict())
    assert ratio.rounds == ROUNDS and ratio.low <= ratio.ratio <= ratio.high


def test_the_round_order_is_reproducible_from_its_seed_and_recorded(run_rows, tmp_path):
    from gemmbench.measure.supervisor import round_seed

    run_rows(SUITE, seed=1234)
    (path,) = (tmp_path / "out").glob("*.parquet")
    assert read_metadata(path)["round_seed"] == 1234
    # The shuffle's seed is a function of the recorded seed, the repeat and the case: nothing else.
    assert round_seed(1234, 0, "a") == round_seed(1234, 0, "a")
    assert len({round_seed(1234, 0, "a"), round_seed(1235, 0, "a"), round_seed(1234, 1, "a"), round_seed(1234, 0, "b")}) == 4


def test_a_worker_lost_mid_rounds_costs_its_row_and_the_others_go_on(plugins, run_rows):
    rows = run_rows("name: crash\nbackends: [numpy, test-crash-in-rounds]\n"
                    "defaults: {warmup: 0.001, min_time: 0.0002, samples: 3000, max_time: 30}\n"
                    "cases: [{name: a, m: 32, k: 16}]\n")
    crashed = rows[("a", "test-crash-in-rounds", "crash")]
    assert crashed.status == "crashed" and "SIGABRT" in crashed.message and "sampling round" in crashed.message
    assert 0 < len(crashed.samples_ns) < 3000  # the samples it took before dying are kept
    fine = rows[("a", "test-crash-in-rounds", "fine")]  # lost with the same worker, prepared again in a new one
    assert fine.status == "ok" and len(fine.samples_ns) >= len(crashed.samples_ns)
    numpy = rows[("a", "numpy", "matmul")]
    assert numpy.status == "ok" and len(numpy.samples_ns) == 3000


def test_repeats_run_in_fresh_workers_into_one_file(run_rows):
    rows = run_rows(SUITE, repeat=2,
                    key=("repeat", "case", "backend", "variant"))
    assert {key[0] for key in rows} == {0, 1}
    assert len({r.run_id for r in rows.values()}) == 1
