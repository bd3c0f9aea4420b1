"""Results prepared for plots and the report: labels, quartiles, baseline speed-ups, pay-off, runs.

Everything derived here is computed from stored columns; nothing is estimated.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from gemmbench.data.results import (
    FAILED_STATUSES,
    NOT_RUN_STATUSES,
    plot_kinds,
    read_metadata,
    read_table,
    result_files,
)
from gemmbench.errors import UsageError
from gemmbench.machine import isa
from gemmbench.machine.revision import UNKNOWN
from gemmbench.op import PlotKind
from gemmbench.report.select import RowFilter
from gemmbench.stats import decide
from gemmbench.stats.decide import DEFAULT_BASELINE, PAIRING_COLUMNS, PEER


@dataclass(frozen=True)
class RunSummary:
    """One run as the report's header shows it: where, when, with what."""

    run_id: str
    label: str  # short name used in legends and tables when several runs are shown
    suite: str
    file: str
    started: str
    complete: bool
    rows: int
    hosts: str
    cpu_model: str
    flags_present: tuple[str, ...]
    flags_missing: tuple[str, ...]
    isa_levels_run: tuple[str, ...]  # ISA levels (gemmbench/machine/isa.py) of the variants this run verified and timed
    isa_levels_unavailable: tuple[str, ...]  # levels whose variants were unavailable here (the CPU lacks a flag)
    cores: str
    threads: str
    cpus: str
    blas: str
    compiler: str
    os: str
    versions: str
    git_sha: str


@dataclass(frozen=True)
class ReportData:
    """Every row of the results given, with the derived columns plots and tables use."""

    frame: pd.DataFrame
    runs: tuple[RunSummary, ...]
    baseline: str  # 'backend' or 'backend:variant'
    colors: dict[str, str]  # series (backend:variant) -> colour, the same in every plot
    roofs: dict[str, dict] = field(default_factory=dict)  # run_id -> the roofline stored with that run
    op_kinds: dict[str, PlotKind] = field(default_factory=dict)  # the plot kinds of the ops these results ran
    shown: str = ""  # the row filter applied, described ('' when every row is shown)
    every_sample: bool = False  # plots draw every sample and the reference-only rows, not summaries

    @property
    def plotted(self) -> pd.DataFrame:
        """Timed rows the plots show: reference-only variants only when every sample is asked for."""
        ok = self.ok
        return ok if self.every_sample else ok[~ok["reference_only"]]

    @property
    def several_runs(self) -> bool:
        return len(self.runs) > 1

    @property
    def ok(self) -> pd.DataFrame:
        """Timed rows: status ok and a median."""
        frame = self.frame
        return frame[(frame["status"] == "ok") & frame["median_ns"].notna()]


def load(paths: Iterable[str | os.PathLike], baseline: str = DEFAULT_BASELINE,
         rows: RowFilter = RowFilter(), every_sample: bool = False) -> ReportData:
    """Read result files (or directories of them), keep the rows asked for, prepare them for the report."""
    files = _unique(result_files(paths))
    frames, metas = [], []
    for path in files:
        frames.append(read_table(path).to_pandas().assign(file=str(path)))
        metas.append(read_metadata(path))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame = rows.apply(frame, baseline).reset_index(drop=True)
    if frame.empty:
        raise UsageError(f"{', '.join(map(str, files))}: no result rows to report (the run saved none)")
    data = prepare(frame, [(str(f), m) for f, m in zip(files, metas)], baseline)
    return dataclasses.replace(data, shown=rows.describe(), every_sample=every_sample)


def _unique(files: list[Path]) -> list[Path]:
    seen, unique = set(), []
    for path in files:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def prepare(frame: pd.DataFrame, files: list[tuple[str, dict]], baseline: str) -> ReportData:
    frame = frame.copy()
    _check_baseline(frame, baseline)
    labels = run_labels(frame)
    frame["run_label"] = frame["run_id"].map(labels)
    frame["run_order"] = frame["run_id"].map({run_id: i for i, run_id in enumerate(labels)})  # oldest file first
    frame["series"] = frame["backend"] + ":" + frame["variant"].fillna("")
    frame["role"] = frame["role"].fillna("ours")
    frame["reference_only"] = frame["reference_only"].fillna(False).astype(bool)
    several = len(labels) > 1
    frame["label"] = frame["series"].where(frame["role"] != PEER, frame["series"] + PEER_MARK) \
        + (" @ " + frame["run_label"] if several else "")
    frame["isa"] = frame["isa"].fillna("")
    for column, default in (("cache", "hot"), ("pages", "huge")):  # files older than the columns: what ran then
        frame[column] = frame[column].fillna(default) if column in frame else default
    frame["overhead_ns"] = frame["median_ns"] - frame["native_median_ns"]
    quartiles = [_quartiles(s) for s in frame["samples_ns"]]
    frame["q1_ns"] = [q[0] for q in quartiles]
    frame["q3_ns"] = [q[1] for q in quartiles]
    _time_columns(frame)
    frame["accuracy_db"] = [decide.snr_of(row) for row in frame[["snr_db", "rel_err"]].to_dict("records")]
    frame = _speedups(frame, baseline)
    runs = tuple(_run_summary(frame[frame["run_id"] == run_id], run_id, label, files)
                 for run_id, label in labels.items())
    roofs = {meta["run_id"]: meta["roofline"] for _, meta in files if "roofline" in meta and "run_id" in meta}
    return ReportData(frame, runs, baseline, _colors(frame["series"]), roofs, _op_kinds(frame, files))


