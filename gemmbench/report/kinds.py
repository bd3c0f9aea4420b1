"""The table of plot kinds the report draws and `gemmbench plot --kind` names, and how to render one.

Each kind names its drawing function by dotted path, imported on first use: the CLI lists the
kinds without loading matplotlib or pandas. A drawing function returns one Figure or a list of
them (pages): a figure never grows taller than plots.MAX_HEIGHT, however many rows there are.
Ops add their own kinds (`Op.plots`); a run records its ops' kinds in its file, and a report's data
holds them (ReportData.op_kinds), so drawing asks no registry; `available(data)` is the core kinds
and those.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from gemmbench.op import PlotKind

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from gemmbench.report.data import ReportData


class NoPlotData(Exception):
    """This kind of plot has nothing to show for these results; the message says why."""


# The kinds every results file may have; each op adds the kinds that show its own columns (Op.plots).
CORE_KINDS: dict[str, PlotKind] = {kind.name: kind for kind in (
    PlotKind("speedup", "Speed-up over the baseline",
             "Each backend:variant against the baseline backend on the same case, thread count and run, each by "
             "its time (native where measured, else the Python call). Bars start at 1× (right: faster, left: "
             "slower); whiskers: the 95% interval of the speed-up, paired round by round with the baseline where both "
             "were measured in the same rounds.",
             "gemmbench.report.plots:speedup_plot"),
    PlotKind("isa", "ISA levels",
             "A row per case, backend and arithmetic precision timed at two ISA levels or more, a column per "
             "level (lowest first): the time per call (native where measured) and the speed-up over the same "
             "backend's lowest level timed in that case (float32 or int8 alike, so an int8 row shows what the "
             "precision bought too).", "gemmbench.report.plots:isa_plot"),
    PlotKind("threads", "Thread scaling",
             "Speed-up of each backend:variant over its own lowest thread count; the dashed line is linear scaling.",
             "gemmbench.report.plots:thread_plot"),
    PlotKind("accuracy", "Accuracy against speed",
             "Cases timed in two precisions or more (int8 beside float32): signal-to-noise ratio against the "
             "float64 reference versus time per call (native where measured). "
             "Dotted red lines: the correctness gate of each precision.",
             "gemmbench.report.plots:accuracy_plot"),
    PlotKind("roofline", "Roofline",
             "The machine's measured ceilings (peak per ISA level and precision; read bandwidth per cache level) "
             "and each matrix-product row at its arithmetic intensity and achieved rate (runs with --roofline).",
             "gemmbench.report.roofline_plot:roofline_plot"),
    PlotKind("samples", "Sample distributions",
             "Every sample of every row (per-call time; box: quartiles, whiskers: 1.5 IQR, dots: the samples), "
             "native-loop samples beside the Python-call ones where present.",
             "gemmbench.report.plots:samples_plot",
             on_demand="the tables summarise the samples (min, IQR, cv); gemmbench report --samples draws every one"),
)}


def available(data: "ReportData") -> dict[str, PlotKind]:
    """The kinds these results can have: the core kinds, then their ops' (an op's kind may not take a core
    kind's name)."""
    return {**CORE_KINDS, **{name: kind for name, kind in data.op_kinds.items() if name not in CORE_KINDS}}


def render(figure: "Figure", fmt: str, dpi: int = 130) -> bytes:
    """The figure as PNG or SVG bytes."""
    from matplotlib import rc_context

    buffer = io.BytesIO()
    # SVG text stays text (the page's fonts draw it), not a path per glyph: a tenth of the bytes.
    with rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format=fmt, dpi=dpi, metadata={"Date": None} if fmt == "svg" else None)
    return buffer.getvalue()


def pages(name: str, data: "ReportData", titled: bool = False,
          kinds: dict[str, PlotKind] | None = None) -> list["Figure"]:
    """The named kind's figures, one per page (raises NoPlotData when it has nothing to show)."""
    kind = (kinds or available(data))[name]
    figures = kind.draw(data)
    for number, figure in enumerate(figures, 1):
        title = kind.title + (f" ({number}/{len(figures)})" if len(figures) > 1 else "")
        if titled and figure.legends:  # a suptitle would sit on top of an 'outside' legend
            figure.legends[0].set_title(title, prop={"weight": "bold", "size": "large"})
        elif titled:
            figure.suptitle(title, fontweight="bold")
    return figures


def draw(name: str, data: "ReportData", titled: bool = False) -> "Figure":
    """The named kind's first page."""
    return pages(name, data, titled)[0]


__all__ = ["CORE_KINDS", "PlotKind", "NoPlotData", "available", "draw", "pages", "render"]
