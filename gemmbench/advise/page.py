"""The advice kept: a parquet table of every candidate, and a self-contained HTML page with the frontier plot."""

from __future__ import annotations

import datetime as dt
import os
from importlib import resources
from pathlib import Path
from typing import Iterable

from gemmbench.advise.advisor import MatrixAdvice, Outcome
from gemmbench.advise.frontier import same_error
from gemmbench.advise.text import CAVEAT, budget_text, matrix_text

TEMPLATE = "advise.html.j2"


def _table_path(outcome: Outcome) -> Path:
    return outcome.run_path.with_name(outcome.run_path.stem + ".advice.parquet")


def _table_rows(outcome: Outcome) -> list[dict]:
    rows = []
    for matrix in outcome.matrices:
        on_frontier = {c.label for c in matrix.frontier}
        best, runner = matrix.advice.best, matrix.advice.runner_up
        for c in matrix.candidates:
            rows.append({
                "matrix": matrix.target.ref.source, "weights_sha256": matrix.target.ref.sha256,
                "activations": matrix.activations.source, "case": c.case, "kernel": c.kernel, "format": c.format,
                "error": c.error, "time_ns": c.time_ns, "time_low_ns": c.low_ns,
                "time_high_ns": c.high_ns, "speedup": c.speedup.ratio if c.speedup else None,
                "speedup_low": c.speedup.low if c.speedup else None,
                "speedup_high": c.speedup.high if c.speedup else None,
                "frontier": c.label in on_frontier, "within_budget": c.error <= outcome.budget,
                "recommended": best is not None and c.label == best.label,
                "runner_up": runner is not None and c.label == runner.label,
                "reference_only": c.reference_only, "budget": outcome.budget, "run_file": str(outcome.run_path)})
    return rows


def write_table(outcome: Outcome) -> Path:
    """Every candidate of every matrix, beside the run's results file."""
    import pandas as pd

    from gemmbench.data.atomic import publishing

    path = _table_path(outcome)
    with publishing(path) as tmp:
        pd.DataFrame(_table_rows(outcome)).to_parquet(tmp, index=False)
    return path


def _frontier_figure(matrix: MatrixAdvice, budget: float):
    """Error against time, log-log: every candidate, the frontier with its time intervals, the budget."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 5.5), layout="constrained")
    axes = figure.add_subplot()
    floor = min((c.error for c in matrix.candidates if c.error > 0), default=1e-8) / 2
    shown = lambda e: max(e, floor)  # noqa: E731  (an exact product sits on the floor of a log axis)
    others = [c for c in matrix.candidates if c not in matrix.frontier]
    axes.scatter([c.time_ns / 1e3 for c in others], [shown(c.error) for c in others], s=14, color="#bbbbbb",
                 label="beaten (slower beyond the noise, no more accurate)")
    front = list(matrix.frontier)
    xs, ys = [c.time_ns / 1e3 for c in front], [shown(c.error) for c in front]
    axes.errorbar(xs, ys, xerr=[[(c.time_ns - c.low_ns) / 1e3 for c in front],
                                [(c.high_ns - c.time_ns) / 1e3 for c in front]],
                  fmt="o", color="#2459a8", ecolor="#2459a8", capsize=3, label="frontier (95% time intervals)")
    axes.step(xs, ys, where="post", color="#2459a8", alpha=0.4)
    named: list[float] = []
    for c in front:  # the fastest of each error level is named; rows tied with it sit beside it
        if not any(same_error(c.error, e) for e in named):
            named.append(c.error)
            axes.annotate(f"{c.kernel}\n{c.format}", (c.time_ns / 1e3, shown(c.error)), fontsize=6.5,
                          xytext=(4, 4), textcoords="offset points")
    axes.axhline(budget, color="#b42318", linestyle="--", linewidth=1, label=f"budget {budget_text(budget)}")
    best = matrix.advice.best
    if best is not None:
        axes.scatter([best.time_ns / 1e3], [shown(best.error)], marker="*", s=220, color="#1a7f37", zorder=5,
                     label=f"recommended: {best.kernel}")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("time per product, µs (median; native loop where measured)")
    axes.set_ylabel("relative error of the product")
    axes.set_title(matrix.target.ref.source, fontsize=10)
    axes.grid(True, which="both", alpha=0.25)
    axes.legend(fontsize=7, loc="best")
    return figure


def default_folder() -> Path:
    return Path("reports")


def _default_page(outcome: Outcome) -> Path:
    return default_folder() / (outcome.run_path.stem + ".html")


def write_page(outcome: Outcome, path: Path | None = None, reading: Iterable[str | os.PathLike] = ()) -> Path:
    """One self-contained HTML page: the answer as text, the frontier plot and every candidate per matrix."""
    import jinja2

    from gemmbench import __version__
    from gemmbench.data import output
    from gemmbench.report.html import image_html

    path = path or _default_page(outcome)
    sections = [{"title": m.target.ref.source, "text": matrix_text(m, outcome.budget),
                 "plot": image_html(_frontier_figure(m, outcome.budget), f"frontier of {m.target.ref.source}")
                 if m.candidates else "",
                 "candidates": sorted(m.candidates, key=lambda c: (c.time_ns, c.error))}
                for m in outcome.matrices]
    template = resources.files("gemmbench.advise").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    page = env.from_string(template).render(
        title=f"gemmbench advise: {', '.join(m.target.ref.source for m in outcome.matrices)}",
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), version=__version__,
        budget=budget_text(outcome.budget), sections=sections, caveat=CAVEAT, run_file=str(outcome.run_path),
        noise=outcome.noise, seconds=outcome.seconds)
    output.write(path, page.encode("utf-8"), reading)
    return path