def _op_kinds(frame: pd.DataFrame, files: list[tuple[str, dict]]) -> dict[str, PlotKind]:
    """The plot kinds each file records for the ops its rows ran."""
    found: dict[str, PlotKind] = {}
    for file, meta in files:
        ops = frame.loc[frame["file"] == file, "op"].dropna().unique()
        for kind in plot_kinds(meta, ops):
            found.setdefault(kind["name"], PlotKind(**kind))
    return found


def _check_baseline(frame: pd.DataFrame, baseline: str) -> None:
    backend, _, variant = baseline.partition(":")
    if baseline == DEFAULT_BASELINE:
        return  # the default may be absent; the report then says so instead of failing
    present = sorted(set(frame["backend"]))
    if backend not in present:
        raise UsageError(f"--baseline {baseline}: no rows of backend '{backend}' in these results; "
                         f"backends present: {', '.join(present)}")
    variants = sorted(set(frame.loc[frame["backend"] == backend, "variant"].dropna()))
    if variant and variant not in variants:
        raise UsageError(f"--baseline {baseline}: backend '{backend}' has no variant '{variant}' in these "
                         f"results; it has: {', '.join(variants)}")


def run_labels(frame: pd.DataFrame) -> dict[str, str]:
    """run_id -> a short label: the run's token, with host and commit when those differ between runs."""
    runs = frame.drop_duplicates("run_id")[["run_id", "host", "git_sha"]].fillna("")
    hosts_differ = runs["host"].nunique() > 1
    shas_differ = runs["git_sha"].nunique() > 1
    labels = {}
    for run_id, host, sha in runs.itertuples(index=False):
        parts = [host] if hosts_differ else []
        parts += [sha[:7]] if shas_differ else []
        labels[run_id] = " ".join(parts + [run_id.rsplit("-", 1)[-1]])
    if len(set(labels.values())) < len(labels):
        return {run_id: run_id for run_id in labels}
    return labels


def _quartiles(samples) -> tuple[float, float]:
    if samples is None or len(samples) == 0:
        return math.nan, math.nan
    q1, q3 = np.percentile(np.asarray(samples, dtype=np.float64), [25, 75])
    return float(q1), float(q3)


def _time_columns(frame: pd.DataFrame) -> None:
    """time_ns: the figure the project ranks by (gemmbench.stats.decide.time_of), with its samples' quartiles."""
    records = frame[["median_ns", "native_median_ns", "samples_ns", "native_samples_ns"]].to_dict("records")
    figures = [decide.time_of(row) for row in records]
    frame["time_ns"] = [ns for ns, _ in figures]
    frame["time_source"] = [source for _, source in figures]
    quartiles = [_quartiles(decide.samples_of(row, source)) for row, (_, source) in zip(records, figures)]
    frame["time_q1_ns"] = [q[0] for q in quartiles]
    frame["time_q3_ns"] = [q[1] for q in quartiles]


