"""Vocoder plots: real-time factor per backend, and where each audio sample's time goes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from gemmbench.ops.lpcnet_step import PARTS
from gemmbench.report.data import ReportData
from gemmbench.report.kinds import NoPlotData
from gemmbench.report.plots import GRID, figure_legend, grouped_bars, log_axis
from gemmbench.report.table import time_text

PART_COLORS = dict(zip(PARTS, ("#9e9e9e", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")))
PART_NAMES = {"conditioning": "frame conditioning", "gru_a_product": "GRU-A product", "gru_a_gates": "GRU-A gates",
              "gru_b": "GRU-B", "output": "output layer"}


def _vocoder_rows(data: ReportData) -> pd.DataFrame:
    rows = data.plotted[data.plotted["rtf"].notna()] if "rtf" in data.plotted else data.plotted.iloc[0:0]
    if rows.empty:
        raise NoPlotData("no vocoder step (op lpcnet_step) was timed: run suites/lpcnet.yaml or wavernn.yaml")
    return rows


def _best_rtf(row: pd.Series) -> float:
    return row["native_rtf"] if pd.notna(row.get("native_rtf")) else row["rtf"]


def rtf_plot(data: ReportData) -> list[Figure]:
    """Bars: the real-time factor of the native loop where there is one; ticks: one Python call per sample."""
    rows = _vocoder_rows(data)

    def draw_row(axes: Axes, y: float, row: pd.Series) -> None:
        axes.barh(y, row["best"], height=0.7, color=data.colors[row["series"]])
        axes.annotate(f"{row['best']:.3g}", (row["best"], y), xytext=(4, 0), textcoords="offset points",
                      va="center", fontsize="x-small")
        if pd.notna(row.get("native_rtf")):
            axes.plot([row["rtf"]] * 2, [y - 0.38, y + 0.38], color="#222", linewidth=1.6)

    low = min(rows["rtf"].min(), rows.apply(_best_rtf, axis=1).min(), 1.0)
    high = max(rows["rtf"].max(), 1.0)
    figures = []
    for figure, axes in grouped_bars(data, rows, 0.3, 1.4,
                                     lambda group: group.assign(best=group.apply(_best_rtf, axis=1)).sort_values("best"),
                                     draw_row):
        axes.set_xscale("log")
        axes.set_xlim(low / 2, high * 3)
        log_axis(axes, "x", lambda v: f"{v:g}")
        axes.axvline(1.0, color="#a00", linewidth=1.2)
        axes.annotate("real time (RTF 1)", (1.0, 0), xycoords=("data", "axes fraction"), xytext=(3, 3),
                      textcoords="offset points", color="#a00", fontsize="x-small")
        axes.grid(axis="x", **GRID)
        axes.set_axisbelow(True)
        axes.set_xlabel("real-time factor (time per sample × sample rate; below 1: faster than real time)\n"
                        "bars: whole sequence in native code where measured · black ticks: one Python call per sample")
        figures.append(figure)
    return figures


def parts_plot(data: ReportData) -> list[Figure]:
    """100%-stacked bars of each part's share of a sample, annotated with the time per sample."""
    rows = _vocoder_rows(data)
    rows = rows[rows[[f"share_{name}" for name in PARTS]].notna().all(axis=1)]
    if rows.empty:
        raise NoPlotData("no vocoder row carries a per-part profile")

    def draw_row(axes: Axes, y: float, row: pd.Series) -> None:
        left = 0.0
        for name in PARTS:
            share = row[f"share_{name}"]
            axes.barh(y, share, left=left, height=0.7, color=PART_COLORS[name])
            if share >= 0.12:
                axes.text(left + share / 2, y, f"{share:.0%}", ha="center", va="center", fontsize="x-small",
                          color="white")
            left += share
        whole = (row["native_time_per_sample_ns"] if pd.notna(row.get("native_time_per_sample_ns"))
                 else row["time_per_sample_ns"])
        warn = f"  ⚠ parts add up to {row['parts_ratio']:.0%}" if bool(row.get("parts_warning")) else ""
        axes.annotate(f"{time_text(whole)} per sample{warn}", (1.0, y), xytext=(5, 0),
                      textcoords="offset points", va="center", fontsize="x-small")

    figures = []
    for figure, axes in grouped_bars(data, rows, 0.3, 1.6, lambda group: group.sort_values("series"), draw_row):
        axes.set_xlim(0, 1.45)
        axes.set_xticks(np.linspace(0, 1, 6), [f"{v:.0%}" for v in np.linspace(0, 1, 6)])
        axes.grid(axis="x", **GRID)
        axes.set_axisbelow(True)
        axes.set_xlabel("share of a sample's time (each part timed alone in the same worker; shares of their sum)")
        figure_legend(figure, [Patch(color=PART_COLORS[name]) for name in PARTS], [PART_NAMES[n] for n in PARTS])
        figures.append(figure)
    return figures
