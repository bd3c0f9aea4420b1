"""The conv1d plot kind: per case, each method's time, its workspace and its error side by side.

One row of three panels per case, methods sorted fastest first: median time per call (log;
a black tick marks the native loop's time, without Python's call, where the method has one),
workspace bytes beyond weights, input and output (log; "none" where the method keeps none),
and the relative error against the float64 reference (log) with the gate it was judged at.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gemmbench.report.data import ReportData
from gemmbench.report.kinds import NoPlotData
from gemmbench.report.plots import GRID, log_axis, log_time_axis, new_figure

ROW_HEIGHT = 0.24  # inches per method


def _bytes(value: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f} B"


def _rows(data: ReportData) -> pd.DataFrame:
    ok = data.ok
    if "method" not in ok.columns:
        raise NoPlotData("no conv1d rows with method columns")
    rows = ok[(ok["op"] == "conv1d") & ok["method"].notna()]
    if rows.empty:
        raise NoPlotData("no timed conv1d rows")
    return rows


def methods_plot(data: ReportData) -> Figure:
    rows = _rows(data)
    panels = list(rows.groupby(["case", "threads"], sort=False))
    heights = [ROW_HEIGHT * len(panel) + 0.9 for _, panel in panels]
    figure = new_figure(sum(heights) + 0.4, width=12.0)
    grids = figure.subfigures(len(panels), 1, height_ratios=heights, squeeze=False)[:, 0]
    for ((case, threads), panel), sub in zip(panels, grids):
        _case_panels(sub, data, str(case), panel.sort_values("median_ns"))
    return figure


def _case_panels(sub, data: ReportData, case: str, panel: pd.DataFrame) -> None:
    time_axes, space_axes, error_axes = sub.subplots(1, 3, sharey=True, gridspec_kw={"width_ratios": [3, 2, 2]})
    y = np.arange(len(panel))
    labels = [f"{s} ({m})" for s, m in zip(panel["series"], panel["method"])]
    colors = [data.colors.get(s, "#555") for s in panel["series"]]
    time_axes.barh(y, panel["median_ns"], color=colors)
    if "native_median_ns" in panel and panel["native_median_ns"].notna().any():
        time_axes.scatter(panel["native_median_ns"], y, marker="|", color="black", s=60, zorder=3,
                          label="native loop (no Python call)")
        time_axes.legend(fontsize="xx-small", loc="lower right")
    time_axes.set_yticks(y, labels, fontsize="x-small")
    time_axes.invert_yaxis()
    log_time_axis(time_axes, "x")
    time_axes.set_title(f"{case}: median time per call", fontsize="small", loc="left")
    space = panel["workspace_bytes"].fillna(0).to_numpy(dtype=float)
    floor = max(1.0, space[space > 0].min() / 4) if (space > 0).any() else 1.0
    space_axes.barh(y, np.where(space > 0, space, floor), color=[c if s > 0 else "none" for c, s in zip(colors, space)])
    for yi, value in zip(y, space):
        space_axes.annotate("none" if value <= 0 else _bytes(value), (floor, yi), xytext=(2, 0),
                            textcoords="offset points", va="center", fontsize="xx-small")
    log_axis(space_axes, "x", _bytes, most=4)
    space_axes.set_title("workspace", fontsize="small", loc="left")
    errors = panel["rel_err"].clip(lower=1e-12)
    error_axes.scatter(errors, y, color=colors, s=18, zorder=3)
    for tolerance in panel["tolerance"].dropna().unique():
        error_axes.axvline(tolerance, color="#a00", linestyle=":", linewidth=1)
    error_axes.set_xscale("log")
    error_axes.set_title("relative error (dotted: gate)", fontsize="small", loc="left")
    for axes in (time_axes, space_axes, error_axes):
        axes.grid(axis="x", **GRID)
