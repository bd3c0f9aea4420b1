"""What the end of a run shows, as tables: failures first, then the decision (or the instruction
counts) and the other conditions measured, then what did not run, then what the samples' own
checks found; with -v every row instead of the failures and what did not run.

The decision table is the report's own (gemmbench.report.content.decision_table); the command
only chooses which tables to print and hands them to the text renderer.
"""

from __future__ import annotations

from typing import Mapping

from gemmbench.data.results import FAILED_STATUSES, NOT_RUN_STATUSES
from gemmbench.measure.timing import NOISY_SPREAD, PLACEMENT_NOTE
from gemmbench.report import conditions
from gemmbench.report.content import decision_table
from gemmbench.report.table import Cell, Column, Table, number_cell, text_cell, time_cell
from gemmbench.stats.decide import decide
from gemmbench.stats.paired import marked_rounds

NOTE_LENGTH = 70  # characters of a row's message in the every-row table
WHY_LENGTH = 100  # in the failures table


def summary(rows: list[Mapping], every_row: bool = False) -> list[Table]:
    """The tables a run ends with, in order."""
    failed = [row for row in rows if row["status"] in FAILED_STATUSES]
    tables = []
    if every_row:
        tables.append(_row_table(rows))
    elif failed:
        tables.append(_failure_table(failed))
    counted = [row for row in rows if row.get("metric") == "instructions" and row["status"] == "ok"]
    if counted:
        tables.append(_counts_table(counted))
    else:
        decision = decide(rows)
        tables += [decision_table(decision, listed="-v lists them"), *_condition_tables(rows, decision)]
    if not every_row:
        tables.append(_not_run_table(rows))
    tables.append(_sample_notes(rows))
    return [table for table in tables if table.rows or table.notes]


def _condition_tables(rows: list[Mapping], decision) -> list[Table]:
    """The decision's choices and the baseline's rows under the other cache states and pages measured,
    and vocoder steps' GRU-A products beside the same product measured alone."""
    chosen = {(c.case, c.series) for c in decision.choices}
    chosen |= {(row["case"], f"{row['backend']}:{row['variant']}") for row in rows
               if row["backend"] == decision.baseline}
    return [conditions.cache_table(rows, chosen), conditions.pages_table(rows, chosen), conditions.step_table(rows)]


def _sample_notes(rows: list[Mapping]) -> Table:
    """What the samples' own checks found (preempted samples, noisy rows, placement spread), what each
    means and what to do: notes without rows."""
    timed = [row for row in rows if row["status"] == "ok" and row.get("samples_ns") is not None]
    notes = []
    preempted = sum(int(row.get("preempted_samples") or 0) for row in timed)
    if preempted:
        marked = sum(len(marked_rounds(row)) for row in timed)
        notes.append(f"preempted samples: {preempted} (their thread was switched out), each taken again"
                     + (f"; {marked} kept after the retakes ran out, marked (preempted_rounds) and left out of "
                        f"the noise figure and the paired ratios" if marked else ""))
    noisy = [row for row in timed if row.get("noisy")]
    if noisy:
        notes.append(f"noisy: {len(noisy)} of {len(timed)} timed rows spread more than a quiet machine's (half "
                     f"their samples further than {100 * NOISY_SPREAD:.0f}% from their placement's median, "
                     f"preempted samples left out): their intervals are wider; rerun on a quieter machine, or "
                     f"--repeat to see the spread between runs")
    spread = [row for row in timed if (row.get("placement_spread") or 0) > PLACEMENT_NOTE]
    if spread:
        notes.append(f"placement spread: on {len(spread)} rows the copies of the data on different pages differ "
                     f"by more than {100 * PLACEMENT_NOTE:.0f}% (the cache placement, not noise; the median is over "
                     f"them: docs/measurement.md, Placements)")
    return Table([], [], notes=tuple(notes))


