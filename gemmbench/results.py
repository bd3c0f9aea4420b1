"""Results: the parquet schema, atomic incremental writes, and loading files or trees of them."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

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
    ("roof_gflops", _float, "attainable GFLOP/s (GOP/s for int8): min(peak, intensity x bandwidth the weights "
                            "can be read at, each cache level keeping what it holds of them between calls)"),
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
    resume: dict | None = None  # what `run --resume` needs: the expanded suite and the run options


def _table(rows: list[dict], metadata: dict) -> pa.Table:
    table = pa.Table.from_pylist([{name: row.get(name) for name in COLUMN_NAMES} for row in rows],
                                 schema=SCHEMA)
    return table.replace_schema_metadata({METADATA_KEY: json.dumps(metadata).encode()})


def check_row(row: dict) -> None:
    """Raise ValueError or TypeError unless the row's values fit the schema's columns."""
    _table([row], {})


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_temp(path: Path, table: pa.Table) -> str:
    """The table in a new, uniquely named, fsynced temporary file beside `path`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a results file is as readable as any other
        # Encode in memory first: pyarrow writing into a Python file object calls back into Python,
        # where a signal handler's exception could be swallowed mid-page and a torn file renamed
        # into place. One write of finished bytes either completes or raises.
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        with os.fdopen(fd, "wb") as handle:
            handle.write(sink.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def write_atomic(path: Path, table: pa.Table) -> None:
    """Write to a temporary file beside `path`, then rename over it: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path, table)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_new(path: Path, table: pa.Table) -> None:
    """Like write_atomic, but never replaces a file: FileExistsError if `path` exists."""
    tmp = _write_temp(path, table)
    try:
        try:
            os.link(tmp, path)  # atomic and exclusive: two runs can never claim one name
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))  # no hard links here
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


class ResultsFile:
    """One run's parquet file, rewritten whole (atomically) as each row completes.

    `create()` claims the file before anything runs, so an unwritable directory is reported
    at once; a failed write leaves the previous version of the file (complete=false) in place.
    """

    def __init__(self, path: Path, info: RunInfo, rows: list[dict] | None = None):
        self.path = path
        self.info = info
        self.rows: list[dict] = list(rows or [])
        self.saved = len(self.rows)  # rows in the file on disk
        self.extra: dict = {}  # more file metadata, e.g. the roofline the run was measured against

    def metadata(self, complete: bool) -> dict:
        meta = {"schema_version": SCHEMA_VERSION, "complete": complete, "run_id": self.info.run_id,
                "suite": self.info.suite, "started": self.info.started, **self.extra}
        return {**meta, "resume": self.info.resume} if self.info.resume is not None else meta

    def create(self) -> None:
        """Write the empty, partial file; FileExistsError when the name is taken."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_new(self.path, _table(self.rows, self.metadata(complete=False)))
        except OSError as exc:
            if isinstance(exc, FileExistsError) and self.path.parent.is_dir():
                raise
            raise UsageError(f"{self.path.parent}: cannot write results here: "
                             f"{exc.strerror or exc}") from None

    def add(self, rows: Iterable[dict]) -> None:
        self.rows.extend(rows)
        self._write(complete=False)

    def close(self, complete: bool = True) -> None:
        self._write(complete)

    def _write(self, complete: bool) -> None:
        try:
            write_atomic(self.path, _table(self.rows, self.metadata(complete)))
        except OSError as exc:
            raise UsageError(f"{self.path}: writing results failed: {exc.strerror or exc}; the {self.saved} "
                             f"rows written before are in the file, marked partial (once the cause is fixed, "
                             f"`gemmbench run --resume {self.path}` finishes it)") from None
        self.saved = len(self.rows)


@contextmanager
def writer_lock(path: Path) -> Iterator[None]:
    """The sole right to write `path`, held while a run (or a resume) writes it.

    A hidden lock file beside it carries an flock, which the kernel drops if the process dies;
    temporary files left by a writer that was killed are removed once the lock is taken.
    """
    lock_path = path.with_name(f".{path.name}.lock")
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise UsageError(f"{path}: cannot lock it for writing: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(f"{path}: another gemmbench process is writing this file") from None
        if lock_path.exists() and os.path.samestat(os.fstat(fd), os.stat(lock_path)):
            break
        os.close(fd)  # its previous holder removed it after we opened it: take the new one
    try:
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            stale.unlink(missing_ok=True)
        yield
    finally:
        lock_path.unlink(missing_ok=True)
        os.close(fd)


def _parse_metadata(schema: pa.Schema, path: Path) -> dict:
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise UsageError(f"{path}: not a gemmbench results file (no gemmbench metadata)")
    try:
        meta = json.loads(raw)
    except ValueError:
        meta = None
    version = meta.get("schema_version") if isinstance(meta, dict) else None
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise UsageError(f"{path}: gemmbench metadata is damaged (no valid schema_version)")
    if version > SCHEMA_VERSION:
        raise UsageError(f"{path}: written by a newer gemmbench (schema {version}; this one reads "
                         f"up to {SCHEMA_VERSION}); upgrade gemmbench to read it")
    return meta


def _unreadable(path: Path, exc: Exception) -> UsageError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return UsageError(f"{path}: not a readable parquet results file ({first})")


def read_metadata(path: Path) -> dict:
    """A results file's gemmbench metadata (schema_version, run_id, complete, ...), checked."""
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(path, exc) from None
    return _parse_metadata(schema, path)


def result_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Parquet files named directly or found under directories, in a stable order."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith(".") and p.is_file())
            if not found:
                raise UsageError(f"{path}: no .parquet result files in this directory")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise UsageError(f"{path}: no such results file or directory")
    return files


def read_table(path: Path) -> pa.Table:
    """One results file, checked and brought up to the current schema.

    Schema versions count changes to the column set. A file of an older version (lower
    schema_version) reads with the columns added since filled with nulls; a newer one is refused.
    """
    try:
        # One open file: given a path, pyarrow opens it again for the data after reading the
        # footer, and a run renaming its next version into place in between mixes two files.
        with pa.OSFile(str(path)) as source:
            table = pq.read_table(source)
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(path, exc) from None
    _parse_metadata(table.schema, path)
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise UsageError(f"{path}: results file lacks column(s) {', '.join(missing)}")
    for name, kind, _ in COLUMNS:
        if name not in table.column_names:  # older schema versions: columns added since read as null
            table = table.append_column(name, pa.nulls(table.num_rows, kind))
        elif table.schema.field(name).type != kind:
            table = _cast_column(table, name, kind, path)
    return table.select(COLUMN_NAMES + [c for c in table.column_names if c not in COLUMN_NAMES])


def _cast_column(table: pa.Table, name: str, kind: pa.DataType, path: Path) -> pa.Table:
    index = table.schema.get_field_index(name)
    try:
        column = table.column(index).cast(kind)
    except (pa.ArrowException, TypeError):
        raise UsageError(f"{path}: column '{name}' has type {table.schema.field(name).type}, "
                         f"expected {kind}") from None
    return table.set_column(index, name, column)


def find_run(out_dir: Path, run_id: str) -> Path:
    """The results file of run `run_id` in `out_dir` (names end in '-<run_id>.parquet')."""
    suffix = f"-{run_id}.parquet"
    found = sorted(p for p in out_dir.glob("*.parquet") if p.name.endswith(suffix)) if out_dir.is_dir() else []
    if not found:
        raise UsageError(f"{run_id}: no results file of that run in {out_dir} (give the file's path, "
                         f"or the directory it is in with --out)")
    return found[0]


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
