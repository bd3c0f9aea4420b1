"""Results: the parquet schema, atomic incremental writes, and loading files or trees of them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from gemmbench.data import atomic, filekind
from gemmbench.errors import UsageError

SCHEMA_VERSION = 3  # what each version added: docs/results.md, "Schema versions"
METADATA_KEY = b"gemmbench"
JOURNAL_SHARE = 0.25  # rows in the journal before the parquet file is rewritten, as a share of those in it
JOURNAL_MIN = 64

_str, _int, _float, _bool = pa.string(), pa.int64(), pa.float64(), pa.bool_()
_samples = pa.list_(pa.float64())
TYPES = {"string": _str, "int64": _int, "float64": _float, "bool": _bool, "list<float64>": _samples,
         "list<int64>": pa.list_(pa.int64())}

# (name, type, meaning): the columns every row has, whatever its op. Each op adds its own
# (gemmbench.op.Column); a file's schema is the union (`schema()`), documented in docs/results.md.
CORE_COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("run_id", _str, "identifier shared by every row of one run"),
    ("seq", _int, "position of the row in its run's file (rows are written case by case)"),
    ("timestamp", pa.timestamp("us", tz="UTC"), "when the row was measured"),
    ("suite", _str, "suite name"),
    ("case", _str, "case name, with its grid point, e.g. gru_a_batch[n=16]"),
    ("op", _str, "gemv, gemm, lpcnet_step, ... (gemmbench list shows the ops)"),
    ("shape", _str, "the problem's size as its op labels it, e.g. 1152x384 16x1@0.1"),
    ("backend", _str, "backend name from the registry"),
    ("role", _str, "ours, or peer: a production runtime users could ship instead (the backend's role)"),
    ("variant", _str, "kernel variant actually run (ISA level, scheme, cutoff)"),
    ("reference_only", _bool, "a bit-exact reference of a scheme, never a choice: left out of decisions"),
    ("isa", _str, "ISA level the variant's code targets, from gemmbench/machine/isa.py ('' when none)"),
    ("dtype", _str, "data type of weights, activations and output"),
    ("threads", _int, "threads requested"),
    ("repeat", _int, "which repeat of the suite (run --repeat N), from 0"),
    ("status", _str, "ok, wrong, error, crashed, timeout, unavailable, skipped"),
    ("message", _str, "why the status is what it is ('' when ok)"),
    ("metric", _str, "what was measured: time (ns per call) or instructions (valgrind, per call)"),
    ("loops", _int, "calls per timed sample (calibrated)"),
    ("samples_ns", _samples, "time per call in each sample, ns (raw)"),
    ("sample_rounds", pa.list_(pa.int64()), "the round each sample (Python and native alike) was taken in"),
    ("median_ns", _float, "median time per call, ns, Python call included"),
    ("min_ns", _float, "fastest sample, ns per call"),
    ("mean_ns", _float, "mean of the samples, ns per call"),
    ("std_ns", _float, "standard deviation of the samples, ns"),
    ("iqr_ns", _float, "interquartile range of the samples, ns"),
    ("cv", _float, "coefficient of variation std/mean"),
    ("sample_spread", _float, "median distance of the samples the row is ranked by (native where measured) from "
                              "their placement's median, as a share of it, preempted samples left out: what "
                              "`noisy` judges"),
    ("noisy", _bool, "sample_spread above what a quiet machine shows (gemmbench.measure.timing.NOISY_SPREAD): a wider "
                     "interval; rerun on a quieter machine or with --repeat"),
    ("placement_spread", _float, "slowest placement's median over the fastest's, minus 1: how much the cache "
                                 "placement of the data moves the row (rows on several placements)"),
    ("sample_placements", pa.list_(pa.int64()), "the placement (prepared copy) each sample ran on"),
    ("cpu_samples_ns", _samples, "the thread's CPU time per call in each sample, ns (where one window timed "
                                 "the sample)"),
    ("cpu_median_ns", _float, "median of cpu_samples_ns: beside median_ns, what the thread itself spent"),
    ("preempted_samples", _int, "samples whose thread was switched out (or ran behind its wall time), each "
                                "taken again up to `retakes` times"),
    ("preempted_rounds", pa.list_(pa.int64()), "rounds whose kept sample was still preempted after the retakes"),
    ("cache", _str, "cache state the calls found: hot (back to back), between (between_bytes read between "
                    "calls), cold (a pile of copies, each pushed out of the caches before its call)"),
    ("between_bytes", _int, "bytes read through the caches before each call (cache between)"),
    ("pages", _str, "pages the large arrays sat on: huge (2 MiB, advised) or normal (as a plain malloc gets)"),
    ("prepare_ns", _float, "time of the untimed preparation (packing, conversion, quantization), ns; "
                           "compilation is never part of it"),
    ("native_loops", _int, "calls per sample of the loop run inside native code"),
    ("placements", _int, "prepared copies of the row, each on its own pages, sample i taken on copy i mod "
                         "placements (more than 1 where the data is large; with cache cold, the pile each "
                         "call takes the next copy of)"),
    ("native_samples_ns", _samples, "time per call measured inside native code, each sample, ns"),
    ("native_median_ns", _float, "median of native_samples_ns; median_ns minus this is call overhead"),
    ("native_iqr_ns", _float, "interquartile range of native_samples_ns"),
    ("native_cpu_samples_ns", _samples, "the thread's CPU time per call in each native sample, ns (read in "
                                        "native code where the backend does, else around the call)"),
    ("native_cpu_median_ns", _float, "median of native_cpu_samples_ns"),
    ("baseline", _str, "backend:variant of the row this one was paired with: the fastest timed row of the "
                       "default baseline backend (numpy) in the same run, repeat, case and threads ('' when none)"),
    ("speedup", _float, "the baseline row's time over this row's (native where measured), paired round by round"),
    ("speedup_low", _float, "low end of the speed-up's 95% interval (bootstrap over the rounds)"),
    ("speedup_high", _float, "high end of the speed-up's 95% interval"),
    ("call_floor_ns", _float, "a bare ctypes call of a one-argument C function, timed like the rows in this "
                              "run: the least any call from Python costs"),
    ("instructions", _float, "instructions per call counted by valgrind (metric instructions)"),
    ("d1_misses", _float, "simulated L1 data cache misses per call (metric instructions)"),
    ("ll_misses", _float, "simulated last-level cache misses per call (metric instructions)"),
    ("est_cycles", _float, "estimated cycles per call: instructions + 10 x L1 misses + 100 x LL misses"),
    ("flops", _int, "floating-point (or integer) operations per call, dense-equivalent, as the op counts"),
    ("useful_flops", _int, "operations per call that change the result (nonzero weights, fewer multiplies)"),
    ("bytes", _int, "bytes a call must at least read and write, as the op counts"),
    ("gflops", _float, "flops / median_ns"),
    ("useful_gflops", _float, "useful_flops / median_ns"),
    ("gbps", _float, "bytes / median_ns, GB/s"),
    ("seed", _int, "seed of the generated data"),
    ("params", _str, "the case's op fields as JSON (its spec)"),
    ("precision", _str, "arithmetic judged by the correctness gate: float32, float64, int8, bf16, fp16"),
    ("tolerance", _float, "largest relative error accepted for that precision and op"),
    ("max_abs_err", _float, "largest absolute difference from the float64 reference"),
    ("rel_err", _float, "||out - ref||_2 / ||ref||_2"),
    ("snr_db", _float, "20 log10(||ref|| / ||out - ref||)"),
    ("roof_level", _str, "memory level the data is read from at best (by the reach the sweep measured), or "
                         "the bound that limits the row (runs with --roofline)"),
    ("roof_gflops", _float, "attainable GFLOP/s (GOP/s for int8) by the roofline model of the row's op"),
    ("roof_pct", _float, "achieved useful GFLOP/s (native time where measured) as a percentage of roof_gflops"),
    ("detail", _str, "what actually ran: library, compiler flags, quantization scheme"),
    ("blas", _str, "BLAS library, version, core and threading layer (threadpoolctl)"),
    ("blas_threads", _int, "threads the BLAS reported after the per-case limit"),
    ("cpus", _str, "CPUs the worker was pinned to (chosen as the least busy, or pinned by --cpus or the suite)"),
    ("timer_resolution_ns", _float, "resolution of the timer the samples came from"),
    ("host", _str, "host name"),
    ("cpu_model", _str, "CPU model name"),
    ("cpu_flags", _str, "SIMD-relevant CPU flags (what the run could use: a simulation's, when one was asked for)"),
    ("cpu_id", _str, "vendor-family-model of the CPU (x86), implementer-part (aarch64)"),
    ("cpu_simulation", _str, "the flags GEMMBENCH_CPU_FLAGS hid ('' on a real CPU)"),
    ("feature_key", _str, "CPU identity + key ISA flags (+simulated for a simulation): rows compare only "
                          "within one key"),
    ("cores", _int, "CPUs available to the run"),
    ("os", _str, "operating system and kernel"),
    ("compiler", _str, "C compiler version line"),
    ("numpy_version", _str, "numpy version"),
    ("python_version", _str, "Python version"),
    ("gemmbench_version", _str, "gemmbench version"),
    ("git_sha", _str, "git revision of gemmbench ('+dirty' with local changes)"),
]
REQUIRED = ("run_id", "suite", "case", "backend", "variant", "status", "median_ns")
# Every row gemmbench writes names these; a row without them cannot be told apart from another.
NEVER_NULL = ("run_id", "suite", "case", "backend", "variant", "status", "threads")
# Every status, in the order tables list them: the one set the read side and the commands use.
FAILED_STATUSES = ("wrong", "error", "crashed", "timeout")  # the row failed: a run with one exits 1
NOT_RUN_STATUSES = ("skipped", "unavailable")  # never measured, and nothing went wrong


def op_columns() -> list[tuple[str, pa.DataType, str, str]]:
    """(name, type, meaning, op) of every column the installed ops add; a name two ops declare
    with different types is a plugin error, named here."""
    from gemmbench import registry

    core = {name for name, _, _ in CORE_COLUMNS}
    found: dict[str, tuple[str, pa.DataType, str, str]] = {}
    for op_name in registry.ops.names():
        for column in registry.ops.get(op_name).columns:
            kind = TYPES.get(column.type)
            if kind is None or column.name in core:
                raise UsageError(f"op {op_name}: column {column.name!r} " + (
                    f"has type {column.type!r}; types: {', '.join(TYPES)}" if kind is None else
                    "is a core column; an op adds columns of its own"))
            seen = found.get(column.name)
            if seen is not None and seen[1] != kind:
                raise UsageError(f"ops {seen[3]} and {op_name} both declare column {column.name!r} "
                                 f"with different types ({seen[1]}, {kind})")
            found.setdefault(column.name, (column.name, kind, column.doc, op_name))
    return list(found.values())


def columns() -> list[tuple[str, pa.DataType, str]]:
    """Every column a results file of the installed ops has: the core's, then the ops'."""
    return [*CORE_COLUMNS, *((name, kind, doc) for name, kind, doc, _ in op_columns())]


def schema() -> pa.Schema:
    return pa.schema([(name, kind) for name, kind, _ in columns()])


def column_names() -> list[str]:
    return [name for name, _, _ in columns()]


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    suite: str
    started: str
    resume: dict | None = None  # what `run --resume` needs: the expanded suite and the run options


def _table(rows: list[dict], metadata: dict) -> pa.Table:
    names, kinds = column_names(), schema()
    table = pa.Table.from_pylist([{name: row.get(name) for name in names} for row in rows], schema=kinds)
    return table.replace_schema_metadata({METADATA_KEY: json.dumps(metadata).encode()})


def check_row(row: dict) -> None:
    """Raise ValueError or TypeError unless the row's values fit the schema's columns."""
    _table([row], {})


def encode(table: pa.Table) -> bytes:
    """The table as parquet bytes, encoded in memory first: pyarrow writing into a Python file
    object calls back into Python, where a signal handler's exception could be swallowed
    mid-page and a torn file published. One write of finished bytes completes or raises."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def journal_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.journal")


