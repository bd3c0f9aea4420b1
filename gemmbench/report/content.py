"""What the report says, as plain data for the template: the decision table, warnings, per-case tables.

The decision table is built here once (from gemmbench.stats.decide) for the report's first screen
and for the end of a run (gemmbench.report.summary), each through its own renderer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from gemmbench.data.results import NOT_RUN_STATUSES
from gemmbench.measure.timing import NOISY_SPREAD
from gemmbench.report.data import PEER_MARK, ReportData, failed_rows, not_run_rows
from gemmbench.report.table import Cell, Column, Table, number_cell, snr_cell, time_cell, time_text
from gemmbench.report.textable import is_missing
from gemmbench.stats.decide import INTERVAL_LEVEL, PEER, Choice, Conditions, Decision, Interval, decide

CASE_LIST_LIMIT = 6  # cases named in one warning line before '…'


LEVELS = ("error", "warn", "info")


@dataclass(frozen=True)
class ReportWarning:
    level: str  # 'error', 'warn' or 'info'
    text: str
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CaseSection:
    name: str
    anchor: str
    description: str
    table: Table
    left_out: str = ""  # the rows not in the table: not run (counted per backend), reference-only


# ---- formatting ------------------------------------------------------------------------------


def _cases(cases: pd.Series, noun: str = "cases") -> str:
    names = list(dict.fromkeys(cases))
    shown = ", ".join(names[:CASE_LIST_LIMIT])
    return shown + (f", … ({len(names)} {noun})" if len(names) > CASE_LIST_LIMIT else "")


def anchor(text: str) -> str:
    return "case-" + "".join(c if c.isalnum() or c in "_-" else "-" for c in text).strip("-")


def _case_shape(row: pd.Series) -> str:
    """gemv · 1152x384 16x1@0.1: what is computed (the op and its own label), not in which precision."""
    return " · ".join(str(row[c]) for c in ("op", "shape") if isinstance(row[c], str) and row[c])


def _describe_case(row: pd.Series) -> str:
    """The shape and the case dtype, then the work: 0.885 MFLOP dense-equivalent · 1.78 MB"""
    parts = [f"{_case_shape(row)} · {row['dtype']} data"] if _case_shape(row) else []
    if not is_missing(row["flops"]):
        parts.append(f"{row['flops'] / 1e6:.3g} MFLOP dense-equivalent")
    if not is_missing(row["bytes"]):
        parts.append(f"{row['bytes'] / 1e6:.3g} MB")
    return " · ".join(parts)


# ---- warnings --------------------------------------------------------------------------------


def failures(data: ReportData) -> list[ReportWarning]:
    """What went wrong: partial runs and failed rows. The report shows these first."""
    return [w for w in warnings(data) if w.level == "error"]


def notes(data: ReportData) -> list[ReportWarning]:
    """Everything else worth knowing (unavailable, skipped, noisy, mixed CPUs), shown below the decision."""
    return [w for w in warnings(data) if w.level != "error"]


def warnings(data: ReportData) -> list[ReportWarning]:
    frame = data.frame
    found = [ReportWarning("error", f"Run {run.label} is partial: its file ({run.file}) says complete=false — "
                                    f"the run was interrupted or is still going; {run.rows} rows are in it.")
             for run in data.runs if not run.complete]
    found += _grouped(failed_rows(frame), "error", data)
    found += _not_run(not_run_rows(frame), data)
    found += _noisy(data)
    found += _simulated(data) + _roof_notes(data)
    if frame["feature_key"].nunique() > 1:
        found.append(ReportWarning("warn", "These results come from different CPUs or ISA flag sets ("
                             + "; ".join(sorted(set(frame["feature_key"].dropna()))) + "): speed-ups are computed "
                             "within each run only; compare absolute times across machines with care."))
    if not frame.empty and data.ok["baseline_ns"].notna().sum() == 0:
        found.append(ReportWarning("warn", f"The baseline {data.baseline} has no timed rows here, so speed-ups and "
                                     "pay-offs are blank; pick another with --baseline."))
    return sorted(found, key=lambda warning: LEVELS.index(warning.level))  # failures first, skipped rows last


def _grouped(rows: pd.DataFrame, level: str, data: ReportData) -> list[ReportWarning]:
    """One line per run, backend:variant and status; the first message stands for the others."""
    found = []
    for (status, series), group in rows.groupby(["status", "series"], sort=True):
        runs = list(dict.fromkeys(group.sort_values("run_order")["run_label"]))
        where = f" in run{'s' if len(runs) > 1 else ''} {', '.join(runs)}" if data.several_runs else ""
        messages = list(dict.fromkeys(group["message"].fillna("")))
        reason = messages[0] + (f" (and {len(messages) - 1} other messages)" if len(messages) > 1 else "")
        severity = "warn" if status == "unavailable" else level
        found.append(ReportWarning(severity, f"{series} {status} on {len(group)} row(s){where}: {reason}",
                             [f"cases: {_cases(group['case'])}"]))
    return found


def _not_run(rows: pd.DataFrame, data: ReportData) -> list[ReportWarning]:
    """One line per backend and status: how many rows did not run, each distinct reason counted."""
    found = []
    for (status, backend), group in rows.groupby(["status", "backend"], sort=True):
        reasons = group["message"].fillna("").value_counts()
        runs = list(dict.fromkeys(group.sort_values("run_order")["run_label"]))
        where = f" in run{'s' if len(runs) > 1 else ''} {', '.join(runs)}" if data.several_runs else ""
        found.append(ReportWarning("warn" if status == "unavailable" else "info",
                                   f"{backend}: {len(group)} row(s) {status}{where}: {reasons.index[0]}"
                                   + (f" (and {len(reasons) - 1} other reasons)" if len(reasons) > 1 else ""),
                                   [f"{count} × {reason} — variants "
                                    f"{_cases(group[group['message'] == reason]['variant'], 'variants')}"
                                    for reason, count in reasons.items()]))
    return found


def _simulated(data: ReportData) -> list[ReportWarning]:
    """Runs on a simulated CPU (GEMMBENCH_CPU_FLAGS): what a smaller machine would run, timed on this one."""
    from gemmbench.machine.featurekey import is_simulated

    keys = sorted(key for key in set(data.frame["feature_key"].dropna()) if is_simulated(key))
    return [ReportWarning("warn", f"Simulated CPU ({key}): GEMMBENCH_CPU_FLAGS hid flags from this run, so it shows "
                                  "which variants a machine without them would run; its times are still this "
                                  "machine's, and it is no machine's baseline.") for key in keys]


def _roof_notes(data: ReportData) -> list[ReportWarning]:
    """What the roofline of each run did not measure (memory, a level the sweep could not tell apart)."""
    labels = dict(zip(data.frame["run_id"], data.frame["run_label"]))
    return [ReportWarning("info", f"Roofline{' of run ' + labels.get(run_id, run_id) if data.several_runs else ''}: "
                                  f"{note}") for run_id, roof in data.roofs.items() for note in roof.get("notes", ())]


def _noisy(data: ReportData) -> list[ReportWarning]:
    timed = data.ok
    noisy = timed[timed["noisy"].fillna(False).astype(bool)]
    if noisy.empty:
        return []
    spread = noisy["cv"]  # rows of older files were judged by their cv
    if "sample_spread" in noisy:
        spread = noisy["sample_spread"].fillna(spread)
    details = [f"{row.case} · {row.label} · {int(row.threads)} thr: {100 * value:.0f}% spread"
               for row, value in zip(noisy.itertuples(), spread)]
    return [ReportWarning("warn", f"{len(noisy)} of {len(timed)} timed rows are noisy: half their samples lie further "
                                  f"than {100 * NOISY_SPREAD:.0f}% from their placement's median, preempted samples "
                                  f"left out, which a quiet machine does not show. Their speed-up intervals are wider; "
                                  f"rerun them on a quieter machine (gemmbench check says what to change), or look at "
                                  f"every sample with gemmbench report --samples. (The spread between placements is "
                                  f"not counted: see placement_spread, docs/measurement.md, Placements.)", details)]


# ---- tables ----------------------------------------------------------------------------------


def _case_columns(data: ReportData, frame: pd.DataFrame) -> list[tuple[Column, Callable[[pd.Series], Cell]]]:
    """(column, row -> Cell) for one case's table; columns no row of it fills are left out."""
    columns = [
        (Column("backend:variant", "backend and the kernel variant actually run; hover for the detail; "
                                   "(peer): a production runtime users could ship instead", False),
         lambda r: Cell(r["series"] + (PEER_MARK if r["role"] == PEER else ""), r["series"],
                        title=r["detail"] if isinstance(r["detail"], str) else "")),
        (Column("ISA", "ISA level the variant's code targets", False), lambda r: Cell(r["isa"], r["isa"]))
        if (frame["isa"] != "").any() else None,
        (Column("precision", "arithmetic the correctness gate judged", False),
         lambda r: Cell(r["precision"] if isinstance(r["precision"], str) else ""))
        if (frame["precision"].fillna(frame["dtype"]) != frame["dtype"]).any() else None,
        (Column("threads", "threads requested"), lambda r: number_cell(r["threads"], ".0f")),
        (Column("cache", "cache state the calls found: hot, between (other layers' data read between calls), "
                         "cold (weights pushed out of the caches)", False), lambda r: Cell(r["cache"]))
        if frame["cache"].nunique() > 1 else None,
        (Column("pages", "pages the data sat on: huge (2 MiB) or normal (as malloc gives)", False),
         lambda r: Cell(r["pages"])) if frame["pages"].nunique() > 1 else None,
        (Column("run", "which run (host and run id in the header)", False), lambda r: Cell(r["run_label"]))
        if data.several_runs else None,
        (Column("status", "ok, wrong, error, crashed, timeout, unavailable, skipped", False),
         lambda r: Cell(r["status"], css=f"status-{r['status']}",
                        title=r["message"] if isinstance(r["message"], str) else "")),
        (Column("median", "median time per call, Python call included"), lambda r: time_cell(r["median_ns"])),
        (Column("min", "fastest sample, per call"), lambda r: time_cell(r["min_ns"])),
        (Column("IQR", "interquartile range of the samples"), lambda r: time_cell(r["iqr_ns"])),
        (Column("cv", "coefficient of variation (std/mean) of the samples; the row is noisy when half its samples "
                      "lie further from their placement's median, preempted samples left out (sample_spread), than "
                      f"{100 * NOISY_SPREAD:.0f}%"),
         lambda r: _cv(r["cv"], r["noisy"])),
        (Column("native", "median time per call measured inside native code"), lambda r: time_cell(r["native_median_ns"]))
        if frame["native_median_ns"].notna().any() else None,
        (Column("overhead", "call overhead: median minus native median, what the Python call costs"),
         lambda r: _overhead(r["overhead_ns"])) if frame["native_median_ns"].notna().any() else None,
        (Column("GFLOP/s", "dense-equivalent operations (2·m·k·n) per second"), lambda r: number_cell(r["gflops"], ".3g")),
        (Column("useful GFLOP/s", "operations on stored weights only, per second"),
         lambda r: number_cell(r["useful_gflops"], ".3g"))
        if (frame["useful_flops"].fillna(frame["flops"]) < frame["flops"]).any() else None,
        (Column("GB/s", "dense-equivalent bytes of weights, input and output per second"),
         lambda r: number_cell(r["gbps"], ".3g")),
        (Column("speed-up", f"{data.baseline}'s time ÷ this time (native where measured), same case, threads, run "
                            f"and repeat, paired round by round; hover for its {100 * INTERVAL_LEVEL:.0f}% interval"),
         _speedup),
        (Column("% of roof", "achieved useful rate (native time where measured) as a percentage of the attainable "
                             "bound (run --roofline; docs/roofline.md)"),
         lambda r: number_cell(r["roof_pct"], ".0f")) if frame["roof_pct"].notna().any() else None,
        (Column("RTF", "vocoder steps: real-time factor (native loop where measured; below 1 is faster than "
                       "real time)"),
         lambda r: number_cell(r["native_rtf"] if r["native_rtf"] == r["native_rtf"] else r["rtf"], ".3g"))
        if "rtf" in frame and frame["rtf"].notna().any() else None,
        (Column("max |err|", "largest absolute difference from the float64 reference"),
         lambda r: number_cell(r["max_abs_err"], ".2g")),
        (Column("rel err", "‖out − ref‖₂ / ‖ref‖₂"), lambda r: number_cell(r["rel_err"], ".2g")),
        (Column("SNR dB", "20·log10(‖ref‖ / ‖out − ref‖)"), lambda r: snr_cell(r["accuracy_db"])),
        (Column("prepare", "untimed preparation: packing, conversion, quantization"), lambda r: time_cell(r["prepare_ns"])),
        (Column("pays off after", f"calls until the preparation is paid back by the time saved per call "
                                  f"against {data.baseline}: prepare ÷ (baseline median − median)"), _payoff),
        (Column("note", "why the status is what it is", False), _note),
    ]
    return [c for c in columns if c is not None]


