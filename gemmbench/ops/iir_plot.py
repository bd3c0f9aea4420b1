"""The filter-bank plot: which way to run a bank, each method's time with its error beside it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gemmbench.report.data import ReportData
from gemmbench.report.kinds import NoPlotData
from gemmbench.report.plots import GRID, log_axis, log_time_axis, new_figure

ROW_HEIGHT = 0.24  # inches per method
CASE_MARGIN = 0.9  # inches per case: title and axis labels


def _bank_rows(data: ReportData) -> pd.DataFrame:
    """iir_bank rows that were timed or judged (ok and wrong), with the time a row is shown at."""
    frame = data.frame
    rows = frame[(frame["op"] == "iir_bank") & frame["status"].isin(["ok", "wrong"])].copy()
    if rows.empty:
        raise NoPlotData("no iir_bank rows that were timed or verified")
    native = rows["native_median_ns"] if "native_median_ns" in rows else pd.Series(np.nan, index=rows.index)
    rows["time_ns"] = native.fillna(rows["median_ns"]) if "median_ns" in rows else native
    return rows


def method_plot(data: ReportData) -> Figure:
    rows = _bank_rows(data)
    cases = list(dict.fromkeys(rows["case"]))
    heights = [CASE_MARGIN + ROW_HEIGHT * rows[rows["case"] == case]["label"].nunique() for case in cases]
    figure = new_figure(sum(heights))
    grid = figure.add_gridspec(len(cases), 2, height_ratios=heights, width_ratios=(3, 2))
    for index, case in enumerate(cases):
        timing, error = figure.add_subplot(grid[index, 0]), figure.add_subplot(grid[index, 1])
        _draw_case(data, rows[rows["case"] == case], timing, error)
        timing.set_title(f"{case} · {rows[rows['case'] == case]['shape'].iloc[0]}", loc="left", fontsize="medium",
                         fontweight="bold")
    return figure


def _draw_case(data: ReportData, rows: pd.DataFrame, timing: Axes, error: Axes) -> None:
    rows = rows.sort_values("time_ns", ascending=False, na_position="first")
    positions = np.arange(len(rows))
    colors = [data.colors.get(series, "#777777") for series in rows["series"]]
    timed = rows["time_ns"].notna() & (rows["status"] == "ok")
    timing.barh(positions[timed.to_numpy()], rows["time_ns"][timed], color=np.array(colors)[timed.to_numpy()])
    for y, (_, row) in zip(positions, rows.iterrows()):
        if row["status"] != "ok":
            timing.text(0.01, y, "wrong: not timed", transform=timing.get_yaxis_transform(), va="center",
                        fontsize="x-small", color="#b00000")
    floor = rows["write_floor_ns"].min() if "write_floor_ns" in rows else math.nan
    if pd.notna(floor):
        timing.axvline(floor, color="black", linestyle=":", linewidth=1)
        timing.text(floor, 1.0, " write floor", transform=timing.get_xaxis_transform(), fontsize="x-small",
                    va="bottom")
    timing.set_yticks(positions, rows["label"], fontsize="small")
    timing.set_ylim(-0.5, len(rows) - 0.5)
    timing.grid(axis="x", **GRID)
    if timed.any():
        low, high = rows["time_ns"][timed].min(), rows["time_ns"][timed].max()
        timing.set_xlim(min(low, floor if pd.notna(floor) else low) / 2, high * 2)
        log_time_axis(timing, "x")
    timing.set_xlabel("time per call (native loop where measured)", fontsize="small")
    _draw_errors(rows, positions, colors, error)


def _draw_errors(rows: pd.DataFrame, positions: np.ndarray, colors: list[str], axes: Axes) -> None:
    errors = rows["rel_err"].to_numpy(dtype=float)
    shown = np.isfinite(errors) & (errors > 0)
    axes.scatter(errors[shown], positions[shown], c=np.array(colors)[shown], zorder=3)
    axes.set_ylim(-0.5, len(rows) - 0.5)
    axes.set_yticks(positions, [""] * len(rows))
    tolerance = rows["tolerance"].max()
    rounding = rows["coef_rounding_err"].max() if "coef_rounding_err" in rows else math.nan
    marks = [v for v in (tolerance, rounding) if pd.notna(v) and v > 0]
    values = np.concatenate([errors[shown], marks])
    if values.size:
        axes.set_xlim(values.min() / 3, values.max() * 3)
    axes.axvline(tolerance, color="#b00000", linestyle=":", linewidth=1, label="tolerance")
    if pd.notna(rounding) and rounding > 0:
        axes.axvline(rounding, color="#555555", linestyle="--", linewidth=1, label="coefficient rounding")
    axes.grid(axis="x", **GRID)
    if values.size:
        log_axis(axes, "x", lambda v: f"{v:.0e}")
    axes.set_xlabel("relative RMS error vs float64", fontsize="small")
    axes.legend(fontsize="x-small", loc="lower right", frameon=False)