class ResultsFile:
    """One run's parquet file and the journal of rows not yet in it.

    Rows are appended to a journal beside the file (one JSON line each, fsynced per batch),
    and the parquet file is rewritten atomically only when a quarter more rows than it holds
    have come: linear cost, a file that is valid parquet at every moment, and every row on
    disk before `add` returns. The journal only grows while the run lasts, so a reader that
    takes the file and then the journal's rows beyond it (`read_table`) never sees fewer rows
    than a reader before it; `close` writes the complete file, then removes the journal.
    `create()` claims the file before anything runs, so an unwritable directory is reported
    at once; a failed write leaves the previous version of the file (complete=false) in place.
    """

    def __init__(self, path: Path, info: RunInfo, rows: list[dict] | None = None):
        self.path = path
        self.info = info
        self.rows: list[dict] = list(rows or [])
        self.saved = len(self.rows)  # rows in the parquet file on disk
        self.durable = len(self.rows)  # rows on disk, in the file or committed to its journal
        self.journal_checked = False  # a journal left by an interrupted writer is cut back to its last commit once
        self.extra: dict = {}  # more file metadata, e.g. the roofline the run was measured against

    def metadata(self, complete: bool) -> dict:
        meta = {"schema_version": SCHEMA_VERSION, "complete": complete, "run_id": self.info.run_id,
                "suite": self.info.suite, "started": self.info.started, **self.extra}
        return {**meta, "resume": self.info.resume} if self.info.resume is not None else meta

    def create(self) -> None:
        """Write the empty, partial file; FileExistsError when the name is taken."""
        try:
            atomic.write_bytes(self.path, encode(_table(self.rows, self.metadata(complete=False))), exclusive=True)
        except OSError as exc:
            if isinstance(exc, FileExistsError) and self.path.parent.is_dir():
                raise
            raise UsageError(f"{self.path.parent}: cannot write results here: "
                             f"{exc.strerror or exc}") from None

    def add(self, rows: Iterable[dict]) -> None:
        rows = list(rows)
        if not rows:
            return
        for row in rows:
            row["seq"] = len(self.rows)
            self.rows.append(row)
        self._guarded(self._append_journal, rows)
        if len(self.rows) - self.saved >= max(JOURNAL_MIN, JOURNAL_SHARE * self.saved):
            self._guarded(self._write, False)

    def close(self, complete: bool = True) -> None:
        self._guarded(self._write, complete)
        journal_path(self.path).unlink(missing_ok=True)

    def _append_journal(self, rows: list[dict]) -> None:
        """The rows, then a commit line: a reader takes rows up to the last commit only, so a batch cut
        short by a full disk or a kill is not half-read."""
        if not self.journal_checked:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _cut_to_last_commit(journal_path(self.path))
            self.journal_checked = True
        lines = "".join(json.dumps(row, default=_json_value) + "\n" for row in rows)
        lines += json.dumps({"commit": rows[-1]["seq"]}) + "\n"
        with open(journal_path(self.path), "ab") as journal:
            journal.write(lines.encode())
            journal.flush()
            os.fsync(journal.fileno())
        self.durable = len(self.rows)

    def _write(self, complete: bool) -> None:
        atomic.write_bytes(self.path, encode(_table(self.rows, self.metadata(complete))))
        self.saved = len(self.rows)

    def _guarded(self, write, *args) -> None:
        try:
            write(*args)
        except OSError as exc:
            raise UsageError(f"{self.path}: writing results failed: {exc.strerror or exc}; the {self.durable} "
                             f"rows written before are in the file, marked partial (once the cause is fixed, "
                             f"`gemmbench run --resume {self.path}` finishes it)") from None