def _overhead(ns) -> Cell:
    cell = time_cell(ns)
    if cell.text and ns < 0:  # the native loop measured slower than the Python call: noise between the two
        return Cell(cell.text.replace("-", "−"), cell.sort, "noisy",
                    "the native loop took longer than the Python call: the two were measured at different moments "
                    "of a noisy machine; trust neither difference")
    return cell


def _cv(cv, noisy) -> Cell:
    cell = number_cell(None if is_missing(cv) else 100 * cv, ".0f", "%")
    return Cell(cell.text, cell.sort, "noisy" if noisy is True else "")


def _speedup(row: pd.Series) -> Cell:
    s = row["speedup"]
    if is_missing(s):
        return Cell("")
    # Coloured only when the whole interval is on one side of 1x: noise stays grey.
    low, high = row["speedup_low"], row["speedup_high"]
    css = "faster" if low > 1 else "slower" if high < 1 else ""
    span = "" if is_missing(low) else f"{100 * INTERVAL_LEVEL:.0f}% interval {low:.2f}×–{high:.2f}×"
    return Cell(f"{s:.2f}×", repr(float(s)), css, span)


def _payoff(row: pd.Series) -> Cell:
    if row["is_baseline"] is True:
        return Cell("baseline", "")
    if not is_missing(row["payoff_calls"]):
        calls = row["payoff_calls"]
        return Cell(f"{calls:,.0f} call" + ("" if calls == 1 else "s"), repr(float(calls)))
    if not is_missing(row["speedup"]) and row["speedup"] <= 1:
        return Cell("never", "1e308", title="not faster than the baseline: the preparation is never paid back")
    return Cell("")


