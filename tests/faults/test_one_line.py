"""Inputs that ended in a traceback end in one line naming the file and exit 2 (or work): a weights path
that is a loop of symbolic links, a safetensors header nested 100,000 deep, a results file whose key
columns are empty, a run id too long for a file name."""

import json
import os
import struct

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gemmbench.cases.suite import parse_suite
from gemmbench.cli import main
from gemmbench.data.results import load_results
from gemmbench.measure.runner import RunOptions, run_suite

SUITE = ("name: lines\nbackends: [numpy]\ndefaults: {warmup: 0.001, min_time: 0.0002, samples: 3, max_time: 0.05}\n"
         "cases: [{name: a, m: 16, k: 8}]\n")


def one_line(capsys, *args) -> str:
    """The real CLI's code in this process: exit 2 and one line; the line."""
    status = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert (status, len(err.splitlines())) == (2, 1), err
    assert err.startswith("gemmbench: error: ")
    return err


def test_a_weights_path_that_loops_is_one_line(capsys, tmp_path):
    loop = tmp_path / "loop.npy"
    loop.symlink_to(loop)
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: t\ncases: [{{name: a, weights: {loop.name}}}]\n")
    assert f"field 'weights': loop.npy: a loop of symbolic links ({loop})" in one_line(capsys, "validate", suite)
    assert f"loop.npy: a loop of symbolic links ({loop})" in one_line(capsys, "advise", loop, "-o", tmp_path)


def test_a_safetensors_header_nested_deeply_is_one_line(capsys, tmp_path):
    deep = tmp_path / "deep.safetensors"
    header = b"[" * 100_000 + b"]" * 100_000
    deep.write_bytes(struct.pack("<Q", len(header)) + header)
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: t\ncases: [{{name: a, weights: '{deep.name}:w'}}]\n")
    why = "deep.safetensors: damaged safetensors file (its header is nested too deeply)"
    assert why in one_line(capsys, "validate", suite)
    weights = tmp_path / "w.npy"
    import numpy as np

    np.save(weights, np.ones((8, 8)))
    assert why in one_line(capsys, "advise", weights, "--inputs", deep, "-o", tmp_path)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return run_suite(parse_suite(SUITE), RunOptions(out_dir=out, progress=False)).path


def rewritten(source, target, columns=(), run_id=None):
    """A copy of a results file with `columns` emptied (nulls), or its run id replaced."""
    table = pq.read_table(source)
    meta = json.loads(table.schema.metadata[b"gemmbench"])
    for name in columns:
        table = table.set_column(table.schema.get_field_index(name), name,
                                 pa.nulls(table.num_rows, table.schema.field(name).type))
    if run_id is not None:
        table = table.set_column(table.schema.get_field_index("run_id"), "run_id", pa.array([run_id] * table.num_rows))
        meta["run_id"] = run_id
    pq.write_table(table.replace_schema_metadata({b"gemmbench": json.dumps(meta).encode()}), target)
    return target


@pytest.mark.parametrize("columns", [("case", "backend", "variant"), ("run_id",), ("suite",), ("threads",)],
                         ids=lambda c: "+".join(c))
def test_a_results_file_with_empty_key_columns_is_one_line(capsys, results, tmp_path, columns):
    damaged = rewritten(results, tmp_path / "keys.parquet", columns)
    expected = f"{damaged}: column '{columns[0]}' is empty in 1 row(s); every row gemmbench writes names its "
    for args in (["compare", damaged, results], ["report", damaged, "-o", tmp_path / "r.html"],
                 ["merge", damaged, "--into", tmp_path / "fleet"]):
        assert expected in one_line(capsys, *args)


def test_a_run_id_too_long_for_a_file_name_merges(capsys, results, tmp_path):
    long = rewritten(results, tmp_path / "long.parquet", run_id="r" * 300)
    odd = rewritten(results, tmp_path / "odd.parquet", run_id="a/b")  # '/' would have been '_'
    plain = rewritten(results, tmp_path / "plain.parquet", run_id="a_b")
    assert main(["merge", str(long), str(odd), str(plain), "--into", str(tmp_path / "fleet"), "-q"]) == 0
    parts = sorted(p.name for p in (tmp_path / "fleet").rglob("*.parquet"))
    assert len(parts) == 3 and "part-a_b.parquet" in parts and all(len(name) < 150 for name in parts)
    merged = load_results(tmp_path / "fleet")
    assert sorted(set(merged["run_id"])) == ["a/b", "a_b", "r" * 300]  # none lost to a shared name
    assert not any(name.startswith(".") for name in os.listdir(tmp_path / "fleet"))