def _speedups(frame: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Each row's speed-up over its baseline row (gemmbench.stats.decide: as the run stored it, or paired
    anew against another baseline), the baseline's time, and the pay-off of the row's preparation."""
    if baseline != DEFAULT_BASELINE:
        paired = pd.DataFrame(decide.pair(frame, baseline), index=frame.index)
        frame = frame.assign(**{name: paired[name] for name in PAIRING_COLUMNS})
    frame["baseline"] = frame["baseline"].fillna("")
    frame["is_baseline"] = (frame["baseline"] == frame["series"]) & (frame["baseline"] != "")
    rounds = [decide.baseline_key(row) for row in frame[ROUNDS].to_dict("records")]
    times = {(where, series): ns for where, series, ns, base in
             zip(rounds, frame["series"], frame["time_ns"], frame["is_baseline"]) if base}
    frame["baseline_ns"] = [times.get((where, series), math.nan) for where, series in zip(rounds, frame["baseline"])]
    saved = frame["baseline_ns"] - frame["time_ns"]
    frame["payoff_calls"] = np.where(saved > 0, np.ceil(frame["prepare_ns"] / saved.where(saved > 0)), np.nan)
    return frame


ROUNDS = ["run_id", "repeat", "case", "threads", "cache", "pages"]  # what gemmbench.stats.decide.baseline_key reads
PEER_MARK = " (peer)"  # after the backend:variant of a peer runtime's row, in tables and plot legends


def _colors(series: pd.Series) -> dict[str, str]:
    return _distinct_colors(sorted(set(series)))


def _distinct_colors(names: list) -> dict:
    """A distinct colour per name: tab10, else the 60 of tab20, tab20b and tab20c, else evenly spaced hues."""
    from matplotlib import colormaps
    from matplotlib.colors import hsv_to_rgb, to_hex

    # The ten strong colours first, then tab20's light ones, then tab20b and tab20c: neighbours in a
    # sorted legend (csimd:avx2, csimd:avx2-int8, ...) do not come out as a light and dark pair.
    palette = [*colormaps["tab10"].colors, *colormaps["tab20"].colors[1::2], *colormaps["tab20b"].colors,
               *colormaps["tab20c"].colors]
    if len(names) > len(palette):
        palette = [hsv_to_rgb((i / len(names), 0.75, 0.55 + 0.35 * (i % 2))) for i in range(len(names))]
    return {name: to_hex(palette[i]) for i, name in enumerate(names)}


def _joined(values: pd.Series) -> str:
    return ", ".join(sorted({str(v) for v in values.dropna() if str(v)}))


def _run_summary(rows: pd.DataFrame, run_id: str, label: str, files: list[tuple[str, dict]]) -> RunSummary:
    file, meta = next(((f, m) for f, m in files if m.get("run_id") == run_id),
                      (_joined(rows["file"]), {}))
    flags = set(" ".join(rows["cpu_flags"].dropna()).split())
    threads = sorted({int(t) for t in rows["threads"].dropna()})
    cpus = sorted({int(c) for value in rows["cpus"].dropna() for c in str(value).split(",") if c})
    versions = ", ".join(f"{name} {_joined(rows[column])}" for name, column in
                         (("gemmbench", "gemmbench_version"), ("numpy", "numpy_version"),
                          ("Python", "python_version")) if _joined(rows[column]))
    return RunSummary(
        run_id=run_id, label=label, suite=_joined(rows["suite"]), file=file,
        started=_when(meta.get("started") or rows["timestamp"].min()),
        complete=bool(meta.get("complete", True)), rows=len(rows), hosts=_joined(rows["host"]),
        cpu_model=_joined(rows["cpu_model"]),
        flags_present=tuple(f for f in isa.key_flags(isa.arch_of(flags)) if f in flags),
        flags_missing=tuple(f for f in isa.key_flags(isa.arch_of(flags)) if f not in flags),
        isa_levels_run=_isa_levels(rows, "ok"), isa_levels_unavailable=_isa_levels(rows, "unavailable"),
        cores=_joined(rows["cores"].astype("Int64")), threads=", ".join(map(str, threads)),
        cpus=",".join(map(str, cpus)), blas=blas_text(rows["blas"]), compiler=_joined(rows["compiler"]),
        os=_joined(rows["os"]), versions=versions, git_sha=_revision_text(rows["git_sha"]))


def _isa_levels(rows: pd.DataFrame, status: str) -> tuple[str, ...]:
    """The ISA levels of the rows with this status, floor first (the table's order); unavailable
    levels only where no row of them ran."""
    levels = {str(v) for v in rows.loc[rows["status"] == status, "isa"].dropna() if str(v)}
    if status != "ok":
        levels -= set(_isa_levels(rows, "ok"))
    order = list(isa.LEVELS)
    return tuple(sorted(levels, key=lambda name: (order.index(name) if name in order else len(order), name)))


def blas_text(values: Iterable) -> str:
    """The BLAS libraries the rows name, each once: 'openblas 0.3.27, 0.3.27.44 (Zen, pthreads)'.

    Each worker records what it had loaded ('lib version arch layer', '; ' between libraries), so the
    same library recurs from row to row, and numpy's and scipy's copies differ only by version."""
    versions: dict[tuple[str, str], list[str]] = {}  # (name, what else) -> versions, in order of appearance
    for value in values:
        for entry in (value.split(";") if isinstance(value, str) else ()):
            words = entry.split()
            if not words or words == ["none"]:
                continue
            listed = versions.setdefault((words[0], ", ".join(words[2:])), [])
            version = words[1] if len(words) > 1 else "?"
            if version not in listed:
                listed.append(version)
    return "; ".join(f"{name} {', '.join(found)}" + (f" ({rest})" if rest else "")
                     for (name, rest), found in versions.items())


def _revision_text(values: pd.Series) -> str:
    text = _joined(values)
    return "not recorded (gemmbench was installed without its git revision)" if text in ("", UNKNOWN) else text


def _when(stamp) -> str:
    try:
        return pd.Timestamp(stamp).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, TypeError):
        return str(stamp)


def failed_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"].isin(FAILED_STATUSES)]


def not_run_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"].isin(NOT_RUN_STATUSES)]