def _note(row: pd.Series) -> Cell:
    message = row["message"] if isinstance(row["message"], str) else ""
    return Cell(message[:160], message, title=message if len(message) > 160 else "")


def case_sections(data: ReportData) -> list[CaseSection]:
    """A table per case of the rows that ran (timed or failed); not-run and reference rows are counted below it."""
    sections = []
    for case, every in data.frame.groupby("case", sort=False):
        hidden = every["status"].isin(NOT_RUN_STATUSES) | (every["reference_only"] & (every["status"] == "ok"))
        rows = every[~hidden].sort_values(["threads", "backend", "variant", "run_order"], na_position="last")
        columns = _case_columns(data, rows)
        table = Table([c for c, _ in columns], [[make(r) for _, make in columns] for _, r in rows.iterrows()],
                      [f"status-{status}" for status in rows["status"]])
        described = every[every["op"].notna()]
        sections.append(CaseSection(case, anchor(case), _describe_case(described.iloc[0]) if len(described) else "",
                                    table, _left_out(every[hidden])))
    return sections


def _left_out(rows: pd.DataFrame) -> str:
    """'not run: csimd 5 skipped, torch 1 unavailable (see the notes) · reference rows: int8-numpy 9'"""
    parts = []
    not_run = rows[rows["status"].isin(NOT_RUN_STATUSES)]
    if len(not_run):
        counts = not_run.groupby(["backend", "status"], sort=False).size()
        parts.append("not run: " + ", ".join(f"{backend} {n} {status}" for (backend, status), n in counts.items())
                     + " (see the notes)")
    reference = rows[~rows["status"].isin(NOT_RUN_STATUSES)]
    if len(reference):
        counts = reference.groupby("backend", sort=False).size()
        parts.append("reference rows: " + ", ".join(f"{backend} {n}" for backend, n in counts.items())
                     + " (in the reference section)")
    return " · ".join(parts)


