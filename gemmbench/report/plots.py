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

from gemmbench.machine.isa import rank as isa_rank
from gemmbench.report.data import PEER_MARK, ReportData
from gemmbench.report.kinds import NoPlotData
from gemmbench.report.table import time_text
from gemmbench.stats.decide import PEER

WIDTH = 10.0  # inches; every figure shares it so the report's images line up
MAX_HEIGHT = 9.0  # inches: a taller figure is split into pages, so each reads on one screen
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


def _panel_pages(panels: list, ncols: int, panel_height: float) -> list[tuple[Figure, list[tuple[object, Axes]]]]:
    """Panels laid out `ncols` a row, as many rows a page as fit MAX_HEIGHT: [(figure, [(panel, axes)])]."""
    per_page = ncols * max(1, int((MAX_HEIGHT - 0.8) // panel_height))
    pages = []
    for start in range(0, len(panels), per_page):
        chunk = panels[start:start + per_page]
        figure, axes = panel_grid(len(chunk), ncols, panel_height)
        pages.append((figure, list(zip(chunk, axes))))
    return pages


def paged_panels(panels: list, ncols: int, panel_height: float, draw: Callable[[object, Axes], None]) -> list[Figure]:
    """Each panel drawn (draw(panel, axes)) on as many pages as it takes, a legend atop each page."""
    figures = []
    for figure, placed in _panel_pages(panels, ncols, panel_height):
        for panel, axes in placed:
            draw(panel, axes)
        figure_legend(figure, *unique_handles([axes for _, axes in placed]))
        figures.append(figure)
    return figures


def _paginate(sizes: list[float], capacity: float) -> list[list[int]]:
    """Indices of consecutive items grouped so each group's sizes add up to at most `capacity` (one item at least)."""
    pages, current, used = [], [], 0.0
    for index, size in enumerate(sizes):
        if current and used + size > capacity:
            pages.append(current)
            current, used = [], 0.0
        current.append(index)
        used += size
    return pages + ([current] if current else [])


def thread_text(threads) -> str:
    return f"{int(threads)} thread" + ("" if int(threads) == 1 else "s")


def _case_title(data: ReportData, case: str, threads=None) -> str:
    several_threads = data.ok["threads"].nunique() > 1
    return case + (f" · {thread_text(threads)}" if threads is not None and several_threads else "")


def _nice_log_ticks(low: float, high: float, most: int = 7) -> list[float]:
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
    target.set_major_locator(FixedLocator(_nice_log_ticks(low, high, most)))
    target.set_major_formatter(FuncFormatter(lambda value, _: text(value)))
    target.set_minor_locator(NullLocator())


def log_time_axis(axes: Axes, axis: str = "y") -> None:
    log_axis(axes, axis, time_text)


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


def is_peer(row: pd.Series) -> bool:
    """A peer runtime's row: its bars are drawn with a dashed edge, its name marked."""
    return row["role"] == PEER


def _row_label(data: ReportData, row: pd.Series, with_threads: bool) -> str:
    text = row["series"] + (PEER_MARK if is_peer(row) else "") + (f" · {int(row['threads'])} thr" if with_threads else "")
    return text + (f" @ {row['run_label']}" if data.several_runs else "")


def grouped_bars(data: ReportData, rows: pd.DataFrame, row_height: float, margin: float, order,
                 draw_row) -> list[tuple[Figure, Axes]]:
    """One horizontal bar row per result row, grouped by case and thread count under a bold title, in pages.

    order(group) sorts a group's rows; draw_row(axes, y, row) draws the row at height y. A page holds as
    many rows as fit MAX_HEIGHT (a longer group continues on the next); the y axis names each row's series.
    """
    capacity = max(4, int((MAX_HEIGHT - margin) / row_height) - 1)  # bars and titles a page holds
    pieces = []  # (title, rows) with at most capacity - 1 rows each
    for (case, threads), group in rows.groupby(["case", "threads"], sort=False, dropna=False):
        group = order(group)
        for start in range(0, len(group), capacity - 1):
            title = _case_title(data, case, threads) + (" (continued)" if start else "")
            pieces.append((title, group.iloc[start:start + capacity - 1]))
    pages = []
    for page in _paginate([len(group) + 1.4 for _, group in pieces], capacity):
        chosen = [pieces[i] for i in page]
        figure = new_figure(row_height * sum(len(group) + 1.4 for _, group in chosen) + margin)
        axes = figure.subplots()
        y, ticks, names = 0.0, [], []
        for title, group in chosen:
            axes.text(0.005, y, title, transform=axes.get_yaxis_transform(), fontweight="bold", va="center",
                      fontsize="small")
            y += 1
            for _, row in group.iterrows():
                draw_row(axes, y, row)
                ticks.append(y)
                names.append(_row_label(data, row, False))
                y += 1
            y += 0.4
        axes.set_yticks(ticks, names, fontsize="small")
        axes.set_ylim(y - 0.6, -0.8)
        pages.append((figure, axes))
    return pages


def _or(value: float, default: float) -> float:
    return default if value != value else value  # a speed-up without an interval (an older file's, unpaired)


# ---- 1. speed-up over the baseline ----------------------------------------------------------


def speedup_plot(data: ReportData) -> list[Figure]:
    ok = data.plotted
    if ok["baseline_ns"].notna().sum() == 0:
        timed = ", ".join(sorted(set(ok["backend"]))) or "none"
        raise NoPlotData(f"the baseline {data.baseline} has no timed rows in these results; "
                         f"choose one that ran with --baseline (timed backends: {timed})")
    rows = ok[ok["baseline_ns"].notna() & ~ok["is_baseline"]]
    if rows.empty:
        raise NoPlotData(f"only the baseline {data.baseline} was timed: there is no other backend to compare")

    def draw_row(axes: Axes, y: float, row: pd.Series) -> None:
        s = row["speedup"]
        low, high = _or(row["speedup_low"], s), _or(row["speedup_high"], s)
        error = [[max(s - low, 0)], [max(high - s, 0)]]
        edge = {"edgecolor": "#222", "linestyle": "--", "linewidth": 0.9} if is_peer(row) else {"edgecolor": "white"}
        axes.barh(y, s - 1, left=1, height=0.7, color=data.colors[row["series"]],
                  hatch=HATCHES[int(row["run_order"]) % len(HATCHES)], xerr=error,
                  error_kw={"elinewidth": 0.9, "capsize": 2, "ecolor": "#333"}, **edge)
        axes.annotate(f"{s:.3g}×", (max(s, high) if s >= 1 else min(s, low), y),
                      xytext=(4 if s >= 1 else -4, 0), textcoords="offset points", va="center",
                      ha="left" if s >= 1 else "right", fontsize="small")

    low = min(rows["speedup_low"].min(skipna=True), rows["speedup"].min(), 1.0)
    high = max(rows["speedup_high"].max(skipna=True), rows["speedup"].max(), 1.0)
    figures = []
    for figure, axes in grouped_bars(data, rows, 0.28, 1.2, lambda group: group.sort_values(["series", "run_order"]),
                                     draw_row):
        axes.set_xscale("log")
        axes.set_xlim(low / 1.6, high * 1.6)  # every page on one scale
        log_axis(axes, "x", lambda v: f"{v:g}×")
        axes.axvline(1, color="#444", linewidth=1)
        axes.grid(axis="x", **GRID)
        axes.set_axisbelow(True)
        axes.set_xlabel(f"speed-up over {data.baseline} (its time ÷ the row's, native where measured; whiskers: 95% "
                        "interval; dashed: a peer)")
        figures.append(figure)
    return figures


# ---- 3. ISA levels --------------------------------------------------------------------------


@dataclass(frozen=True)
class IsaRow:
    """One heat-map row: a backend at one precision in one case, across ISA levels."""

    label: str
    cells: dict  # ISA level -> (text, speed-up over the lowest level timed, or nan when not timed)


def isa_rows(data: ReportData, levels: list[str]) -> list[IsaRow]:
    """Rows of (case, threads, run, backend, precision) timed at two ISA levels or more.

    A speed-up is over the same backend's lowest level timed in that case, float32 or int8 alike,
    so an int8 row shows what the change of precision bought as well."""
    frame = data.frame if data.every_sample else data.frame[~data.frame["reference_only"]]
    rows = frame[(frame["isa"] != "") & frame["case"].notna()]
    rows = rows.assign(precision=rows["precision"].fillna(rows["dtype"]),
                       timed=(rows["status"] == "ok") & rows["time_ns"].notna())
    found = []
    for (case, threads, run, backend), group in rows.groupby(["case", "threads", "run_order", "backend"], sort=False,
                                                              dropna=False):
        timed = group[group["timed"]]
        if timed.empty:
            continue
        lowest = timed.loc[timed["isa"].map(isa_rank).idxmin(), "time_ns"]
        for precision, mine in group.groupby("precision", sort=True):
            if mine.loc[mine["timed"], "isa"].nunique() < 2:
                continue  # one level, or none, timed: nothing to compare across levels
            cells = {}
            for _, row in mine.iterrows():
                cells[row["isa"]] = ((f"{time_text(row['time_ns'])}  {lowest / row['time_ns']:.2g}×", lowest / row["time_ns"])
                                     if row["timed"] else (str(row["status"]), math.nan))
            label = f"{_case_title(data, case, threads)} · {backend} {precision}"
            found.append(IsaRow(label + (f" @ {data.runs[int(run)].label}" if data.several_runs else ""), cells))
    return found


def isa_plot(data: ReportData) -> list[Figure]:
    """A heat map: a row per case, backend and precision; a column per ISA level; time and speed-up in each cell."""
    if not (data.frame["isa"] != "").any():
        raise NoPlotData("no row names an ISA level (the isa column is empty: no ISA-specific variants ran)")
    levels = sorted(set(data.frame.loc[data.frame["isa"] != "", "isa"]), key=lambda level: (isa_rank(level), level))
    rows = isa_rows(data, levels)
    if not rows:
        raise NoPlotData("no case was timed at two or more ISA levels")
    speedups = [v for row in rows for _, v in row.cells.values() if not math.isnan(v)]
    span = max(abs(math.log2(min(speedups))), abs(math.log2(max(speedups))), 1.0)
    row_height, margin = 0.3, 1.3
    figures = []
    for page in _paginate([row_height] * len(rows), MAX_HEIGHT - margin):
        chosen = [rows[i] for i in page]
        figure = new_figure(row_height * len(chosen) + margin)
        axes = figure.subplots()
        values = np.array([[math.log2(row.cells[level][1]) if level in row.cells and not math.isnan(row.cells[level][1])
                            else np.nan for level in levels] for row in chosen])
        axes.imshow(np.ma.masked_invalid(values), cmap="PuOr", vmin=-span, vmax=span, aspect="auto")
        axes.set_facecolor("#eeeeee")  # cells not timed (skipped, unavailable, failed) stay grey
        for y, row in enumerate(chosen):
            for x, level in enumerate(levels):
                text, value = row.cells.get(level, ("", math.nan))
                dark = not math.isnan(value) and abs(math.log2(value)) > 0.6 * span
                axes.text(x, y, text, ha="center", va="center", fontsize="x-small",
                          color="white" if dark else "#a00" if text not in ("skipped", "unavailable", "") and
                          math.isnan(value) else "#222")
        axes.set_xticks(range(len(levels)), levels)
        axes.xaxis.tick_top()
        axes.set_yticks(range(len(chosen)), [row.label for row in chosen], fontsize="small")
        axes.tick_params(length=0)
        axes.set_xlabel("time per call (native where measured) and speed-up over the backend's lowest level timed "
                        "(purple: faster, orange: slower; grey: not timed)")
        figures.append(figure)
    return figures


# ---- 4. thread scaling ----------------------------------------------------------------------


def thread_plot(data: ReportData) -> list[Figure]:
    ok = data.plotted
    counts = ok.groupby(["run_id", "case", "backend", "variant"])["threads"].transform("nunique")
    rows = ok[counts > 1]
    if rows.empty:
        raise NoPlotData("no case was run at several thread counts")
    return paged_panels(list(rows.groupby("case", sort=False)), 3, 3.0,
                        lambda keyed, axes: _draw_threads(data, *keyed, axes))


def _draw_threads(data: ReportData, case: str, panel: pd.DataFrame, axes: Axes) -> None:
    for label, line in panel.sort_values(["series", "run_order"]).groupby("label", sort=False):
        line = line.groupby("threads", as_index=False).agg(
            time_ns=("time_ns", "min"), series=("series", "first"), run_order=("run_order", "first"))
        run = int(line["run_order"].iloc[0])
        axes.plot(line["threads"], line["time_ns"].iloc[0] / line["time_ns"], label=label,
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


# ---- 5. accuracy against speed --------------------------------------------------------------


def accuracy_plot(data: ReportData) -> list[Figure]:
    ok = data.plotted
    ok = ok[ok["accuracy_db"].notna()].assign(arithmetic=ok["precision"].fillna(ok["dtype"]))
    # Accuracy is a choice only where precisions differ: every float32 kernel lands near float32's
    # rounding, so a case timed in one precision has nothing to trade.
    keys = ["run_id", "case", "threads"]
    rows = ok[ok.groupby(keys, dropna=False)["arithmetic"].transform("nunique") > 1]
    if rows.empty:
        raise NoPlotData("no case was timed at two or more precisions (int8 beside float32) to trade accuracy for "
                         "speed")
    finite = rows["accuracy_db"][np.isfinite(rows["accuracy_db"])]
    exact = (finite.max() if not finite.empty else 100.0) + 15

    def draw(keyed, axes: Axes) -> None:
        (case, threads), panel = keyed
        _draw_accuracy(data, panel, axes, exact)
        axes.set_title(_case_title(data, case, threads), fontsize="medium")

    return paged_panels(list(rows.groupby(["case", "threads"], sort=False, dropna=False)), 2, 3.4, draw)


def _draw_accuracy(data: ReportData, panel: pd.DataFrame, axes: Axes, exact: float) -> None:
    for label, points in panel.groupby("label", sort=False):  # one collection per series: fast to draw
        run = int(points["run_order"].iloc[0])
        snr = points["accuracy_db"].where(np.isfinite(points["accuracy_db"]), exact)
        axes.scatter(points["time_ns"], snr, color=data.colors[points["series"].iloc[0]], label=label,
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
    axes.set_xlabel("time per call, native where measured (left is faster)")
    axes.set_ylabel("SNR against float64 (dB, higher is better)")
    axes.grid(which="major", **GRID)


# ---- 6. sample distributions ----------------------------------------------------------------


def samples_plot(data: ReportData) -> list[Figure]:
    """Boxes of each row's samples; every sample as a dot too when the report is asked for them (--samples)."""
    ok = data.plotted
    rows = ok[ok["samples_ns"].map(_has_samples)]
    if rows.empty:
        raise NoPlotData("no timed row has raw samples")
    with_threads = rows["threads"].nunique() > 1
    per_panel = int((MAX_HEIGHT - 1.4) / 0.3)  # boxes one panel of a page holds
    panels = []  # (title, [(samples, name, colour)]): a case, or a page's worth of it
    for case, panel in rows.groupby("case", sort=False):
        boxes = []
        for _, row in panel.sort_values(["series", "threads", "run_order"]).iterrows():
            name, color = _row_label(data, row, with_threads), data.colors[row["series"]]
            boxes.append((np.asarray(row["samples_ns"], dtype=float), f"{name}  (n={len(row['samples_ns'])})", color))
            if _has_samples(row["native_samples_ns"]):
                boxes.append((np.asarray(row["native_samples_ns"], dtype=float), f"{name}, native loop", color))
        for start in range(0, len(boxes), per_panel):
            panels.append((case + (" (continued)" if start else ""), boxes[start:start + per_panel]))
    rng = np.random.default_rng(0) if data.every_sample else None  # jitter only; fixed: the same picture
    figures = []
    for page in _paginate([0.3 * len(boxes) + 0.75 for _, boxes in panels], MAX_HEIGHT - 0.6):
        figure = new_figure(sum(0.3 * len(panels[i][1]) + 0.75 for i in page) + 0.6)
        axes_list = np.atleast_1d(figure.subplots(len(page), 1, height_ratios=[len(panels[i][1]) + 2.5 for i in page]))
        for i, axes in zip(page, axes_list):
            title, boxes = panels[i]
            _draw_boxes(axes, *map(list, zip(*boxes)), rng)
            axes.set_title(title, fontsize="medium", loc="left")
        axes_list[-1].set_xlabel("time per call in each sample (box: quartiles; whiskers: 1.5 IQR"
                                 + ("; dots: every sample)" if data.every_sample else ")"))
        figures.append(figure)
    return figures


def _has_samples(samples) -> bool:
    return samples is not None and len(samples) > 0


def _draw_boxes(axes: Axes, distributions: list[np.ndarray], names: list[str], colors: list[str],
               rng: np.random.Generator | None) -> None:
    """Box plots; with a random generator, every sample as a jittered dot over its box."""
    positions = np.arange(len(distributions))
    parts = axes.boxplot(distributions, positions=positions, orientation="horizontal", widths=0.6,
                         showfliers=False, patch_artist=True, medianprops={"color": "#000"})
    for box, color in zip(parts["boxes"], colors):
        box.set(facecolor=color, alpha=0.35, edgecolor=color)
    for y, values, color in zip(positions, distributions, colors) if rng is not None else ():
        axes.scatter(values, y + rng.uniform(-0.18, 0.18, len(values)), s=7, color=color, alpha=0.8,
                     linewidths=0, zorder=3)
    axes.set_yticks(positions, names, fontsize="small")
    axes.set_ylim(len(distributions) - 0.5, -0.5)
    log_time_axis(axes, "x")
    axes.grid(axis="x", which="both", **GRID)
