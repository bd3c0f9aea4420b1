"""The self-contained HTML report: plots inlined as data URIs, CSS and JS in the page, no network."""

from __future__ import annotations

import base64
import datetime as dt
import html
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable

from gemmbench.data import output
from gemmbench.data.results import files_read
from gemmbench.errors import UsageError
from gemmbench.measure.progress import Progress
from gemmbench.report import conditions as report_conditions
from gemmbench.report import content, kinds
from gemmbench.report.data import ReportData, load
from gemmbench.report.select import RowFilter
from gemmbench.stats.decide import DEFAULT_BASELINE, INTERVAL_LEVEL, Conditions, conditions_of

TEMPLATE = "report.html.j2"
# A plot of many rows' samples draws tens of thousands of markers; as SVG that is megabytes
# of text. Past this size a figure is also rendered as a PNG at screen resolution, and the
# smaller of the two is embedded (an SVG inline, a PNG as a data: URI).
SVG_LIMIT = 300_000
PNG_DPI = 110


@dataclass(frozen=True)
class PlotSection:
    name: str
    title: str
    description: str
    images: tuple[str, ...]  # HTML of each page (inline <svg> or <img>); none when the kind had nothing to show
    note: str  # why it is left out, '' when drawn


def template_text() -> str:
    """The Jinja2 template, read through the package so it is found from any kind of install."""
    return resources.files("gemmbench.report").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")


def _plot_sections(data: ReportData, plot_kinds: dict[str, kinds.PlotKind] | None = None,
                  progress: Progress | None = None) -> list[PlotSection]:
    sections = []
    plot_kinds = plot_kinds or kinds.available(data)
    for kind in plot_kinds.values():
        if kind.on_demand and not data.every_sample:
            sections.append(PlotSection(kind.name, kind.title, kind.description, (), kind.on_demand))
            continue
        if progress:
            progress.begin(f"drawing {kind.name}")
        try:
            figures = kinds.pages(kind.name, data, kinds=plot_kinds)
        except kinds.NoPlotData as reason:
            sections.append(PlotSection(kind.name, kind.title, kind.description, (), str(reason)))
        else:
            sections.append(PlotSection(kind.name, kind.title, kind.description,
                                        tuple(image_html(figure, kind.title) for figure in figures), ""))
        if progress:
            progress.row_done("ok")
    return sections


def image_html(figure, alt: str) -> str:
    """The figure as inline SVG, or as a PNG data URI when the SVG weighs more than SVG_LIMIT and the PNG less.

    Inline, not a base64 data URI: a third smaller, and its text is text. matplotlib salts every id it
    writes with a fresh random value, so several figures on one page never share an id."""
    svg = kinds.render(figure, "svg")
    png = kinds.render(figure, "png", dpi=PNG_DPI) if len(svg) > SVG_LIMIT else None
    if png is None or len(svg) <= len(png):
        text = svg.decode("utf-8")
        return text[text.index("<svg"):]  # without the XML declaration and doctype
    return (f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" '
            f'alt="{html.escape(alt, quote=True)}">')


def render_html(data: ReportData, title: str | None = None, progress: Progress | None = None,
                conditions: Conditions | None = None) -> str:
    import jinja2

    from gemmbench import __version__

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    suites = ", ".join(dict.fromkeys(run.suite for run in data.runs)) or "no runs"
    choices = content.decision(data, conditions)
    compared = [table for table in (report_conditions.cache_table(data.frame), report_conditions.pages_table(data.frame),
                                    report_conditions.step_table(data.frame)) if table.rows]
    decision = content.decision_table(choices, dict(zip(data.frame["run_id"], data.frame["run_label"])))
    return env.from_string(template_text()).render(
        title=title or f"gemmbench report: {suites}",
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__, data=data, runs=data.runs, rows=len(data.frame), timed=len(data.ok),
        failures=content.failures(data), notes=content.notes(data), decision=decision, choices=choices,
        conditions=content.conditions(choices), level=INTERVAL_LEVEL,
        reference=content.reference_table(data), plots=_plot_sections(data, progress=progress),
        cases=content.case_sections(data), compared=compared)


def _check_conditions(data: ReportData, conditions: Conditions | None) -> None:
    """Conditions asked for that no timed row ran under are refused, naming those measured."""
    present = list(dict.fromkeys(conditions_of(row) for row in data.ok.to_dict("records")))
    if conditions is not None and conditions not in present:
        measured = "; ".join(f"cache {c.cache}, pages {c.pages}" for c in present) or "none"
        raise UsageError(f"--cache/--pages: no timed row ran with cache {conditions.cache} on {conditions.pages} "
                         f"pages; these results hold: {measured}")


def _default_path(data: ReportData, folder: Path = Path("reports")) -> Path:
    """reports/<results file name>.html for one run; named after the suites and newest run for several."""
    if len(data.runs) == 1:
        return folder / (Path(data.runs[0].file).stem + ".html")
    suites = "+".join(dict.fromkeys(run.suite for run in data.runs))
    newest = max(data.runs, key=lambda run: run.started)
    return folder / f"{suites}-{len(data.runs)}runs-{newest.run_id}.html"


def write_report(results: Iterable[str | os.PathLike], out: str | os.PathLike | None = None,
                 baseline: str = DEFAULT_BASELINE, title: str | None = None, rows: RowFilter = RowFilter(),
                 every_sample: bool = False, progress: bool | None = False,
                 conditions: Conditions | None = None) -> Path:
    """Read results (files or directories), write one self-contained HTML report, return its path.

    progress: a line on stderr while plots are drawn (None: when stderr is a terminal);
    conditions: what the decision table holds for (default: hot cache on huge pages where measured)."""
    results = list(results)
    reading = files_read(results)
    if out is not None:
        output.checked(out, reading)  # before reading and drawing: a bad path costs no time
    data = load(results, baseline, rows, every_sample)
    _check_conditions(data, conditions)
    path = output.checked(out if out is not None else _default_path(data), reading)
    drawn = [kind for kind in kinds.available(data).values() if every_sample or not kind.on_demand]
    show = Progress(sys.stderr, progress, total=len(drawn), unit="plots")
    try:
        page = render_html(data, title, show, conditions)
    finally:
        show.close()
    output.write(path, page.encode("utf-8"), reading)
    return path