def decision(data: ReportData, conditions: Conditions | None = None) -> Decision:
    """The project's best rows (gemmbench.stats.decide) of the rows the report shows, measured under
    `conditions` (default: hot cache on huge pages where measured)."""
    return decide(data.frame, data.baseline, paired=True, conditions=conditions)


def conditions(decision: Decision) -> str:
    """What the decision's numbers hold for, said in its heading: the thread counts of its rows, the
    cache state and pages they ran under, and the other conditions measured."""
    threads = sorted({c.threads for c in decision.choices if c.threads is not None})
    said = [f"{', '.join(map(str, threads))} thread{'s' if threads != [1] else ''}"] if threads else []
    said += [decision.conditions_text()] if decision.conditions is not None else []
    return "; ".join(said)


def _decision_title(decision: Decision) -> str:
    where = conditions(decision)
    return ("best per case and precision" + (f" ({where})" if where else "") + ": verified rows of our backends, by "
            "native time where measured, else the Python call; ★ fastest of the case, for a vocoder calling it from C")


def decision_table(decision: Decision, run_labels: dict[str, str] | None = None, listed: str = "") -> Table:
    """Per case (thread count, run) and precision the project's best row, against the baseline and the
    fastest peer runtime: the table the report's first screen and the end of a run both show.

    listed: where the reference rows left out are listed, said in the note that counts them."""
    columns = _decision_columns(decision)
    rows, css, previous = [], [], None
    for choice in decision.choices:
        group = (choice.run_id, choice.case, choice.threads)
        first = group != previous
        rows.append(_decision_cells(decision, choice, first, run_labels or {}))
        css.append("group-start" if first else "")
        previous = group
    where = f" ({listed})" if listed else ""
    notes = [f"reference only, never a choice: {decision.folded_text()}{where}"] if decision.folded else []
    notes += [f"no timed row: {', '.join(decision.untimed)}"] if decision.untimed else []
    notes += _peer_wins(decision)
    return Table(columns, rows, css, _decision_title(decision), tuple(notes))


