"""The table of plot kinds the report draws and `gemmbench plot --kind` names, and how to render one.

Each kind names its drawing function by dotted path, imported on first use: the CLI lists the
kinds without loading matplotlib or pandas.
"""

from __future__ import annotations

import importlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from gemmbench.report.data import ReportData


class NoPlotData(Exception):
    """This kind of plot has nothing to show for these results; the message says why."""


@dataclass(frozen=True)
class PlotKind:
    name: str
    title: str
    description: str
    target: str  # 'module:function' drawing it: (ReportData) -> Figure

    def draw(self, data: "ReportData") -> "Figure":
        module, _, function = self.target.partition(":")
        return getattr(importlib.import_module(module), function)(data)

# The kinds every results file may have; each op adds the kinds that show its own columns (Op.plots).
CORE_KINDS: dict[str, PlotKind] = {kind.name: kind for kind in (
    PlotKind("speedup", "Speed-up over the baseline",
             "Each backend:variant against the baseline backend on the same case, thread count and run. "
             "Bars start at 1× (right: faster, left: slower); whiskers span the row's interquartile range.",
             "gemmbench.report.plots:speedup_plot"),
    PlotKind("sweep", "Time per call against size and density",
             "Median time per call, log-log, one line per backend:variant: across densities of one shape "
             "(where a sparse kernel's line crosses the baseline's is its break-even density) and across "
             "dense sizes m·k.", "gemmbench.report.plots:sweep_plot"),
    PlotKind("isa", "ISA levels",
             "Median time per call of each ISA level (from scalar up, as gemmbench/isa.py orders them), by backend "
             "and arithmetic precision; whiskers: interquartile range; labels: speed-up over the same backend's "
             "lowest level timed (float32 or int8 alike).", "gemmbench.report.plots:isa_plot"),
    PlotKind("threads", "Thread scaling",
             "Speed-up of each backend:variant over its own lowest thread count; the dashed line is linear scaling.",
             "gemmbench.report.plots:thread_plot"),
    PlotKind("accuracy", "Accuracy against speed",
             "Cases with int8 arithmetic or sparse weights: signal-to-noise ratio against the float64 reference "
             "versus median time. Dotted red lines: the correctness gate of each precision.",
             "gemmbench.report.plots:accuracy_plot"),
    PlotKind("roofline", "Roofline",
             "The machine's measured ceilings (peak per ISA level and precision; read bandwidth per cache level) "
             "and each matrix-product row at its arithmetic intensity and achieved rate (runs with --roofline).",
             "gemmbench.report.roofline_plot:roofline_plot"),
    PlotKind("samples", "Sample distributions",
             "Every timed sample of every row (per-call time), so noise and outliers are seen rather than "
             "summarised away. Native-loop samples are shown beside the Python-call ones where present.",
             "gemmbench.report.plots:samples_plot"),
)}


def all_kinds() -> dict[str, PlotKind]:
    """The core kinds, then those of every installed op (an op's kind may not take a core kind's name)."""
    from gemmbench import registry

    found = dict(CORE_KINDS)
    for op_name in registry.ops.names():
        for kind in registry.ops.get(op_name).plots:
            found.setdefault(kind.name, kind)
    return found


def render(figure: "Figure", fmt: str, dpi: int = 130) -> bytes:
    """The figure as PNG or SVG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=dpi, metadata={"Date": None} if fmt == "svg" else None)
    return buffer.getvalue()


def draw(name: str, data: "ReportData", titled: bool = False) -> "Figure":
    """The named kind's figure (raises NoPlotData when it has nothing to show)."""
    kind = all_kinds()[name]
    figure = kind.draw(data)
    if titled and figure.legends:  # a suptitle would sit on top of an 'outside' legend
        figure.legends[0].set_title(kind.title, prop={"weight": "bold", "size": "large"})
    elif titled:
        figure.suptitle(kind.title, fontweight="bold")
    return figure


__all__ = ["CORE_KINDS", "PlotKind", "NoPlotData", "all_kinds", "draw", "render"]
