import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gemmbench.data.results import (
    SCHEMA_VERSION,
    ResultsFile,
    RunInfo,
    column_names,
    journal_path,
    load_results,
    read_metadata,
)
from gemmbench.errors import UsageError


def row(case: str, **extra) -> dict:
    return {"run_id": "r1", "suite": "s", "case": case, "backend": "numpy", "variant": "matmul", "threads": 1,
            "status": "ok", "median_ns": 12.5, "samples_ns": [12.0, 12.5, 13.0], "m": 4, **extra}


def test_round_trip_keeps_every_column_and_raw_samples(tmp_path):
    path = tmp_path / "run.parquet"
    results = ResultsFile(path, RunInfo("r1", "s", "2026-01-01T00:00:00"))
    results.add([row("a")])
    results.add([row("b", noisy=True)])
    results.close()
    frame = load_results(path)
    assert list(frame.columns) == column_names()
    assert list(frame["case"]) == ["a", "b"] and list(frame.iloc[0]["samples_ns"]) == [12.0, 12.5, 13.0]
    meta = read_metadata(path)
    assert meta["complete"] is True and meta["schema_version"] == SCHEMA_VERSION
    assert [p.name for p in tmp_path.iterdir()] == ["run.parquet"]  # no temp files left


def test_rows_are_on_disk_before_the_run_ends(tmp_path):
    path = tmp_path / "run.parquet"
    results = ResultsFile(path, RunInfo("r1", "s", "t"))
    results.create()
    results.add([row("a")])  # into the journal: the parquet file is rewritten only now and then
    assert list(load_results(path)["case"]) == ["a"]
    assert read_metadata(path)["complete"] is False
    results.close()
    assert list(load_results(path)["case"]) == ["a"] and not journal_path(path).exists()


def test_directories_are_read_recursively(tmp_path):
    for i, sub in enumerate(["x", "y/z"]):
        folder = tmp_path / sub
        results = ResultsFile(folder / f"r{i}.parquet", RunInfo(f"r{i}", "s", "t"))
        results.create()
        results.add([row(f"c{i}")])
        results.close()
    assert sorted(load_results(tmp_path)["case"]) == ["c0", "c1"]


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(UsageError, match="missing.parquet: no such results file"):
        load_results(tmp_path / "missing.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="empty: no .parquet result files"):
        load_results(tmp_path / "empty")
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(UsageError, match="junk.parquet: not a readable parquet results file"):
        load_results(junk)


def test_foreign_and_newer_files_are_refused(tmp_path):
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"a": [1]}), foreign)
    with pytest.raises(UsageError, match="foreign.parquet: not a gemmbench results file"):
        load_results(foreign)
    newer = tmp_path / "newer.parquet"
    meta = {b"gemmbench": json.dumps({"schema_version": SCHEMA_VERSION + 1}).encode()}
    pq.write_table(pa.table({"case": ["a"]}).replace_schema_metadata(meta), newer)
    with pytest.raises(UsageError, match="newer.parquet: written by a newer gemmbench"):
        load_results(newer)


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "cut.parquet"
    meta = {b"gemmbench": json.dumps({"schema_version": SCHEMA_VERSION}).encode()}
    pq.write_table(pa.table({"case": ["a"], "run_id": ["r"]}).replace_schema_metadata(meta), path)
    with pytest.raises(UsageError, match="cut.parquet: results file lacks column.*suite"):
        load_results(path)


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "run.parquet"
    results = ResultsFile(path, RunInfo("r1", "s", "t"))
    results.create()
    results.add([row("a")])
    results.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match="run.parquet: not a readable parquet results file"):
        load_results(path)


def test_docs_document_every_column():
    from pathlib import Path

    docs = (Path(__file__).resolve().parent.parent / "docs" / "results.md").read_text()
    undocumented = [name for name in column_names() if f"| `{name}` |" not in docs]
    assert not undocumented


COMMITTED = sorted(path for path in (Path(__file__).resolve().parent.parent / "results").rglob("*.parquet")
                   if read_metadata(path)["schema_version"] < SCHEMA_VERSION)  # the files of older schemas


@pytest.mark.parametrize("path", COMMITTED, ids=[p.parent.name for p in COMMITTED])
def test_a_committed_file_of_an_older_schema_loads_compares_and_reports(path):
    """Files written before the results described themselves (schema 1 and 2): what they lack is derived
    once where they are read (the shape label, each row's role, reference-only flag and pairing with
    numpy), so the read side meets one schema; compare pairs every row with itself, the report decides."""
    from gemmbench import registry
    from gemmbench.report import content
    from gemmbench.report import data as report_data
    from gemmbench.stats.compare import compare_frames

    assert read_metadata(path)["schema_version"] < SCHEMA_VERSION
    frame = load_results(path)
    assert list(frame.columns[:len(column_names())]) == column_names()
    assert frame["shape"].str.len().gt(0).all() and frame["repeat"].eq(0).all()
    declared = {name: registry.backends.get(name).role for name in set(frame["backend"])}  # as installed here
    assert list(frame["role"]) == [declared[name] for name in frame["backend"]]
    timed = frame[(frame["status"] == "ok") & frame["median_ns"].notna()]  # none in a file of counts
    assert (timed["baseline"] == "numpy:matmul").all() and timed["speedup"].gt(0).all()
    assert (timed.loc[timed["backend"] == "numpy", "speedup"] == 1.0).all()
    comparison = compare_frames(frame, frame)
    assert len(comparison.pairs) == len(frame) and not comparison.added and not comparison.removed
    data = report_data.load([path])
    table = content.decision_table(content.decision(data))
    assert set(table.column("case")) - {""} <= set(frame["case"])
    assert bool(table.rows) == bool(len(timed))
