"""Damaged, foreign, older and newer results files: the shared loader (what report, compare and merge
build on) reads what it can and refuses the rest with one line naming the file."""

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gemmbench.cases.suite import parse_suite
from gemmbench.data.results import SCHEMA_VERSION, column_names, load_results, read_metadata
from gemmbench.errors import UsageError
from gemmbench.measure.runner import RunOptions, run_suite

# Columns this schema added over version 0: a version-0 file lacks them.
ADDED_SINCE_V0 = ["isa", "useful_flops", "useful_gflops", "precision", "tolerance", "feature_key", "native_loops",
                  "native_samples_ns", "native_median_ns", "native_iqr_ns"]


@pytest.fixture(scope="module")
def real_file(tmp_path_factory):
    """A results file written by a real run."""
    out = tmp_path_factory.mktemp("real")
    suite = parse_suite("name: real\nbackends: [numpy]\ndefaults: {warmup: 0.001, min_time: 0.0002, samples: 3, "
                        "max_time: 0.05}\ncases: [{name: a, m: 16, k: 8}, {name: b, op: gemm, m: 16, k: 8, n: 2}]\n")
    return run_suite(suite, RunOptions(out_dir=out, progress=False)).path


def rewrite(source, target, transform=lambda table: table, meta=lambda meta: meta):
    table = pq.read_table(source)
    metadata = meta(json.loads(table.schema.metadata[b"gemmbench"]))
    table = transform(table).replace_schema_metadata(
        None if metadata is None else {b"gemmbench": metadata if isinstance(metadata, bytes)
                                       else json.dumps(metadata).encode()})
    pq.write_table(table, target)
    return target


def truncated(real, target):
    target.write_bytes(real.read_bytes()[:-200])
    return target


def text(real, target):
    target.write_text("run_id,case\nr,a\n")
    return target


def empty(real, target):
    target.write_bytes(b"")
    return target


BAD_FILES = {
    "truncated": (truncated, "not a readable parquet results file"),
    "not parquet": (text, "not a readable parquet results file"),
    "zero bytes": (empty, "not a readable parquet results file"),
    "no gemmbench metadata": (lambda r, t: rewrite(r, t, meta=lambda m: None),
                              "not a gemmbench results file (no gemmbench metadata)"),
    "metadata not JSON": (lambda r, t: rewrite(r, t, meta=lambda m: b"{not json"),
                          "gemmbench metadata is damaged (no valid schema_version)"),
    "schema version a string": (lambda r, t: rewrite(r, t, meta=lambda m: {**m, "schema_version": "1"}),
                                "gemmbench metadata is damaged (no valid schema_version)"),
    "newer schema": (lambda r, t: rewrite(r, t, meta=lambda m: {**m, "schema_version": SCHEMA_VERSION + 1}),
                     f"written by a newer gemmbench (schema {SCHEMA_VERSION + 1}; this one reads up to "
                     f"{SCHEMA_VERSION}); upgrade gemmbench to read it"),
    "missing columns": (lambda r, t: rewrite(r, t, lambda table: table.drop(["status", "median_ns"])),
                        "results file lacks column(s) status, median_ns"),
    "column of the wrong type": (lambda r, t: rewrite(r, t, lambda table: table.set_column(
        table.schema.get_field_index("median_ns"), "median_ns", pa.array(["fast"] * table.num_rows))),
        "column 'median_ns' has type string, expected double"),
}


@pytest.mark.parametrize("make, message", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_file_is_one_error_naming_it(real_file, tmp_path, make, message):
    path = make(real_file, tmp_path / "bad.parquet")
    with pytest.raises(UsageError) as info:
        load_results(path)
    assert str(info.value) == f"{path}: {message}" or str(info.value).startswith(f"{path}: {message}")
    assert "\n" not in str(info.value)
    shutil.copy(real_file, tmp_path / "good.parquet")
    with pytest.raises(UsageError, match="bad.parquet: "):  # a directory holding it names the bad file
        load_results(tmp_path)


@pytest.mark.parametrize("make, message", [BAD_FILES[k] for k in ("truncated", "newer schema", "missing columns")],
                         ids=["truncated", "newer schema", "missing columns"])
def test_the_cli_names_the_bad_file(real_file, tmp_path, cli, make, message):
    path = make(real_file, tmp_path / "bad.parquet")
    result = cli("run", "--resume", path)
    assert result.returncode == 2 and result.stderr.startswith(f"gemmbench: error: {path}: {message}")
    assert len(result.stderr.splitlines()) == 1


def test_an_empty_directory_and_a_directory_named_like_a_file(real_file, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="empty: no .parquet result files in this directory"):
        load_results(tmp_path / "empty")
    (tmp_path / "runs" / "odd.parquet").mkdir(parents=True)
    shutil.copy(real_file, tmp_path / "runs" / "real.parquet")
    assert len(load_results(tmp_path / "runs")) == 2  # the directory is skipped, not read as a file


def test_an_older_schema_reads_with_the_new_columns_empty(real_file, tmp_path):
    """Older means a lower schema_version: the columns added since then read as nulls."""
    older = rewrite(real_file, tmp_path / "v0.parquet", lambda table: table.drop(ADDED_SINCE_V0),
                    lambda meta: {**meta, "schema_version": SCHEMA_VERSION - 1})
    assert read_metadata(older)["schema_version"] == SCHEMA_VERSION - 1
    old, new = load_results(older), load_results(real_file)
    assert list(old.columns) == column_names()
    assert old[ADDED_SINCE_V0].isna().all().all()
    kept = [c for c in column_names() if c not in ADDED_SINCE_V0 and c not in ("samples_ns",)]
    assert old[kept].equals(new[kept])
    shutil.copy(real_file, tmp_path / "v1.parquet")
    both = load_results(tmp_path)  # old and new side by side in one directory
    assert len(both) == 4 and both["feature_key"].isna().sum() == 2


def test_compatible_column_types_are_widened(real_file, tmp_path):
    narrow = rewrite(real_file, tmp_path / "narrow.parquet",
                     lambda table: table.set_column(table.schema.get_field_index("threads"), "threads",
                                                    table.column("threads").cast(pa.int32())))
    assert load_results(narrow)["threads"].dtype == "int64"
