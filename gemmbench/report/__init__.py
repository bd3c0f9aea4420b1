"""Plots (matplotlib) and the self-contained HTML report (Jinja2 template) of results files.

    from gemmbench.report import write_report, load, draw, render
    write_report(["results/"], "reports/latest.html", baseline="numpy")

Names are imported on first use, so that listing plot kinds does not load matplotlib or pandas.
"""

from __future__ import annotations

import importlib

_LAZY = {"ReportData": "gemmbench.report.data",
         "load": "gemmbench.report.data", "write_report": "gemmbench.report.html",
         "NoPlotData": "gemmbench.report.kinds", "draw": "gemmbench.report.kinds",
         "render": "gemmbench.report.kinds"}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gemmbench.report' has no attribute {name!r}")
