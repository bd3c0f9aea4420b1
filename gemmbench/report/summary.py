"""What the end of a run shows, as tables: failures first, then the decision (or the instruction
counts), then what did not run; with -v every row instead of the failures and what did not run.

The decision table is the report's own (gemmbench.report.content.decision_table); the command
only chooses which tables to print and hands them to the text renderer.
"""

from __future__ import annotations

from typing import Mapping

from gemmbench.data.results import FAILED_STATUSES, NOT_RUN_STATUSES
from gemmbench.report.content import decision_table
from gemmbench.report.table import Cell, Column, Table, number_cell, text_cell, time_cell
from gemmbench.stats.decide import decide

NOTE_LENGTH = 70  # characters of a row's message in the every-row table
WHY_LENGTH = 100  # in the failures table


def summary(rows: list[Mapping], every_row: bool = False) -> list[Table]:
    """The tables a run ends with, in order."""
    failed = [row for row in rows if row["status"] in FAILED_STATUSES]
    tables = []
    if every_row:
        tables.append(row_table(rows))
    elif failed:
        tables.append(failure_table(failed))
    counted = [row for row in rows if row.get("metric") == "instructions" and row["status"] == "ok"]
    tables.append(counts_table(counted) if counted else decision_table(decide(rows), listed="-v lists them"))
    if not every_row:
        tables.append(not_run_table(rows))
    return [table for table in tables if table.rows or table.notes]


def case_order(rows: list[Mapping]) -> dict[str, int]:
    """Each case's position: where its first row is."""
    return {case: i for i, case in reversed(list(enumerate(row["case"] for row in rows)))}


def _series(row: Mapping) -> Cell:
    return Cell(f"{row['backend']}:{row['variant']}")


def row_table(rows: list[Mapping]) -> Table:
    """Every given row by case, in the order the cases first appear."""
    order = case_order(rows)
    columns = [Column("case", "case name", False), Column("backend:variant", "backend and variant", False),
               Column("threads", "threads requested"), Column("status", "what became of the row", False),
               Column("median", "median Python call"), Column("native", "median inside native code"),
               Column("GFLOP/s", "dense-equivalent operations per second"), Column("rel err", "against float64"),
               Column("note", "why the status is what it is", False)]
    body = []
    for row in sorted(rows, key=lambda row: order[row["case"]]):
        note = row.get("message") or ("noisy (cv %.0f%%)" % (100 * row["cv"]) if row.get("noisy") else "")
        body.append([Cell(row["case"]), _series(row), text_cell(row["threads"]), Cell(row["status"]),
                     time_cell(row.get("median_ns")), time_cell(row.get("native_median_ns")),
                     number_cell(row.get("gflops"), ".1f"), number_cell(row.get("rel_err"), ".1e"),
                     Cell(note[:NOTE_LENGTH])])
    return Table(columns, body, title="every row", notes=() if body else ("no row was measured",))


def counts_table(rows: list[Mapping]) -> Table:
    """Instruction-count rows (run --metric instructions): per call, fewest first within each case."""
    order = case_order(rows)
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


def failure_table(rows: list[Mapping]) -> Table:
    columns = [Column("case", "case name", False), Column("backend:variant", "backend and variant", False),
               Column("threads", "threads requested"), Column("status", "what went wrong", False),
               Column("why", "the row's message", False)]
    body = [[Cell(row["case"]), _series(row), text_cell(row["threads"]), Cell(row["status"]),
             Cell((row.get("message") or "")[:WHY_LENGTH])] for row in rows]
    return Table(columns, body, title=f"FAILED: {len(rows)} row{'s' if len(rows) != 1 else ''}")


def not_run_table(rows: list[Mapping]) -> Table:
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