def _decision_columns(decision: Decision) -> list[Column]:
    columns = [Column("case", "case name; click for its table", False),
               Column("shape", "the op and its problem's size", False)]
    columns += [Column("threads", "threads requested")] if decision.several_threads else []
    columns += [Column("run", "which run", False)] if decision.several_runs else []
    columns += [Column("precision", "arithmetic the correctness gate judged", False),
                Column("best", "the fastest verified backend:variant of ours in this precision; hover for what "
                               "ran; ★ fastest of the case", False),
                Column("native", "median time per call inside native code: what it wins by where measured"),
                Column("Python call", "median time per call from Python; what it wins by without a native loop")]
    columns += [Column("RTF", "real-time factor of the winning figure (below 1: faster than real time)")] \
        if decision.has_rtf else []
    columns += [Column("SNR dB", "20·log10(‖ref‖ / ‖out − ref‖) against the float64 reference"),
                Column("rel err", "‖out − ref‖₂ / ‖ref‖₂"),
                Column(f"speed-up vs {decision.baseline}",
                       f"{decision.baseline}'s time ÷ this time, each native where measured, paired round by round; "
                       f"in brackets the {100 * INTERVAL_LEVEL:.0f}% interval")]
    columns += [Column("vs fastest peer", "the fastest peer runtime's Python call ÷ ours, paired round by round, "
                                          f"with its {100 * INTERVAL_LEVEL:.0f}% interval: above 1 ours is faster. "
                                          "Python calls on both sides, as a peer has no native loop", False)] \
        if decision.has_peers else []
    columns += [Column("of", "verified rows of this precision it was chosen from")]
    columns += [Column("fastest from Python", "where another row wins when called from Python (a Python loop "
                                              "pays the call; a vocoder in C pays the native time)", False)] \
        if decision.any_from_python else []
    return columns


