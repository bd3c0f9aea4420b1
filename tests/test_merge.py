"""gemmbench merge: a real run (and a copy of it posing as a second machine, synthetic on purpose,
since this machine has only one feature key) into a Hive-partitioned dataset read back by
pyarrow.dataset, DuckDB when installed, and gemmbench.load_results."""

import os
import re
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pytest

from gbtest import ROOT, write_results
from gemmbench.data.merge import merge_results
from gemmbench.data.results import column_names, load_results, read_metadata
from gemmbench.errors import UsageError

OTHER_KEY = "arm-neoverse-n2"


@pytest.fixture
def two_machines(quick_results, tmp_path):
    """The real run, and a copy from 'another machine' measured a day later, in one folder."""
    base = load_results(quick_results)
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / quick_results.name).write_bytes(quick_results.read_bytes())
    other = base.assign(feature_key=OTHER_KEY, timestamp=base["timestamp"] + np.timedelta64(1, "D"))
    write_results(other, folder / "other.parquet", run_id="derived-other-machine")
    return folder, base


def parts(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_merged_tree_is_a_hive_dataset(two_machines, tmp_path):
    folder, base = two_machines
    into = tmp_path / "fleet"
    written = merge_results([folder], into)
    assert sorted(w.action for w in written) == ["added", "added"]
    key, run_id = base.loc[0, "feature_key"], base.loc[0, "run_id"]
    date = base["timestamp"].min().date().isoformat()
    assert f"feature_key={key}/date={date}/part-{run_id}.parquet" in parts(into)
    assert any(p.startswith(f"feature_key={OTHER_KEY}/date=") for p in parts(into))
    table = ds.dataset(into, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 2 * len(base)
    assert {"feature_key", "date"} <= set(table.column_names)
    frame = table.to_pandas()
    assert sorted(frame["feature_key"].unique()) == sorted([key, OTHER_KEY])
    assert set(frame.loc[frame["feature_key"] == key, "date"]) == {date}
    assert sorted(frame.loc[frame["feature_key"] == key, "case"]) == sorted(base["case"])


def test_load_results_reads_the_merged_tree(two_machines, tmp_path):
    folder, base = two_machines
    merge_results([folder], tmp_path / "fleet")
    frame = load_results(tmp_path / "fleet")
    assert list(frame.columns) == column_names() and len(frame) == 2 * len(base)
    mine = frame[frame["feature_key"] == base.loc[0, "feature_key"]].reset_index(drop=True)
    assert list(mine["samples_ns"][0]) == list(base["samples_ns"][0])
    part = next((tmp_path / "fleet").rglob(f"part-{base.loc[0, 'run_id']}.parquet"))
    assert read_metadata(part)["run_id"] == base.loc[0, "run_id"] and read_metadata(part)["complete"] is True


def test_merging_again_adds_no_rows(two_machines, tmp_path):
    folder, base = two_machines
    into = tmp_path / "fleet"
    merge_results([folder], into)
    before = {p: (into / p).read_bytes() for p in parts(into)}
    again = merge_results([folder, into], into)  # the same runs, and the dataset itself, once more
    assert [w.action for w in again] == ["unchanged", "unchanged"]
    assert {p: (into / p).read_bytes() for p in parts(into)} == before
    assert len(load_results(into)) == 2 * len(base)


def test_a_fuller_copy_of_a_run_replaces_a_partial_one(quick_results, tmp_path):
    base = load_results(quick_results)
    partial = tmp_path / "partial" / "run.parquet"
    write_results(base.iloc[:2], partial, run_id=base.loc[0, "run_id"])
    complete = tmp_path / "complete" / "run.parquet"
    write_results(base, complete, run_id=base.loc[0, "run_id"])
    into = tmp_path / "fleet"
    assert [w.action for w in merge_results([partial], into)] == ["added"]
    assert [w.action for w in merge_results([complete], into)] == ["replaced"]
    assert [w.action for w in merge_results([partial], into)] == ["unchanged"]  # never loses rows
    assert len(load_results(into)) == len(base)


def test_unsafe_feature_key_is_refused(quick_results, tmp_path):
    base = load_results(quick_results)
    bad = write_results(base.assign(feature_key="../../etc"), tmp_path / "bad.parquet", run_id="bad")
    with pytest.raises(UsageError, match=r"bad.parquet: feature_key '../../etc' cannot name a partition"):
        merge_results([bad], tmp_path / "fleet")


def test_a_simulated_cpu_s_run_is_never_merged(cli, quick_results, tmp_path):
    base = load_results(quick_results)
    key = base.loc[0, "feature_key"] + "+simulated"
    simulated = write_results(base.assign(feature_key=key), tmp_path / "sim.parquet", run_id="sim")
    result = cli("merge", quick_results, simulated, "--into", tmp_path / "fleet")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"sim.parquet: run sim ran on a simulated CPU ({key}, GEMMBENCH_CPU_FLAGS)" in result.stderr
    assert not (tmp_path / "fleet").exists()


def test_merge_cli(cli, quick_results, tmp_path):
    into = tmp_path / "fleet"
    result = cli("merge", quick_results, "--into", into)
    assert result.returncode == 0, result.stderr
    assert "1 run file(s) in" in result.stdout and "1 added" in result.stdout
    assert "1 unchanged" in cli("merge", quick_results, "--into", into, "-q").stdout
    assert not [p for p in into.rglob("*") if p.name.startswith(".")]  # no temporary files left
    missing = cli("merge", tmp_path / "nope", "--into", into)
    assert missing.returncode == 2 and "nope: no such results file or directory" in missing.stderr
    afile = tmp_path / "afile"
    afile.write_text("")
    refused = cli("merge", quick_results, "--into", afile)
    assert refused.returncode == 2 and "afile: --into must be a directory" in refused.stderr


def docs_query(language: str) -> str:
    """docs/fleets.md's query in `language` (the fence's info string: sql, spark-sql), without its semicolon."""
    docs = (ROOT / "docs" / "fleets.md").read_text()
    return re.search(rf"```{language}\n(.*?)```", docs, re.S).group(1).strip().rstrip(";")


def test_docs_duckdb_query_runs_on_the_merged_tree(two_machines, tmp_path, monkeypatch):
    duckdb = pytest.importorskip("duckdb")
    folder, base = two_machines
    merge_results([folder], tmp_path / "results" / "fleet")
    monkeypatch.chdir(tmp_path)  # the docs' query names results/fleet
    rows = duckdb.sql(docs_query("sql")).fetchall()
    ok = base[base["status"] == "ok"]
    key = base.loc[0, "feature_key"]
    assert {(r[0], r[1]) for r in rows} == {(k, b) for k in (key, OTHER_KEY) for b in ok["backend"]}
    mine = next(r for r in rows if r[:2] == (key, "numpy"))
    numpy_ok = ok[ok["backend"] == "numpy"]
    assert mine[2] == len(numpy_ok) and mine[3] == pytest.approx(numpy_ok["median_ns"].median())


@pytest.fixture
def merged_fleet(two_machines, tmp_path, monkeypatch):
    """The two machines merged into results/fleet under a fresh working directory (the docs' queries name it)."""
    folder, base = two_machines
    merge_results([folder], tmp_path / "results" / "fleet")
    monkeypatch.chdir(tmp_path)
    return base


@pytest.fixture
def spark():
    """A local Spark session (one core, no UI), or a skip saying what is missing. Its JVM resolves relative
    paths against the directory it started in: start it after changing directory."""
    import shutil

    pytest.importorskip("pyspark", reason="pyspark is not installed (the test extra installs it)")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java (17 or newer): apt-get install -y openjdk-17-jre-headless")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[1]").appName("gemmbench-fleet-test")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "1")
               .config("spark.driver.memory", "512m").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.mark.slow  # starting the JVM takes seconds
def test_spark_and_duckdb_give_the_same_answer_on_the_merged_tree(merged_fleet, spark):
    duckdb = pytest.importorskip("duckdb")
    base = merged_fleet
    by_spark = [tuple(row) for row in spark.sql(docs_query("spark-sql")).collect()]
    by_duckdb = duckdb.sql(docs_query("sql")).fetchall()
    backends = base[base["status"] == "ok"]["backend"].nunique()
    assert len(by_spark) == len(by_duckdb) == len({r[:2] for r in by_duckdb}) == 2 * backends
    for mine, theirs in zip(by_spark, by_duckdb):
        assert mine[:3] == theirs[:3]
        assert mine[3:] == pytest.approx(theirs[3:], nan_ok=True)
    assert {r[0] for r in by_spark} == {base.loc[0, "feature_key"], OTHER_KEY}
