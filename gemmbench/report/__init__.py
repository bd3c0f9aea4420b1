"""Plots (matplotlib) and the self-contained HTML report (Jinja2 template) of results files.

    from gemmbench.report import write_report, load, draw, render
    write_report(["results/"], "reports/latest.html", baseline="numpy")
"""

from gemmbench.report.data import DEFAULT_BASELINE, ReportData, load
from gemmbench.report.html import write_report
from gemmbench.report.plots import KINDS, NoPlotData, draw, render

__all__ = ["DEFAULT_BASELINE", "KINDS", "NoPlotData", "ReportData", "draw", "load", "render", "write_report"]
