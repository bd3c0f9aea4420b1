"""The roofline plot: the machine's measured ceilings, each matrix-product row as a point."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gemmbench.machine.roofline import intensity
from gemmbench.report.data import ReportData
from gemmbench.report.kinds import NoPlotData
from gemmbench.report.plots import GRID, figure_legend, log_axis, panel_grid, unique_handles

LEVEL_STYLES = {"L1": ":", "L2": "--", "L3": "-.", "memory": "-"}
PEAK_COLORS = {"float32": "#444", "int8": "#a05000"}


def roofline_plot(data: ReportData) -> Figure:
    plotted = data.plotted
    rows = plotted[plotted["roof_gflops"].notna()] if "roof_gflops" in plotted else plotted.iloc[0:0]
    runs = [run_id for run_id in data.roofs if (rows["run_id"] == run_id).any()]
    if not runs:
        raise NoPlotData("no run was measured with --roofline (gemmbench run SUITE --roofline)")
    figure, axes_list = panel_grid(len(runs), 1, 5.5)
    for run_id, axes in zip(runs, axes_list):
        _draw_roofline(data, data.roofs[run_id], rows[rows["run_id"] == run_id], axes)
    figure_legend(figure, *unique_handles(axes_list))
    return figure


def _draw_roofline(data: ReportData, roof: dict, rows: pd.DataFrame, axes) -> None:
    points = rows.assign(ai=[intensity(row) for row in rows.to_dict("records")],
                         time=rows["native_median_ns"].fillna(rows["median_ns"]))
    points = points.assign(achieved=points["useful_flops"] / points["time"])
    low, high = points["ai"].min() / 3, max(points["ai"].max() * 3, 100.0)
    span = np.geomspace(low, high, 200)
    peak = max(*roof["peak_gflops"].values(), *roof["peak_int8_gops"].values())  # diagonals run up to the top
    for level, gbps in roof["bandwidth"].items():
        axes.plot(span, np.minimum(span * gbps, peak), color="#666", linestyle=LEVEL_STYLES.get(level, "-"),
                  linewidth=1)
        x = min(peak / gbps, high) / 1.8
        axes.annotate(f"{level} {gbps:.0f} GB/s", (x, x * gbps), rotation=28, fontsize="x-small", color="#555",
                      ha="right", va="bottom", rotation_mode="anchor", transform_rotates_text=False)
    # float32 peaks labelled at the right edge, int8 peaks at the left: equal values stay readable
    for precision, peaks, edge in (("float32", roof["peak_gflops"], high), ("int8", roof["peak_int8_gops"], low)):
        for isa, value in peaks.items():
            axes.axhline(value, color=PEAK_COLORS[precision], linewidth=0.7, alpha=0.6)
            axes.annotate(f"{isa} {precision} {value:.0f}", (edge, value), xytext=(-2 if edge == high else 2, 2),
                          textcoords="offset points", ha="right" if edge == high else "left", fontsize="x-small",
                          color=PEAK_COLORS[precision])
    for series, group in points.groupby("series", sort=False):
        for precision, marker in (("int8", "^"), ("float32", "o"), ("float64", "s")):
            chosen = group[group["precision"] == precision]
            if not chosen.empty:
                axes.scatter(chosen["ai"], chosen["achieved"], color=data.colors[series], marker=marker, s=26,
                             label=series, zorder=3, edgecolors="white", linewidths=0.4)
    axes.set_xscale("log")
    axes.set_xlim(low, high)
    axes.set_ylim(points["achieved"].min() / 3, peak * 2)
    log_axis(axes, "x", lambda v: f"{v:g}")
    log_axis(axes, "y", lambda v: f"{v:g}")
    axes.grid(which="major", **GRID)
    axes.set_xlabel("arithmetic intensity (useful operations per byte of weights as stored, input and output)")
    axes.set_ylabel("achieved GFLOP/s (int8: GOP/s; native time where measured)")
    axes.set_title(f"{roof['feature_key']} · ceilings measured {roof['measured'][:16]} · "
                   "o float32, ^ int8, ■ float64", fontsize="medium")
    unmeasured = [note for note in roof.get("notes", ()) if "not measured" in note]
    if unmeasured:  # e.g. memory: the roof beyond the last cache uses that cache's bandwidth
        axes.text(0.01, 0.01, "\n".join(unmeasured), transform=axes.transAxes, fontsize="x-small", color="#a00000",
                  va="bottom", wrap=True)
