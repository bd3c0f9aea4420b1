"""The table of plot kinds the report draws and `gemmbench plot --kind` names, and how to render one.

Each kind names its drawing function by dotted path, imported on first use: the CLI lists the
kinds without loading matplotlib or pandas. A drawing function returns one Figure or a list of
them (pages): a figure never grows taller than plots.MAX_HEIGHT, however many rows there are.
Ops add their own kinds (`Op.plots`); `all_kinds()` is the core kinds and theirs.
"""

from __future__ import annotations

import importlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

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
    target: str  # 'module:function' drawing it: (ReportData) -> Figure or [Figure, ...]
    on_demand: str = ""  # how to ask for it when the report leaves it out by default ('' : always drawn)

    def draw(self, data: "ReportData") -> list["Figure"]:
        """The kind's pages (most kinds have one)."""
        module, _, function = self.target.partition(":")
        drawn = getattr(importlib.import_module(module), function)(data)
        return list(drawn) if isinstance(drawn, (list, tuple)) else [drawn]


# The kinds every results file may have; each op adds the kinds that show its own columns (Op.plots).
CORE_KINDS: dict[str, PlotKind] = {kind.name: kind for kind in (
    PlotKind("speedup", "Speed-up over the baseline",
             "Each backend:variant against the baseline backend on the same case, thread count and run, each by "
             "its time (native where measured, else the Python call). Bars start at 1× (right: faster, left: "
             "slower); whiskers: the 95% interval of the speed-up, paired round by round with the baseline where both "
             "were measured in the same rounds.",
             "gemmbench.report.plots:speedup_plot"),
    PlotKind("sweep", "Time per call against size and density",
             "Time per call (native where measured), log-log, one line per backend:variant: across densities of "
             "one shape and block pattern (where a sparse kernel's line crosses the baseline's is its break-even "
             "density) and across dense sizes m·k.", "gemmbench.report.plots:sweep_plot"),
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


def all_kinds(ops: Iterable[str] | None = None) -> dict[str, PlotKind]:
    """The core kinds, then those of every installed op, or of `ops` only (an op's kind may not take a
    core kind's name)."""
    from gemmbench import registry

    found = dict(CORE_KINDS)
    for op_name in registry.ops.names() if ops is None else sorted(set(ops) & set(registry.ops.names())):
        for kind in registry.ops.get(op_name).plots:
            found.setdefault(kind.name, kind)
    return found


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
    kind = (kinds or all_kinds())[name]
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


__all__ = ["CORE_KINDS", "PlotKind", "NoPlotData", "all_kinds", "draw", "pages", "render"]
