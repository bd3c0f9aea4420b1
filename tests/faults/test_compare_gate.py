"""A baseline from another CPU gates nothing: compare says so, and --require-gated makes that an exit status
(3) a CI gate refuses, instead of the 0 that passed silently."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gemmbench.cases.suite import parse_suite
from gemmbench.cli import main
from gemmbench.measure.runner import RunOptions, run_suite

SUITE = ("name: gate\nbackends: [numpy]\ndefaults: {warmup: 0.001, min_time: 0.0002, samples: 5, max_time: 0.05}\n"
         "cases: [{name: a, m: 16, k: 8}, {name: b, m: 32, k: 8}]\n")
OTHER_CPU = "intel-6-85+avx2+avx512f"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real runs of one suite; and the first as if measured on another CPU."""
    out = tmp_path_factory.mktemp("runs")
    base, new = (run_suite(parse_suite(SUITE), RunOptions(out_dir=out / name, progress=False)).path
                 for name in ("base", "new"))
    table = pq.read_table(base)
    other = out / "other.parquet"
    index = table.schema.get_field_index("feature_key")
    pq.write_table(table.set_column(index, "feature_key", pa.array([OTHER_CPU] * table.num_rows)), other)
    return base, new, other


def test_a_baseline_from_another_cpu_is_refused_by_a_gate_that_requires_one(runs, capsys):
    base, new, other = runs
    assert main(["compare", str(other), str(new)]) == 0  # information only, as before, and it says so
    assert (f"nothing gated: no row of BASE comes from NEW's CPU feature key (BASE: {OTHER_CPU}); cross-machine pairs "
            f"never gate (--require-gated makes that exit 3)") in capsys.readouterr().out

    assert main(["compare", str(other), str(new), "--require-gated"]) == 3
    captured = capsys.readouterr()
    assert captured.err == (f"gemmbench: nothing gated: no row of BASE comes from NEW's CPU feature key (BASE: "
                            f"{OTHER_CPU}); cross-machine pairs never gate; --require-gated refuses that (exit 3)\n")
    assert main(["compare", str(other), str(new), "--require-gated", "--format", "json"]) == 3
    verdict = json.loads(capsys.readouterr().out)
    assert (verdict["exit_status"], verdict["gated"]) == (3, 0)


def test_a_gate_that_judged_pairs_is_not_refused(runs, capsys):
    base, new, _ = runs
    status = main(["compare", str(base), str(new), "--require-gated", "--format", "json"])
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["gated"] == 2 and status == verdict["exit_status"] in (0, 1)
