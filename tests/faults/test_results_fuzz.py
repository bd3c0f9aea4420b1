"""Fuzzing results files: a real run's parquet file with its bytes cut or flipped, its columns emptied,
retyped or filled with odd values, its metadata rewritten. Whatever comes of it, the shared loader and what
reads through it (compare, the report's data, merge) work or refuse in one line naming the file, within the
promised time."""

import itertools
import json
import math
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultkit import one_line, within_promise
from gemmbench.cases.suite import parse_suite
from gemmbench.data.merge import merge_results
from gemmbench.data.results import load_results
from gemmbench.errors import UsageError
from gemmbench.measure.runner import RunOptions, run_suite
from gemmbench.report.data import load as report_data
from gemmbench.stats.compare import compare_frames

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 40)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SUITE = ("name: fuzz\nbackends: [numpy, strassen]\ndefaults: {warmup: 0.001, min_time: 0.0002, samples: 3, "
         "max_time: 0.05}\ncases: [{name: a, m: 16, k: 8}, {name: b, op: gemm, m: 16, k: 8, n: 2}]\n")
NAMES = itertools.count()


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    out = tmp_path_factory.mktemp("real")
    path = run_suite(parse_suite(SUITE), RunOptions(out_dir=out, progress=False)).path
    checked(path)  # the readers' imports (scipy, pandas, ...) happen here, not in the first timed example
    return path.read_bytes(), pq.read_table(path)


odd = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.text(max_size=12),
                st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["", "ok", "numpy", "nan", "ö\n\x00"]),
                st.lists(st.floats(allow_nan=True), max_size=3))


def column_values(kind: pa.DataType, rows: int, draw) -> pa.Array:
    """Values for a column: of its own type (odd ones), of another type, or none at all."""
    choice = draw(st.sampled_from(["nulls", "own", "other"]))
    if choice == "nulls":
        return pa.nulls(rows, kind)
    if choice == "other":
        return pa.array([draw(st.text(max_size=4))] * rows)
    values = [draw(odd) for _ in range(rows)]
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return pa.array([values[0]] * rows) if values[0] is not None else pa.nulls(rows, kind)


def mutated_table(table: pa.Table, draw) -> pa.Table:
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(table.column_names))
        index = table.schema.get_field_index(name)
        if draw(st.integers(0, 9)) == 0:
            table = table.remove_column(index)
        else:
            table = table.set_column(index, name, column_values(table.schema.field(name).type, table.num_rows, draw))
    return table


def mutated_metadata(meta: dict, draw) -> bytes:
    meta = json.loads(json.dumps(meta))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(meta) + ["schema_version", "complete", "new"]))
        if draw(st.booleans()):
            meta.pop(key, None)
        else:
            meta[key] = draw(odd | st.dictionaries(st.text(max_size=4), odd, max_size=3))
    return json.dumps(meta, allow_nan=True).encode()


def mutated_bytes(data: bytes, draw) -> bytes:
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(data)))
        data = data[:position] + draw(st.binary(max_size=8)) + data[position + draw(st.integers(0, 64)):]
    return data


def checked(path) -> None:
    """The contract: read and used, or one line naming the file."""
    try:
        frame = load_results(path)
    except UsageError as exc:
        one_line(str(exc), f"{path}: ")
        return
    for use in (lambda: compare_frames(frame, frame), lambda: report_data([path]),
                lambda: merge_results([path], path.parent / f"fleet-{path.stem}")):
        try:
            use()
        except UsageError as exc:
            assert "\n" not in str(exc), str(exc)


@FUZZ
@given(st.data())
def test_mutated_results_files(real, tmp_path, data):
    content, table = real
    how = data.draw(st.sampled_from(["bytes", "columns", "metadata"]))
    path = tmp_path / f"{next(NAMES)}.parquet"
    if how == "bytes":
        path.write_bytes(mutated_bytes(content, data.draw))
    else:
        meta = json.loads(table.schema.metadata[b"gemmbench"])
        changed = mutated_table(table, data.draw) if how == "columns" else table
        raw = mutated_metadata(meta, data.draw) if how == "metadata" else json.dumps(meta).encode()
        pq.write_table(changed.replace_schema_metadata({b"gemmbench": raw}), path)
    with within_promise(path.stat().st_size):
        checked(path)


def test_the_fuzzed_file_reads_as_is(real, tmp_path):
    """The contract holds for the unchanged file too: it reads, and every reader works on it."""
    path = tmp_path / "real.parquet"
    path.write_bytes(real[0])
    checked(path)
    assert len(load_results(path)) > 0 and not math.isnan(load_results(path)["median_ns"].iloc[0])