def _json_value(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not a results value")


def _committed_lines(data: bytes) -> tuple[list[dict], int]:
    """The journal's rows up to its last commit line, and the byte length of that committed part."""
    rows, pending, end, offset = [], [], 0, 0
    for line in data.splitlines(keepends=True):
        offset += len(line)
        try:
            entry = json.loads(line) if line.endswith(b"\n") else None
        except ValueError:
            entry = None  # a line cut short: only an uncommitted batch can end in one
        if isinstance(entry, dict) and "commit" in entry:
            rows, pending, end = rows + pending, [], offset
        elif isinstance(entry, dict):
            pending.append(entry)
    return rows, end


def _cut_to_last_commit(path: Path) -> None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    _, end = _committed_lines(data)
    if end < len(data):
        with open(path, "r+b") as journal:
            journal.truncate(end)


def _journal_rows(path: Path, after_seq: int) -> list[dict]:
    """Committed rows of a partial run's journal that are not in its parquet file yet."""
    try:
        data = journal_path(path).read_bytes()
    except OSError:
        return []
    rows = []
    for row in _committed_lines(data)[0]:
        if isinstance(row.get("seq"), int) and row["seq"] > after_seq:
            if isinstance(row.get("timestamp"), str):
                row["timestamp"] = dt.datetime.fromisoformat(row["timestamp"])
            rows.append(row)
    return rows


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
        for stale in path.parent.glob(f".{path.name}.*.tmp"):  # not the journal: it holds rows
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
    if not _plot_kinds_valid(meta.get("plots", [])):
        raise UsageError(f"{path}: gemmbench metadata is damaged ('plots' is not a list of plot kinds)")
    return meta


def _plot_kinds_valid(plots) -> bool:
    """Whether metadata 'plots' is what a run writes: PlotKind fields, each text."""
    from gemmbench.op import PlotKind

    fields = {f.name for f in dataclasses.fields(PlotKind)}
    required = {f.name for f in dataclasses.fields(PlotKind) if f.default is dataclasses.MISSING}
    return isinstance(plots, list) and all(
        isinstance(kind, dict) and required <= kind.keys() <= fields and all(isinstance(v, str) for v in kind.values())
        for kind in plots)


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
            kind = filekind.irregular(path)
            if kind:  # never opened: reading a FIFO waits for a writer that may never come
                raise UsageError(f"{path}: is {kind}, not a results file")
            files.append(path)
        else:
            raise UsageError(f"{path}: no such results file or directory")
    return files


def files_read(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Every file reading these results opens: the parquet files, and the journals beside them."""
    return [file for path in result_files(paths) for file in (path, journal_path(path))]


def read_table(path: Path) -> pa.Table:
    """One results file, checked, in the current schema.

    A file of this version describes itself: it is read as written, the core columns typed, and no
    registry is asked anything. A file of an older version (lower schema_version) reads with the
    columns added since filled once, here (`_upgraded`); a newer one is refused.
    """
    table, meta = _read_checked(path)
    if not meta.get("complete"):
        with_journal = _with_journal(table, path)
        # No journal: the writer closed the file between our two reads (or never wrote one); what
        # the file holds now has every row it wrote.
        table = with_journal if with_journal is not None else _read_checked(path)[0]
    empty = [name for name in NEVER_NULL if name in table.column_names and table.column(name).null_count]
    if empty:
        raise UsageError(f"{path}: column '{empty[0]}' is empty in {table.column(empty[0]).null_count} row(s); "
                         f"every row gemmbench writes names its {', '.join(NEVER_NULL)}")
    if meta["schema_version"] < SCHEMA_VERSION:
        return _upgraded(table, path)
    return _conformed(table, CORE_COLUMNS, path)


def _conformed(table: pa.Table, wanted: list[tuple[str, pa.DataType, str]], path: Path) -> pa.Table:
    """The table with every wanted column, of its type (missing ones null), in order, then the others."""
    for name, kind, _ in wanted:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, kind))
        elif table.schema.field(name).type != kind:
            table = _cast_column(table, name, kind, path)
    names = [name for name, _, _ in wanted]
    return table.select(names + [c for c in table.column_names if c not in names])


def _upgraded(table: pa.Table, path: Path) -> pa.Table:
    """A file of an older schema in this one: the columns added since, derived where the file holds
    what they are derived from, else null; the installed ops' columns as before. The one place
    readers meet an older file: everything after this reads the current schema."""
    present = set(table.column_names)
    table = _conformed(table, columns(), path)
    if "repeat" not in present:  # before repeats existed, every run was repeat 0
        table = _replaced(table, "repeat", [0] * table.num_rows)
    if "shape" not in present:
        table = _replaced(table, "shape", [_legacy_shape(row) for row in table.to_pylist()])
    missing = [name for name in ("role", "reference_only") if name not in present]
    if missing:
        declared = _declared(set(table.column("backend").to_pylist()))
        pairs = zip(table.column("backend").to_pylist(), table.column("variant").to_pylist())
        values = [declared.get(backend, ("ours", frozenset())) for backend in table.column("backend").to_pylist()]
        if "role" in missing:
            table = _replaced(table, "role", [role for role, _ in values])
        if "reference_only" in missing:
            table = _replaced(table, "reference_only", [variant in reference for (_, variant), (_, reference)
                                                        in zip(pairs, values)])
    if "baseline" not in present:
        from gemmbench.stats.decide import PAIRING_COLUMNS, pair

        pairing = pair(table.to_pylist())
        for name in PAIRING_COLUMNS:
            table = _replaced(table, name, [columns[name] for columns in pairing])
    return table


def _replaced(table: pa.Table, name: str, values: list) -> pa.Table:
    index = table.schema.get_field_index(name)
    return table.set_column(index, name, pa.array(values, type=table.schema.field(name).type))


def _legacy_shape(row: dict) -> str:
    """The shape label of a row written before schema 2, from that schema's core columns: only matrix
    products (and the vocoder step built on them, with its steps) existed then."""
    if row.get("m") is None or row.get("k") is None:
        return ""
    n, sparsity, steps = row.get("n") or 1, row.get("sparsity") or "", row.get("steps")
    label = f"{row['m']}x{row['k']}" + (f"x{n}" if n > 1 else "") + (f" {sparsity}" if sparsity else "")
    return label + (f" x{steps}" if row.get("op") == "lpcnet_step" and steps else "")


def plot_kinds(meta: dict, ops: Iterable[str]) -> list[dict]:
    """The plot kinds of the ops whose rows a file holds (gemmbench.op.PlotKind fields), as the file records
    them (metadata 'plots'); a file written before schema 3 records none: the installed ops' are taken."""
    if meta.get("schema_version", 0) >= 3:
        return list(meta.get("plots", []))
    from gemmbench import registry

    installed = set(registry.ops.names())
    return [dataclasses.asdict(kind) for op in sorted(set(ops) & installed) for kind in registry.ops.get(op).plots]


def _declared(backends: set[str]) -> dict[str, tuple[str, frozenset[str]]]:
    """backend -> (role, its reference-only variants) as the installed backend declares them: what a
    file written before schema 3 did not record. A backend not installed here (or failing) is one of
    ours with no reference variants."""
    from gemmbench import registry
    from gemmbench.measure import probe

    installed = [name for name in backends if name in registry.backends.names()]
    # Asked of a child process: reading a file never runs a backend's code here.
    return {name: (status.role, frozenset(status.reference_only)) for name, status in probe.statuses(installed).items()}


def _read_checked(path: Path) -> tuple[pa.Table, dict]:
    try:
        # One open file: given a path, pyarrow opens it again for the data after reading the
        # footer, and a run renaming its next version into place in between mixes two files.
        with pa.OSFile(str(path)) as source:
            table = pq.read_table(source)
        table.validate(full=True)  # parquet is not checked as it is read: text that is not UTF-8, for one
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(path, exc) from None
    meta = _parse_metadata(table.schema, path)
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise UsageError(f"{path}: results file lacks column(s) {', '.join(missing)}")
    return table, meta


def _with_journal(table: pa.Table, path: Path) -> pa.Table | None:
    """A partial run's file with the rows its journal holds beyond it; None when the journal went
    away after the file was read (the run has just written its complete file)."""
    if not journal_path(path).exists():
        return None
    seqs = [s for s in table.column("seq").to_pylist() if s is not None]
    pending = _journal_rows(path, max(seqs, default=-1))
    if not pending:
        return table
    extra = pa.Table.from_pylist([{name: row.get(name) for name in table.column_names} for row in pending],
                                 schema=table.schema.remove_metadata())
    return pa.concat_tables([table, extra.replace_schema_metadata(table.schema.metadata)])


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
    found = sorted(p for p in out_dir.glob("*.parquet") if p.name.endswith(suffix) and p.is_file()) \
        if out_dir.is_dir() else []
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