def _decision_cells(decision: Decision, choice: Choice, first: bool, run_labels: dict[str, str]) -> list[Cell]:
    alone = _precisions(decision, (choice.run_id, choice.case, choice.threads)) == 1
    name = choice.series + (PEER_MARK if choice.role == PEER else "") + (" ★" if choice.fastest and not alone else "")
    cells = [Cell(choice.case if first else "", choice.case, link=anchor(choice.case) if first else ""),
             Cell(choice.shape if first else "", choice.shape, "wrap")]
    cells += [number_cell(choice.threads, ".0f")] if decision.several_threads else []
    cells += [Cell(run_labels.get(choice.run_id, choice.run_id))] if decision.several_runs else []
    cells += [Cell(choice.precision), Cell(name, choice.series, "best", choice.detail),
              time_cell(choice.native_ns), time_cell(choice.python_ns)]
    cells += [number_cell(choice.rtf, ".3g")] if decision.has_rtf else []
    cells += [snr_cell(choice.snr_db), number_cell(choice.rel_err, ".2g"), _interval(choice)]
    cells += [_versus(choice)] if decision.has_peers else []
    cells += [number_cell(choice.candidates, ".0f")]
    cells += [Cell(f"{choice.from_python} ({time_text(choice.from_python_ns)})" if choice.from_python else "",
                   css="wrap")] if decision.any_from_python else []
    return cells


def _precisions(decision: Decision, group: tuple) -> int:
    """How many precisions the case has choices in (the fastest is marked only among several)."""
    return sum((c.run_id, c.case, c.threads) == group for c in decision.choices)


def _interval_cell(interval: Interval, text: str) -> Cell:
    css = "faster" if interval.faster else "slower" if interval.slower else ""
    return Cell(text, repr(float(interval.ratio)), css)


def _interval(choice: Choice) -> Cell:
    if choice.is_baseline:
        return Cell("baseline", "1")
    if choice.speedup is None:
        return Cell("")
    return _interval_cell(choice.speedup, choice.speedup.text())


def _versus(choice: Choice) -> Cell:
    versus = choice.versus
    if versus is None:
        return Cell("")
    if versus.ratio is None:
        return Cell(f"{versus.peer}: {time_text(versus.peer_ns)}", "")
    verdict = {"ours": f"{versus.ratio.text()} vs {versus.peer}",
               PEER: f"{versus.peer} is faster: {versus.ratio.text()}",
               "tie": f"tie with {versus.peer}: {versus.ratio.text()}"}[versus.winner]
    return _interval_cell(versus.ratio, verdict)


def _peer_wins(decision: Decision) -> list[str]:
    """A line naming every case where a peer runtime beat our best, beyond the noise."""
    beaten = [f"{c.case} {c.precision} ({c.versus.peer})" for c in decision.choices
              if c.versus is not None and c.versus.winner == PEER]
    return [f"a peer runtime is faster than our best on: {'; '.join(beaten)}"] if beaten else []


def reference_table(data: ReportData) -> Table:
    """The timed rows of reference-only variants (never a choice), with their accuracy."""
    rows = data.ok[data.ok["reference_only"]]
    columns = [Column("case", "case name", False), Column("backend:variant", "reference backend and scheme", False),
               Column("Python call", "median time per call from Python"), Column("SNR dB", "against float64"),
               Column("rel err", "‖out − ref‖₂ / ‖ref‖₂"), Column("max |err|", "largest absolute difference")]
    body = [[Cell(r["case"]), Cell(r["series"], title=r["detail"] if isinstance(r["detail"], str) else ""),
             time_cell(r["median_ns"]), snr_cell(r["accuracy_db"]), number_cell(r["rel_err"], ".2g"), number_cell(r["max_abs_err"], ".2g")]
            for _, r in rows.iterrows()]
    return Table(columns, body)