def _case_order(rows: list[Mapping]) -> dict[str, int]:
    """Each case's position: where its first row is."""
    return {case: i for i, case in reversed(list(enumerate(row["case"] for row in rows)))}


def _series(row: Mapping) -> Cell:
    return Cell(f"{row['backend']}:{row['variant']}")


def _row_table(rows: list[Mapping]) -> Table:
    """Every given row by case, in the order the cases first appear."""
    order = _case_order(rows)
    columns = [Column("case", "case name", False), Column("backend:variant", "backend and variant", False),
               Column("threads", "threads requested"), Column("status", "what became of the row", False),
               Column("median", "median Python call"), Column("native", "median inside native code"),
               Column("GFLOP/s", "dense-equivalent operations per second"), Column("rel err", "against float64"),
               Column("note", "why the status is what it is", False)]
    body = []
    for row in sorted(rows, key=lambda row: order[row["case"]]):
        note = row.get("message") or (f"noisy ({100 * row['sample_spread']:.0f}% spread; wider interval)"
                                      if row.get("noisy") else "")
        body.append([Cell(row["case"]), _series(row), text_cell(row["threads"]), Cell(row["status"]),
                     time_cell(row.get("median_ns")), time_cell(row.get("native_median_ns")),
                     number_cell(row.get("gflops"), ".1f"), number_cell(row.get("rel_err"), ".1e"),
                     Cell(note[:NOTE_LENGTH])])
    return Table(columns, body, title="every row", notes=() if body else ("no row was measured",))


def _counts_table(rows: list[Mapping]) -> Table:
    """Instruction-count rows (run --metric instructions): per call, fewest first within each case."""
    order = _case_order(rows)
    columns = [Column("case", "case name", False), Column("backend:variant", "backend and variant", False),
               Column("instructions", "per call"), Column("est. cycles", "instructions + 10 x L1 + 100 x LL misses"),
               Column("D1 misses", "simulated L1 data misses per call"),
               Column("LL misses", "simulated last-level misses per call")]
    body, previous = [], None
    for row in sorted(rows, key=lambda row: (order[row["case"]], row["instructions"])):
        body.append([Cell(row["case"] if row["case"] != previous else ""), _series(row),
                     number_cell(row["instructions"], ",.0f"), number_cell(row.get("est_cycles"), ",.0f"),
                     number_cell(row.get("d1_misses"), ",.0f"), number_cell(row.get("ll_misses"), ",.0f")])
        previous = row["case"]
    return Table(columns, body, title="instructions per call, counted under valgrind (deterministic; compare gates "
                                      "on them)")


def _failure_table(rows: list[Mapping]) -> Table:
    columns = [Column("case", "case name", False), Column("backend:variant", "backend and variant", False),
               Column("threads", "threads requested"), Column("status", "what went wrong", False),
               Column("why", "the row's message", False)]
    body = [[Cell(row["case"]), _series(row), text_cell(row["threads"]), Cell(row["status"]),
             Cell((row.get("message") or "")[:WHY_LENGTH])] for row in rows]
    return Table(columns, body, title=f"FAILED: {len(rows)} row{'s' if len(rows) != 1 else ''}")


def _not_run_table(rows: list[Mapping]) -> Table:
    """Per backend and status, the rows that did not run: how many, and the most common reason."""
    columns = [Column("backend", "backend name", False), Column("status", "skipped or unavailable", False),
               Column("rows", "rows with this status"), Column("e.g.", "the most common reason", False)]
    body = []
    for backend in dict.fromkeys(row["backend"] for row in rows):
        for status in NOT_RUN_STATUSES:
            messages = [row["message"] for row in rows if row["backend"] == backend and row["status"] == status]
            if messages:
                common = max(set(messages), key=messages.count)
                body.append([Cell(backend), Cell(status), number_cell(len(messages), "d"), Cell(common)])
    return Table(columns, body, title="not run (-v lists every row)")
