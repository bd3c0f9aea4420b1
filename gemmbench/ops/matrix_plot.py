"""The matrix products' sweep plot: time per call against density (a sparse pattern's break-even with the
baseline) and against dense size m·k. It reads the matrix op's own columns (m, k, n, density, sparsity),
so it is a kind of the gemv and gemm ops (their `plots`), not of the report's core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from gemmbench.report.data import ReportData
from gemmbench.report.kinds import NoPlotData
from gemmbench.report.plots import GRID, LINESTYLES, MARKERS, log_axis, log_time_axis, paged_panels, thread_text


@dataclass(frozen=True)
class Sweep:
    title: str
    x: str  # column on the x axis
    xlabel: str
    rows: pd.DataFrame


def _sparsity_pattern(sparsity) -> str:
    """A sparsity label without its densities: '16x1@0.05/0.05/0.2+diag' -> '16x1 blocks, 3 gates, diagonal'."""
    if not isinstance(sparsity, str) or not sparsity:
        return ""
    block, _, densities = sparsity.partition("@")
    gates = densities.split("+")[0].count("/") + 1
    return f"{block} blocks" + (f", {gates} gates" if gates > 1 else "") + (", diagonal" if "+diag" in densities else "")


def sweeps(ok: pd.DataFrame) -> list[Sweep]:
    """Rows sharing op, shape and sparsity pattern at several densities (with the dense rows of that shape);
    dense rows sharing op and n that differ by m·k."""
    found = []
    ok = ok[ok["m"].notna() & ok["k"].notna()]
    ok = ok.assign(pattern=ok["sparsity"].map(_sparsity_pattern), weights=ok["m"] * ok["k"])
    for (op, m, k, n, dtype, threads), rows in ok.groupby(["op", "m", "k", "n", "dtype", "threads"], sort=False):
        dense = rows[rows["pattern"] == ""]
        for pattern, sparse in rows[rows["pattern"] != ""].groupby("pattern", sort=False):
            if sparse["density"].nunique() > 1:
                found.append(Sweep(f"{op} {m}×{k}" + (f"×{n}" if n > 1 else "") + f" {dtype}, {pattern}, "
                                   f"{thread_text(threads)}", "density", "density (fraction of weights stored)",
                                   pd.concat([sparse, dense])))
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


def sweep_plot(data: ReportData) -> list[Figure]:
    found = sweeps(data.plotted)
    if not found:
        raise NoPlotData("no cases share op and shape at different densities, nor differ only in size (m·k)")
    return paged_panels(found, 2, 3.6, lambda sweep, axes: _draw_sweep(data, sweep, axes))


def _draw_sweep(data: ReportData, sweep: Sweep, axes: Axes) -> None:
    lines, bases = {}, {}  # label -> (run, quartiles by x); run -> the baseline's quartiles by x
    for label, rows in sweep.rows.sort_values(["series", "run_order"]).groupby("label", sort=False):
        rows = rows.sort_values(sweep.x)
        first = rows.iloc[0]
        run = int(first["run_order"])
        axes.plot(rows[sweep.x], rows["time_ns"], label=label, color=data.colors[first["series"]],
                  linestyle=LINESTYLES[run % len(LINESTYLES)], marker=MARKERS[run % len(MARKERS)], markersize=4)
        quartiles = rows.groupby(sweep.x)[["time_q1_ns", "time_ns", "time_q3_ns"]].min()
        lines[label] = (run, quartiles, data.colors[first["series"]])
        if first["backend"] == data.baseline.partition(":")[0]:
            bases.setdefault(run, quartiles)
    axes.set_xscale("log")
    log_time_axis(axes, "y")
    if sweep.x == "density":
        log_axis(axes, "x", lambda v: f"{v:g}")
        marks = [(label, color, _break_even(line, bases[run])) for label, (run, line, color) in lines.items()
                 if run in bases and line is not bases[run]]
        _label_break_evens(axes, [(label, color, x) for label, color, x in marks if x is not None],
                          data.baseline)
    else:
        log_axis(axes, "x", lambda v: f"{v:,.0f}", most=5)
        _label_cases(axes, sweep.rows)
    axes.set_title(sweep.title, fontsize="medium")
    axes.set_xlabel(sweep.xlabel)
    axes.set_ylabel("time per call (native where measured)")
    axes.grid(which="major", **GRID)


def _break_even(line: pd.DataFrame, base: pd.DataFrame) -> float | None:
    """The density where a kernel that beats the baseline when sparse, and loses when dense, crosses it.

    Both ends must be clear beyond the interquartile ranges, and the kernel itself must get faster as
    density drops: two dense backends whose lines cross in the noise have no break-even."""
    shared = line.index.intersection(base.index)
    if len(shared) < 2:
        return None
    line, base = line.loc[shared], base.loc[shared]
    sparse, dense = shared[0], shared[-1]
    clear = (line.at[sparse, "time_q3_ns"] < base.at[sparse, "time_q1_ns"]
             and line.at[dense, "time_q1_ns"] > base.at[dense, "time_q3_ns"]
             and line.at[sparse, "time_q3_ns"] < line.at[dense, "time_q1_ns"])
    x = crossing(np.asarray(shared, dtype=float), line["time_ns"].to_numpy(), base["time_ns"].to_numpy())
    return x if clear else None


def _label_break_evens(axes: Axes, marks: list[tuple[str, str, float]], baseline: str) -> None:
    """A dotted line in the series' colour at each break-even, and one legend-like block naming them all.

    One block, not a label per line: break-evens of several kernels often lie close together."""
    if not marks:
        return
    for _, color, x in marks:
        axes.axvline(x, color=color, linestyle=":", linewidth=1.2)
    lines = [f"break-even vs {baseline}:"] + [f"{label} ≈ {x:.2g}" for label, _, x in sorted(marks, key=lambda m: m[2])]
    axes.text(0.02, 0.98, "\n".join(lines), transform=axes.transAxes, va="top", ha="left", fontsize="x-small",
              bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#bbb", "alpha": 0.9})


def _label_cases(axes: Axes, rows: pd.DataFrame) -> None:
    """Name the case at each size along the top edge."""
    names = rows.groupby("weights")["case"].agg(lambda cases: ", ".join(dict.fromkeys(cases)))
    top = axes.secondary_xaxis("top")
    top.set_xticks(names.index.to_numpy(dtype=float), names.to_list(), rotation=30, ha="left", fontsize="x-small")
    top.xaxis.set_minor_locator(NullLocator())
