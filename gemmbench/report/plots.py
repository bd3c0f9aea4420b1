"""The report's plots: one function per kind, each returning a matplotlib Figure.

Figures are built with matplotlib.figure.Figure on the Agg canvas, never through pyplot, so
nothing here touches global state. A kind with nothing to show raises NoPlotData with the reason
the report prints in its place. To add a kind: write `def my_plot(data) -> Figure` (here or in a
module of its own) and add a PlotKind to CORE_KINDS in gemmbench/report/kinds.py (or to its op's `plots`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from gemmbench.isa import rank as isa_rank
from gemmbench.report.data import ReportData, time_text
from gemmbench.report.kinds import NoPlotData

WIDTH = 10.0  # inches; every figure shares it so the report's images line up
LINESTYLES = ("-", "--", ":", "-.")
HATCHES = ("", "//", "..", "xx")
MARKERS = ("o", "s", "^", "D")
GRID = {"color": "#d0d0d0", "linewidth": 0.6}


# ---- shared helpers -------------------------------------------------------------------------


def new_figure(height: float, width: float = WIDTH) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def panel_grid(count: int, ncols: int, panel_height: float) -> tuple[Figure, list[Axes]]:
    """`count` panels in rows of `ncols`; unused cells removed."""
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    figure = new_figure(panel_height * nrows + 0.8)
    axes = list(np.atleast_1d(figure.subplots(nrows, ncols, squeeze=False)).ravel())
    for extra in axes[count:]:
        extra.remove()
    return figure, axes[:count]


def thread_text(threads) -> str:
    return f"{int(threads)} thread" + ("" if int(threads) == 1 else "s")


def case_title(data: ReportData, case: str, threads=None) -> str:
    several_threads = data.ok["threads"].nunique() > 1
    return case + (f" · {thread_text(threads)}" if threads is not None and several_threads else "")


def nice_log_ticks(low: float, high: float, most: int = 7) -> list[float]:
    """Three to `most` readable tick values between low and high for a log axis."""
    exponents = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    mantissa_sets = ((1,), (1, 2, 5), (1, 3), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9))
    candidates = [[float(f"{m * 10.0 ** e:.6g}") for e in exponents for m in mantissas if low <= m * 10.0 ** e <= high]
                  for mantissas in mantissa_sets]
    decades = candidates[0]
    if len(decades) > most:
        return decades[::math.ceil(len(decades) / most)]
    for ticks in candidates:
        if 3 <= len(ticks) <= most:
            return ticks
    for ticks in candidates:
        if 2 <= len(ticks) <= most:
            return ticks
    return [t for t in MaxNLocator(nbins=4).tick_values(low, high) if low <= t <= high]


def log_axis(axes: Axes, axis: str, text: Callable[[float], str], most: int = 7) -> None:
    """Log scale with a few labelled ticks chosen for the final limits (call after plotting)."""
    (axes.set_yscale if axis == "y" else axes.set_xscale)("log")
    target = axes.yaxis if axis == "y" else axes.xaxis
    low, high = axes.get_ylim() if axis == "y" else axes.get_xlim()
    target.set_major_locator(FixedLocator(nice_log_ticks(low, high, most)))
    target.set_major_formatter(FuncFormatter(lambda value, _: text(value)))
    target.set_minor_locator(NullLocator())


def log_time_axis(axes: Axes, axis: str = "y") -> None:
    log_axis(axes, axis, time_text)


def time_unit(largest_ns: float) -> tuple[float, str]:
    for scale, unit in ((1e6, "ms"), (1e3, "µs")):
        if largest_ns >= scale:
            return scale, unit
    return 1.0, "ns"


def figure_legend(figure: Figure, handles: list, labels: list[str]) -> None:
    if handles:
        figure.legend(handles, labels, loc="outside upper center", ncols=min(4, len(labels)),
                      frameon=False, fontsize="small")


def unique_handles(axes_list: list[Axes]) -> tuple[list, list[str]]:
    handles, labels = [], []
    for axes in axes_list:
        for handle, label in zip(*axes.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    return handles, labels


def row_label(data: ReportData, row: pd.Series, with_threads: bool) -> str:
    text = row["series"] + (f" · {int(row['threads'])} thr" if with_threads else "")
    return text + (f" @ {row['run_label']}" if data.several_runs else "")


def grouped_bars(data: ReportData, rows: pd.DataFrame, row_height: float, margin: float, order,
                 draw_row) -> tuple[Figure, Axes]:
    """One horizontal bar row per result row, grouped by case and thread count under a bold title.

    order(group) sorts a group's rows; draw_row(axes, y, row) draws the row at height y. The
    figure grows with the rows; the y axis is labelled with each row's series and run.
    """
    groups = list(rows.groupby(["case", "threads"], sort=False, dropna=False))
    figure = new_figure(row_height * (len(rows) + len(groups)) + margin)
    axes = figure.subplots()
    y, ticks, names = 0.0, [], []
    for (case, threads), group in groups:
        axes.text(0.005, y, case_title(data, case, threads), transform=axes.get_yaxis_transform(),
                  fontweight="bold", va="center", fontsize="small")
        y += 1
        for _, row in order(group).iterrows():
            draw_row(axes, y, row)
            ticks.append(y)
            names.append(row_label(data, row, False))
            y += 1
        y += 0.4
    axes.set_yticks(ticks, names, fontsize="small")
    axes.set_ylim(y - 0.6, -0.8)
    return figure, axes


# ---- 1. speed-up over the baseline ----------------------------------------------------------


def speedup_plot(data: ReportData) -> Figure:
    ok = data.ok
    if ok["baseline_ns"].notna().sum() == 0:
        timed = ", ".join(sorted(set(ok["backend"]))) or "none"
        raise NoPlotData(f"the baseline {data.baseline} has no timed rows in these results; "
                         f"choose one that ran with --baseline (timed backends: {timed})")
    rows = ok[ok["baseline_ns"].notna() & ~ok["is_baseline"]]
    if rows.empty:
        raise NoPlotData(f"only the baseline {data.baseline} was timed: there is no other backend to compare")

    def draw_row(axes: Axes, y: float, row: pd.Series) -> None:
        s = row["speedup"]
        error = [[max(s - row["speedup_lo"], 0)], [max(row["speedup_hi"] - s, 0)]]
        axes.barh(y, s - 1, left=1, height=0.7, color=data.colors[row["series"]],
                  hatch=HATCHES[int(row["run_order"]) % len(HATCHES)], edgecolor="white",
                  xerr=error, error_kw={"elinewidth": 0.9, "capsize": 2, "ecolor": "#333"})
        axes.annotate(f"{s:.2f}×", (max(s, row["speedup_hi"]) if s >= 1 else min(s, row["speedup_lo"]), y),
                      xytext=(4 if s >= 1 else -4, 0), textcoords="offset points", va="center",
                      ha="left" if s >= 1 else "right", fontsize="small")

    figure, axes = grouped_bars(data, rows, 0.28, 1.2, lambda group: group.sort_values(["series", "run_order"]),
                                draw_row)
    low = min(rows["speedup_lo"].min(skipna=True), rows["speedup"].min(), 1.0)
    high = max(rows["speedup_hi"].max(skipna=True), rows["speedup"].max(), 1.0)
    axes.set_xscale("log")
    axes.set_xlim(low / 1.6, high * 1.6)
    log_axis(axes, "x", lambda v: f"{v:g}×")
    axes.axvline(1, color="#444", linewidth=1)
    axes.grid(axis="x", **GRID)
    axes.set_axisbelow(True)
    axes.set_xlabel(f"speed-up over {data.baseline} (baseline median ÷ median; bars from 1×, "
                    "whiskers: the row's interquartile range)")
    return figure


# ---- 2. time per call against size or density -----------------------------------------------


@dataclass(frozen=True)
class Sweep:
    title: str
    x: str  # column on the x axis
    xlabel: str
    rows: pd.DataFrame


def sweeps(ok: pd.DataFrame) -> list[Sweep]:
    """Rows sharing op and shape that differ by density; dense rows sharing op and n that differ by m·k."""
    found = []
    for (op, m, k, n, dtype, threads), rows in ok.groupby(["op", "m", "k", "n", "dtype", "threads"], sort=False):
        if rows["density"].nunique() > 1:
            found.append(Sweep(f"{op} {m}×{k}" + (f"×{n}" if n > 1 else "") + f" {dtype}, {thread_text(threads)}",
                               "density", "density (fraction of weights stored)", rows))
    dense = ok[ok["density"].fillna(1.0) >= 1.0]
    for (op, n, dtype, threads), rows in dense.groupby(["op", "n", "dtype", "threads"], sort=False):
        if rows["weights"].nunique() > 1:
            found.append(Sweep(f"dense {op}" + (f" n={n}" if n > 1 else "") + f" {dtype}, {thread_text(threads)}",
                               "weights", "matrix size m·k (number of weights)", rows))
    return found


def crossing(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> float | None:
    """Where curve a crosses curve b (log-log interpolation between shared points), if it does."""
    d = np.log(a) - np.log(b)
    for i in range(len(x) - 1):
        if d[i] == 0:
            return float(x[i])
        if d[i] * d[i + 1] < 0:
            t = d[i] / (d[i] - d[i + 1])
            return float(np.exp(np.log(x[i]) + t * (np.log(x[i + 1]) - np.log(x[i]))))
    return None


def sweep_plot(data: ReportData) -> Figure:
    found = sweeps(data.ok)
    if not found:
        raise NoPlotData("no cases share op and shape at different densities, nor differ only in size (m·k)")
    figure, axes_list = panel_grid(len(found), 2, 3.6)
    for sweep, axes in zip(found, axes_list):
        draw_sweep(data, sweep, axes)
    figure_legend(figure, *unique_handles(axes_list))
    return figure


def draw_sweep(data: ReportData, sweep: Sweep, axes: Axes) -> None:
    lines, bases = {}, {}  # label -> (run, quartiles by x); run -> the baseline's quartiles by x
    for label, rows in sweep.rows.sort_values(["series", "run_order"]).groupby("label", sort=False):
        rows = rows.sort_values(sweep.x)
        first = rows.iloc[0]
        run = int(first["run_order"])
        axes.plot(rows[sweep.x], rows["median_ns"], label=label, color=data.colors[first["series"]],
                  linestyle=LINESTYLES[run % len(LINESTYLES)], marker=MARKERS[run % len(MARKERS)], markersize=4)
        quartiles = rows.groupby(sweep.x)[["q1_ns", "median_ns", "q3_ns"]].min()
        lines[label] = (run, quartiles)
        if first["backend"] == data.baseline.partition(":")[0]:
            bases.setdefault(run, quartiles)
    axes.set_xscale("log")
    log_time_axis(axes, "y")
    if sweep.x == "density":
        log_axis(axes, "x", lambda v: f"{v:g}")
        for run, line in lines.values():
            if run in bases and line is not bases[run]:
                mark_break_even(axes, line, bases[run])
    else:
        log_axis(axes, "x", lambda v: f"{v:,.0f}", most=5)
        label_cases(axes, sweep.rows)
    axes.set_title(sweep.title, fontsize="medium")
    axes.set_xlabel(sweep.xlabel)
    axes.set_ylabel("median time per call")
    axes.grid(which="major", **GRID)


def mark_break_even(axes: Axes, line: pd.DataFrame, base: pd.DataFrame) -> None:
    """Mark where a kernel that beats the baseline when sparse, and loses when dense, crosses it.

    Both ends must be clear beyond the interquartile ranges, and the kernel itself must get faster as
    density drops: two dense backends whose lines cross in the noise have no break-even."""
    shared = line.index.intersection(base.index)
    if len(shared) < 2:
        return
    line, base = line.loc[shared], base.loc[shared]
    sparse, dense = shared[0], shared[-1]
    clear = (line.at[sparse, "q3_ns"] < base.at[sparse, "q1_ns"] and line.at[dense, "q1_ns"] > base.at[dense, "q3_ns"]
             and line.at[sparse, "q3_ns"] < line.at[dense, "q1_ns"])
    x = crossing(np.asarray(shared, dtype=float), line["median_ns"].to_numpy(), base["median_ns"].to_numpy())
    if clear and x is not None:
        axes.axvline(x, color="#555", linestyle=":", linewidth=1)
        axes.annotate(f"break-even ≈ {x:.2g}", (x, 0.97), xycoords=("data", "axes fraction"),
                      xytext=(3, 0), textcoords="offset points", va="top", fontsize="x-small")


def label_cases(axes: Axes, rows: pd.DataFrame) -> None:
    """Name the case at each size along the top edge."""
    names = rows.groupby("weights")["case"].agg(lambda cases: ", ".join(dict.fromkeys(cases)))
    top = axes.secondary_xaxis("top")
    top.set_xticks(names.index.to_numpy(dtype=float), names.to_list(), rotation=30, ha="left", fontsize="x-small")
    top.xaxis.set_minor_locator(NullLocator())


# ---- 3. ISA levels --------------------------------------------------------------------------


def isa_plot(data: ReportData) -> Figure:
    rows = data.frame[(data.frame["isa"] != "") & data.frame["case"].notna()]
    if rows.empty:
        raise NoPlotData("no row names an ISA level (the isa column is empty: no ISA-specific variants ran)")
    panels = [(key, panel) for key, panel in rows.groupby(["case", "threads"], sort=False, dropna=False)
              if panel["isa"].nunique() > 1]
    if not panels:
        raise NoPlotData("no case ran at two or more ISA levels")
    figure, axes_list = panel_grid(len(panels), 2, 3.2)
    groups = sorted(set(zip(rows["backend"], rows["precision"].fillna(rows["dtype"]), rows["run_order"])))
    palette = [c for c in data.colors.values()] or ["#1f77b4"]
    colors = {group: palette[i % len(palette)] for i, group in enumerate(groups)}
    for ((case, threads), panel), axes in zip(panels, axes_list):
        draw_isa_panel(data, panel, axes, colors)
        axes.set_title(case_title(data, case, threads), fontsize="medium")
    figure_legend(figure, *unique_handles(axes_list))
    return figure


def draw_isa_panel(data: ReportData, panel: pd.DataFrame, axes: Axes, colors: dict) -> None:
    panel = panel.assign(precision=panel["precision"].fillna(panel["dtype"]))
    levels = sorted(set(panel["isa"]), key=lambda level: (isa_rank(level), level))
    keys = sorted(set(zip(panel["backend"], panel["precision"], panel["run_order"])))
    width = 0.8 / len(keys)
    scale, unit = time_unit(panel["q3_ns"].max(skipna=True) if panel["q3_ns"].notna().any() else 1.0)
    timed = panel[(panel["status"] == "ok") & panel["median_ns"].notna()]
    lowest = {}  # (backend, run) -> median at its lowest ISA level: what the labels compare with
    for (backend, run), group in timed.groupby(["backend", "run_order"]):
        lowest[backend, run] = group.loc[group["isa"].map(isa_rank).idxmin(), "median_ns"]
    for j, key in enumerate(keys):
        backend, precision, run = key
        mine = panel[(panel["backend"] == backend) & (panel["precision"] == precision) & (panel["run_order"] == run)]
        label = f"{backend} {precision}" + (f" @ {data.runs[run].label}" if data.several_runs else "")
        for _, row in mine.iterrows():
            x = levels.index(row["isa"]) - 0.4 + width * (j + 0.5)
            if row["status"] != "ok" or pd.isna(row["median_ns"]):
                axes.text(x, 0, f" {row['status']}", rotation=90, ha="center", va="bottom", fontsize="x-small",
                          color="#a00" if row["status"] not in ("unavailable", "skipped") else "#666")
                continue
            median = row["median_ns"] / scale
            error = [[median - row["q1_ns"] / scale], [row["q3_ns"] / scale - median]]
            axes.bar(x, median, width * 0.9, color=colors[key], label=label, yerr=error,
                     error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#333"})
            axes.annotate(f"{lowest[backend, run] / row['median_ns']:.2g}×", (x, row["q3_ns"] / scale), xytext=(0, 2),
                          textcoords="offset points", ha="center", va="bottom", fontsize="x-small")
    axes.set_xticks(range(len(levels)), levels)
    axes.set_xlim(-0.6, len(levels) - 0.4)
    axes.margins(y=0.15)
    axes.set_ylabel(f"median time per call ({unit})")
    axes.grid(axis="y", **GRID)
    axes.set_axisbelow(True)


# ---- 4. thread scaling ----------------------------------------------------------------------


def thread_plot(data: ReportData) -> Figure:
    ok = data.ok
    counts = ok.groupby(["run_id", "case", "backend", "variant"])["threads"].transform("nunique")
    rows = ok[counts > 1]
    if rows.empty:
        raise NoPlotData("no case was run at several thread counts")
    cases = list(rows.groupby("case", sort=False))
    figure, axes_list = panel_grid(len(cases), 3, 3.0)
    for (case, panel), axes in zip(cases, axes_list):
        for label, line in panel.sort_values(["series", "run_order"]).groupby("label", sort=False):
            line = line.groupby("threads", as_index=False).agg(
                median_ns=("median_ns", "min"), series=("series", "first"), run_order=("run_order", "first"))
            run = int(line["run_order"].iloc[0])
            axes.plot(line["threads"], line["median_ns"].iloc[0] / line["median_ns"], label=label,
                      color=data.colors[line["series"].iloc[0]], linestyle=LINESTYLES[run % len(LINESTYLES)],
                      marker=MARKERS[run % len(MARKERS)], markersize=4)
        threads = sorted(set(panel["threads"]))
        axes.plot(threads, [t / threads[0] for t in threads], color="#999", linestyle="--", linewidth=1,
                  label="ideal (linear)")
        axes.set_xticks(threads, [str(int(t)) for t in threads])
        axes.set_title(case, fontsize="medium")
        axes.set_xlabel("threads")
        axes.set_ylabel(f"speed-up over {int(threads[0])} thread" + ("" if threads[0] == 1 else "s"))
        axes.grid(**GRID)
    figure_legend(figure, *unique_handles(axes_list))
    return figure


# ---- 5. accuracy against speed --------------------------------------------------------------


def accuracy_plot(data: ReportData) -> Figure:
    ok = data.ok
    special = (ok["precision"] == "int8") | (ok["density"].fillna(1.0) < 1.0)
    keys = ["run_id", "case", "threads"]
    wanted = ok.set_index(keys).index.isin(ok[special].set_index(keys).index)
    rows = ok[wanted & ok["accuracy_db"].notna()]
    rows = rows[rows.groupby(["case", "threads"], dropna=False)["label"].transform("nunique") > 1]
    if rows.empty:
        raise NoPlotData("no int8 or sparse case has two or more timed backends or variants to compare")
    panels = list(rows.groupby(["case", "threads"], sort=False, dropna=False))
    figure, axes_list = panel_grid(len(panels), 2, 3.4)
    finite = rows["accuracy_db"][np.isfinite(rows["accuracy_db"])]
    exact = (finite.max() if not finite.empty else 100.0) + 15
    for ((case, threads), panel), axes in zip(panels, axes_list):
        for _, row in panel.iterrows():
            run = int(row["run_order"])
            snr = row["accuracy_db"] if np.isfinite(row["accuracy_db"]) else exact
            axes.scatter(row["median_ns"], snr, color=data.colors[row["series"]], label=row["label"],
                         marker=MARKERS[run % len(MARKERS)], s=36, zorder=3)
        for precision, tolerance in panel.groupby("precision")["tolerance"].first().items():
            if tolerance and tolerance > 0:
                gate = -20 * math.log10(tolerance)
                axes.axhline(gate, color="#a00", linestyle=":", linewidth=1)
                axes.annotate(f"{precision} gate {gate:.0f} dB", (0.01, gate), xycoords=("axes fraction", "data"),
                              xytext=(0, 2), textcoords="offset points", fontsize="x-small", color="#a00")
        if (~np.isfinite(panel["accuracy_db"])).any():
            axes.axhline(exact, color="#999", linewidth=0.6)
            axes.annotate("exact", (0.99, exact), xycoords=("axes fraction", "data"), ha="right",
                          xytext=(0, 2), textcoords="offset points", fontsize="x-small", color="#666")
        axes.margins(x=0.2, y=0.15)
        log_time_axis(axes, "x")
        axes.set_title(case_title(data, case, threads), fontsize="medium")
        axes.set_xlabel("median time per call (left is faster)")
        axes.set_ylabel("SNR against float64 (dB, higher is better)")
        axes.grid(which="major", **GRID)
    figure_legend(figure, *unique_handles(axes_list))
    return figure


# ---- 6. sample distributions ----------------------------------------------------------------


def samples_plot(data: ReportData) -> Figure:
    ok = data.ok
    rows = ok[ok["samples_ns"].map(lambda s: s is not None and len(s) > 0)]
    if rows.empty:
        raise NoPlotData("no timed row has raw samples")
    with_threads = rows["threads"].nunique() > 1
    cases = list(rows.groupby("case", sort=False))
    boxes = [len(panel) + int(panel["native_samples_ns"].map(_has_samples).sum()) for _, panel in cases]
    figure = new_figure(sum(0.3 * b + 0.75 for b in boxes) + 0.6)
    axes_list = np.atleast_1d(figure.subplots(len(cases), 1, height_ratios=[b + 2.5 for b in boxes]))
    rng = np.random.default_rng(0)  # jitter only; fixed so the same results draw the same picture
    for (case, panel), axes in zip(cases, axes_list):
        distributions, names, colors = [], [], []
        for _, row in panel.sort_values(["series", "threads", "run_order"]).iterrows():
            name = row_label(data, row, with_threads)
            distributions.append(np.asarray(row["samples_ns"], dtype=float))
            names.append(f"{name}  (n={len(row['samples_ns'])})")
            colors.append(data.colors[row["series"]])
            if _has_samples(row["native_samples_ns"]):
                distributions.append(np.asarray(row["native_samples_ns"], dtype=float))
                names.append(f"{name}, native loop")
                colors.append(colors[-1])
        draw_boxes(axes, distributions, names, colors, rng)
        axes.set_title(case, fontsize="medium", loc="left")
    axes_list[-1].set_xlabel("time per call in each sample (box: quartiles; whiskers: 1.5 IQR; dots: every sample)")
    return figure


def _has_samples(samples) -> bool:
    return samples is not None and len(samples) > 0


def draw_boxes(axes: Axes, distributions: list[np.ndarray], names: list[str], colors: list[str],
               rng: np.random.Generator) -> None:
    positions = np.arange(len(distributions))
    parts = axes.boxplot(distributions, positions=positions, orientation="horizontal", widths=0.6,
                         showfliers=False, patch_artist=True, medianprops={"color": "#000"})
    for box, color in zip(parts["boxes"], colors):
        box.set(facecolor=color, alpha=0.35, edgecolor=color)
    for y, values, color in zip(positions, distributions, colors):
        axes.scatter(values, y + rng.uniform(-0.18, 0.18, len(values)), s=7, color=color, alpha=0.8,
                     linewidths=0, zorder=3)
    axes.set_yticks(positions, names, fontsize="small")
    axes.set_ylim(len(distributions) - 0.5, -0.5)
    log_time_axis(axes, "x")
    axes.grid(axis="x", which="both", **GRID)
