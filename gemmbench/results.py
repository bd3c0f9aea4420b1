"""Results: the parquet schema, atomic incremental writes, and loading files or trees of them."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from gemmbench.errors import UsageError

SCHEMA_VERSION = 1
METADATA_KEY = b"gemmbench"

_str, _int, _float, _bool = pa.string(), pa.int64(), pa.float64(), pa.bool_()
_samples = pa.list_(pa.float64())

# (name, type, meaning). README's results table documents exactly these columns.
COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("run_id", _str, "identifier shared by every row of one run"),
    ("timestamp", pa.timestamp("us", tz="UTC"), "when the row was measured"),
    ("suite", _str, "suite name"),
    ("case", _str, "case name, with its grid point, e.g. gru_a_batch[n=16]"),
    ("op", _str, "gemv, gemm, ..."),
    ("backend", _str, "backend name from the registry"),
    ("variant", _str, "kernel variant actually run (ISA level, scheme, cutoff)"),
    ("isa", _str, "ISA level the variant's code targets: scalar, avx2, avx512, avx512vnni ('' when none)"),
    ("dtype", _str, "data type of weights, activations and output"),
    ("m", _int, "output rows"),
    ("k", _int, "input length (inner dimension)"),
    ("n", _int, "columns of the right-hand side (1 for gemv)"),
    ("threads", _int, "threads requested"),
    ("status", _str, "ok, wrong, error, crashed, timeout, unavailable, skipped"),
    ("message", _str, "why the status is what it is ('' when ok)"),
    ("loops", _int, "calls per timed sample (calibrated)"),
    ("samples_ns", _samples, "time per call in each sample, ns (raw)"),
    ("median_ns", _float, "median time per call, ns, Python call included"),
    ("min_ns", _float, "fastest sample, ns per call"),
    ("mean_ns", _float, "mean of the samples, ns per call"),
    ("std_ns", _float, "standard deviation of the samples, ns"),
    ("iqr_ns", _float, "interquartile range of the samples, ns"),
    ("cv", _float, "coefficient of variation std/mean"),
    ("noisy", _bool, "cv above 10%: treat the figure with care"),
    ("prepare_ns", _float, "time of the untimed preparation (packing, conversion, quantization), ns"),
    ("native_loops", _int, "calls per sample of the loop run inside native code"),
    ("native_samples_ns", _samples, "time per call measured inside native code, each sample, ns"),
    ("native_median_ns", _float, "median of native_samples_ns; median_ns minus this is call overhead"),
    ("native_iqr_ns", _float, "interquartile range of native_samples_ns"),
    ("flops", _int, "floating-point operations of the dense-equivalent product (2*m*k*n)"),
    ("useful_flops", _int, "operations on stored weights only (2*nonzeros*n); equals flops when dense"),
    ("bytes", _int, "bytes of weights, activations and output in the case dtype, dense-equivalent"),
    ("gflops", _float, "flops / median_ns"),
    ("useful_gflops", _float, "useful_flops / median_ns"),
    ("gbps", _float, "bytes / median_ns, GB/s"),
    ("density", _float, "fraction of weights stored (1.0 when dense)"),
    ("sparsity", _str, "block shape and per-gate densities, e.g. 16x1@0.05/0.05/0.2+diag; '' when dense"),
    ("seed", _int, "seed of the generated data"),
    ("params", _str, "op-specific settings as JSON"),
    ("steps", _int, "composite ops: audio samples one call computes"),
    ("sample_rate", _int, "composite ops: audio sample rate the real-time factor refers to, Hz"),
    ("time_per_sample_ns", _float, "composite ops: median_ns / steps"),
    ("rtf", _float, "real-time factor: time_per_sample_ns x sample_rate (below 1 is faster than real time)"),
    ("native_time_per_sample_ns", _float, "composite ops: native_median_ns / steps"),
    ("native_rtf", _float, "real-time factor of the native loop"),
    ("part_conditioning_ns", _float, "time per sample of the frame-conditioning projection (amortised)"),
    ("part_gru_a_product_ns", _float, "time per sample of GRU-A's recurrent matrix product"),
    ("part_gru_a_gates_ns", _float, "time per sample of GRU-A's input gather and gates"),
    ("part_gru_b_ns", _float, "time per sample of GRU-B (products and gates)"),
    ("part_output_ns", _float, "time per sample of the dual output layer and softmax"),
    ("share_conditioning", _float, "part_conditioning_ns over the sum of the parts"),
    ("share_gru_a_product", _float, "part_gru_a_product_ns over the sum of the parts"),
    ("share_gru_a_gates", _float, "part_gru_a_gates_ns over the sum of the parts"),
    ("share_gru_b", _float, "part_gru_b_ns over the sum of the parts"),
    ("share_output", _float, "part_output_ns over the sum of the parts"),
    ("parts_ratio", _float, "sum of the parts over the whole step's time per sample"),
    ("parts_warning", _bool, "parts_ratio more than 10% away from 1: the parts do not explain the whole"),
    ("precision", _str, "arithmetic judged by the correctness gate: float32, float64 or int8"),
    ("tolerance", _float, "largest relative error accepted for that precision"),
    ("max_abs_err", _float, "largest absolute difference from the float64 reference"),
    ("rel_err", _float, "||out - ref||_2 / ||ref||_2"),
    ("snr_db", _float, "20 log10(||ref|| / ||out - ref||)"),
    ("weight_bytes", _int, "bytes of weights (and block index) the kernel reads per call, as stored"),
    ("roof_level", _str, "memory level the weights fit in: L1, L2, L3 or memory (runs with --roofline)"),
    ("roof_gflops", _float, "attainable GFLOP/s (GOP/s for int8): min(peak, intensity x bandwidth of roof_level)"),
    ("roof_pct", _float, "achieved useful GFLOP/s (native time where measured) as a percentage of roof_gflops"),
    ("detail", _str, "what actually ran: library, compiler flags, quantization scheme"),
    ("blas", _str, "BLAS library, version, core and threading layer (threadpoolctl)"),
    ("blas_threads", _int, "threads the BLAS reported after the per-case limit"),
    ("cpus", _str, "CPUs the worker was pinned to"),
    ("timer_resolution_ns", _float, "resolution of the timer the samples came from"),
    ("host", _str, "host name"),
    ("cpu_model", _str, "CPU model name"),
    ("cpu_flags", _str, "SIMD-relevant CPU flags"),
    ("feature_key", _str, "CPU model + key ISA flags: rows compare only within one key"),
    ("cores", _int, "CPUs available to the run"),
    ("os", _str, "operating system and kernel"),
    ("compiler", _str, "C compiler version line"),
    ("numpy_version", _str, "numpy version"),
    ("python_version", _str, "Python version"),
    ("gemmbench_version", _str, "gemmbench version"),
    ("git_sha", _str, "git revision of gemmbench ('+dirty' with local changes)"),
]

SCHEMA = pa.schema([(name, kind) for name, kind, _ in COLUMNS])
COLUMN_NAMES = [name for name, _, _ in COLUMNS]
REQUIRED = ("run_id", "suite", "case", "backend", "variant", "status", "median_ns")
OK_STATUSES = frozenset({"ok", "unavailable", "skipped"})
FAILED_STATUSES = frozenset({"wrong", "error", "crashed", "timeout"})


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    suite: str
    started: str


def _table(rows: list[dict], metadata: dict) -> pa.Table:
    table = pa.Table.from_pylist([{name: row.get(name) for name in COLUMN_NAMES} for row in rows],
                                 schema=SCHEMA)
    return table.replace_schema_metadata({METADATA_KEY: json.dumps(metadata).encode()})


def write_atomic(path: Path, table: pa.Table) -> None:
    """Write to a temporary file beside `path`, then rename over it: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            pq.write_table(table, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultsFile:
    """One run's parquet file, rewritten whole (atomically) as each row completes."""

    def __init__(self, path: Path, info: RunInfo):
        self.path = path
        self.info = info
        self.rows: list[dict] = []
        self.extra: dict = {}  # more file metadata, e.g. the roofline the run was measured against

    def metadata(self, complete: bool) -> dict:
        return {"schema_version": SCHEMA_VERSION, "complete": complete, "run_id": self.info.run_id,
                "suite": self.info.suite, "started": self.info.started, **self.extra}

    def add(self, rows: Iterable[dict]) -> None:
        self.rows.extend(rows)
        write_atomic(self.path, _table(self.rows, self.metadata(complete=False)))

    def close(self, complete: bool = True) -> None:
        write_atomic(self.path, _table(self.rows, self.metadata(complete=complete)))


def read_metadata(path: Path) -> dict:
    raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else {}


def result_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Parquet files named directly or found under directories, in a stable order."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith("."))
            if not found:
                raise UsageError(f"{path}: no .parquet result files in this directory")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise UsageError(f"{path}: no such results file or directory")
    return files


def read_table(path: Path) -> pa.Table:
    """One results file, checked and brought up to the current schema."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path}: not a readable parquet results file ({first})") from None
    meta = json.loads((table.schema.metadata or {}).get(METADATA_KEY, b"{}"))
    version = meta.get("schema_version")
    if version is None:
        raise UsageError(f"{path}: not a gemmbench results file (no gemmbench metadata)")
    if version > SCHEMA_VERSION:
        raise UsageError(f"{path}: written by a newer gemmbench (schema {version}; this one reads "
                         f"up to {SCHEMA_VERSION}); upgrade gemmbench to read it")
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise UsageError(f"{path}: results file lacks column(s) {', '.join(missing)}")
    for name, kind, _ in COLUMNS:  # older schema versions: columns added since read as null
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, kind))
    return table.select(COLUMN_NAMES + [c for c in table.column_names if c not in COLUMN_NAMES])


def load_results(paths: str | os.PathLike | Iterable[str | os.PathLike]):
    """Read result files, or every .parquet under directories, into one pandas DataFrame."""
    import pandas as pd

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    tables = [read_table(p) for p in result_files(paths)]
    if not tables:
        raise UsageError("no results files given")
    frames = [t.to_pandas() for t in tables]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
