"""Merging results from many machines into one Hive-partitioned parquet dataset.

Layout: DIR/feature_key=<key>/date=<YYYY-MM-DD>/part-<run_id>.parquet, one file per run and
partition, so pyarrow.dataset, DuckDB and Spark read DIR as is and merging the same run again
replaces its file instead of adding rows. Each file keeps every column (feature_key too) and
the gemmbench metadata, so gemmbench.load_results reads the tree like any results directory.
A run on a simulated CPU (GEMMBENCH_CPU_FLAGS) is refused: a dataset of machines never holds one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from gemmbench.cases.fields import brief
from gemmbench.data import atomic
from gemmbench.data.results import (
    METADATA_KEY,
    SCHEMA_VERSION,
    encode,
    plot_kinds,
    read_metadata,
    read_table,
    result_files,
)
from gemmbench.errors import UsageError
from gemmbench.machine.featurekey import is_simulated

NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # what Hive, Spark and pyarrow call a missing value
_SAFE_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


@dataclass(frozen=True)
class RunPart:
    """The rows of one run that fall in one partition, with the file they came from."""

    run_id: str
    feature_key: str
    date: str
    source: Path
    complete: bool
    table: pa.Table


@dataclass(frozen=True)
class Written:
    part: RunPart
    path: Path
    action: str  # "added", "replaced" or "unchanged"


NAME_LENGTH = 120  # of a partition value or a run id in a file name: with the rest, well inside 255 bytes


def _partition_path(root: Path, feature_key: str, date: str, run_id: str) -> Path:
    return root / f"feature_key={feature_key}" / f"date={date}" / f"part-{_file_part(run_id)}.parquet"


def _file_part(run_id: str) -> str:
    """The run id as part of a file name: itself when it is short and safe (gemmbench's own ids are);
    otherwise its safe characters, shortened, and a hash of the whole, so two ids never share a file."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in run_id)
    if safe == run_id and len(run_id) <= NAME_LENGTH and not run_id.startswith("."):
        return run_id
    return f"{safe[:NAME_LENGTH - 17].lstrip('.')}-{hashlib.sha256(run_id.encode()).hexdigest()[:16]}"


def _partition_value(value, source: Path, column: str) -> str:
    if value is None or value == "":
        return NULL_PARTITION
    if not _SAFE_VALUE.fullmatch(str(value)) or len(str(value)) > NAME_LENGTH:
        raise UsageError(f"{source}: {column} {brief(value)} cannot name a partition directory "
                         f"(letters, digits and . _ + - only, at most {NAME_LENGTH} of them)")
    return str(value)


def _run_date(table: pa.Table, meta: dict) -> str | None:
    """UTC date of the run's first row (its start date when timestamps are missing)."""
    first = pc.min(table["timestamp"]).as_py() if "timestamp" in table.column_names else None
    if first is not None:
        return first.date().isoformat()
    started = meta.get("started")
    return str(started)[:10] if started else None


def _run_parts(path: Path) -> list[RunPart]:
    """Split one results file into its runs and, within each run, its feature keys."""
    table = read_table(path)
    meta = read_metadata(path)
    parts = []
    for run_id in pc.unique(table["run_id"]).to_pylist():
        run = table.filter(pc.equal(table["run_id"], run_id))
        date = _partition_value(_run_date(run, meta), path, "date")
        for feature_key in pc.unique(run["feature_key"]).to_pylist():
            if is_simulated(feature_key):
                raise UsageError(f"{path}: run {run_id} ran on a simulated CPU ({feature_key}, GEMMBENCH_CPU_FLAGS); "
                                 f"a merged dataset holds real machines' results only")
            same = pc.is_null(run["feature_key"]) if feature_key is None else pc.equal(run["feature_key"], feature_key)
            rows = run.filter(same)
            parts.append(RunPart(str(run_id), _partition_value(feature_key, path, "feature_key"), date, path,
                                 bool(meta.get("complete", True)), rows))
    return parts


def _fullest(candidates: list[RunPart]) -> RunPart:
    """A run found in several files: the complete copy with the most rows (the last given on a tie)."""
    return max(reversed(candidates), key=lambda part: (part.complete, part.table.num_rows))


def _same(a: RunPart, b: RunPart) -> bool:
    return a.complete == b.complete and a.table.equals(b.table)


def _with_metadata(part: RunPart) -> pa.Table:
    meta = read_metadata(part.source)
    ops = set(part.table.column("op").drop_null().to_pylist())
    meta = {**meta, "schema_version": SCHEMA_VERSION, "run_id": part.run_id, "complete": part.complete,
            "plots": plot_kinds(meta, ops)}
    return part.table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})


def merge_results(paths: Iterable[str | os.PathLike], into: str | os.PathLike) -> list[Written]:
    """Write every run found under `paths` into the dataset at `into`; existing copies are candidates too."""
    root = Path(into)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root}: --into must be a directory")
    found: dict[Path, list[RunPart]] = {}
    for path in result_files(paths):
        for part in _run_parts(path):
            found.setdefault(_partition_path(root, part.feature_key, part.date, part.run_id), []).append(part)
    written = []
    for destination, candidates in found.items():
        existing = _run_parts(destination) if destination.exists() else []
        chosen = _fullest(existing + [c for c in candidates if c.source.resolve() != destination.resolve()])
        if existing and (chosen is existing[0] or _same(chosen, existing[0])):
            written.append(Written(chosen, destination, "unchanged"))
            continue
        try:
            atomic.write_bytes(destination, encode(_with_metadata(chosen)))
        except OSError as exc:
            raise UsageError(f"{destination}: cannot write the merged run: {exc.strerror or exc}") from None
        written.append(Written(chosen, destination, "replaced" if existing else "added"))
    return written
