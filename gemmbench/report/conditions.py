"""The same rows under other conditions: cache states and pages side by side, and a vocoder step's
GRU-A product measured alone beside the step's own (docs/measurement.md, "Cache state", "Pages").

Each comparison is a table of the one table model (gemmbench.report.table), rendered as HTML by
the report and as text at the end of a run (gemmbench.report.summary). Rows measured under two
conditions in the same rounds (every row of a case is) are compared round by round, with the
interval gemmbench.stats.decide.speedup gives.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import pandas as pd

from gemmbench.measure import cache
from gemmbench.report.table import Cell, Column, Table, time_cell
from gemmbench.stats import decide

STEP_PRODUCT = "part_gru_a_product_ns"


def _records(rows: Iterable[Mapping] | pd.DataFrame) -> list[dict]:
    records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else [dict(r) for r in rows]
    return [r for r in records if r.get("status") == "ok" and decide.time_of(r)[0] > 0]


def _series(row: Mapping) -> str:
    return f"{row['backend']}:{row.get('variant') or ''}"


def _ratio(faster: Mapping | None, slower: Mapping | None) -> Cell:
    """How many times longer `slower` takes than `faster` (paired by round where measured together)."""
    if faster is None or slower is None:
        return Cell("")
    interval = decide.speedup(faster, slower)
    return Cell(interval.text(), repr(interval.ratio)) if interval else Cell("")


def _grouped(records: list[dict], varying: str) -> dict[tuple, dict[str, dict]]:
    """Rows that differ only in `varying` ('cache' or 'pages'), by what they have in common."""
    groups: dict[tuple, dict[str, dict]] = {}
    for row in records:
        condition = decide.conditions_of(row)
        other = condition.pages if varying == "cache" else condition.cache
        key = (row.get("run_id"), row.get("repeat") or 0, row["case"], row.get("threads"), other, _series(row))
        groups.setdefault(key, {})[getattr(condition, varying)] = row
    return {key: found for key, found in groups.items() if len(found) > 1}


def _where(key: tuple, repeats: bool) -> list[Cell]:
    """The case (and its repeat, where a run measured several) a row of a comparison stands for."""
    return [Cell(key[2])] + ([Cell(str(key[1]))] if repeats else [])


def _where_columns(repeats: bool) -> list[Column]:
    return [Column("case", "", False)] + ([Column("repeat", "which repeat of the suite")] if repeats else [])


def _repeats(groups: dict) -> bool:
    return len({key[1] for key in groups}) > 1


def cache_table(rows: Iterable[Mapping] | pd.DataFrame, series: set[tuple[str, str]] | None = None) -> Table:
    """Rows measured in several cache states: the time in each, and how many times longer than hot.
    `series`: only these (case, backend:variant), e.g. a decision's choices."""
    groups = _grouped(_records(rows), "cache")
    states = [s for s in cache.STATES if any(s in found for found in groups.values())]
    repeats = _repeats(groups)
    columns = [*_where_columns(repeats), Column("backend:variant", "", False), Column("pages", "", False)]
    columns += [Column(state, f"time per call with cache {state} (native where measured)") for state in states]
    columns += [Column(f"{state} / hot", f"how many times longer than hot, paired by round "
                                         f"({100 * decide.INTERVAL_LEVEL:.0f}% interval)")
                for state in states if state != "hot"]
    body = []
    for key, found in groups.items():
        case, pages, name = key[2], key[4], key[5]
        if series is not None and (case, name) not in series:
            continue
        cells = [*_where(key, repeats), Cell(name), Cell(pages)]
        cells += [time_cell(decide.time_of(found[s])[0]) if s in found else Cell("") for s in states]
        cells += [_ratio(found.get("hot"), found.get(s)) for s in states if s != "hot"]
        body.append(cells)
    return Table(columns, body, title="each cache state measured (native time where measured)")


def pages_table(rows: Iterable[Mapping] | pd.DataFrame, series: set[tuple[str, str]] | None = None) -> Table:
    """Rows measured on both kinds of pages: each time, and what huge pages are worth (normal ÷ huge)."""
    groups = {key: found for key, found in _grouped(_records(rows), "pages").items()
              if {"huge", "normal"} <= set(found)}
    repeats = _repeats(groups)
    columns = [*_where_columns(repeats), Column("backend:variant", "", False), Column("cache", "", False),
               Column("2 MiB pages", "time per call on huge pages (native where measured)"),
               Column("4 KiB pages", "time per call on pages as a plain malloc gets them"),
               Column("huge pages worth", "4 KiB time ÷ 2 MiB time, paired by round "
                                          f"({100 * decide.INTERVAL_LEVEL:.0f}% interval)"),
               Column("spread 2 MiB / 4 KiB", "placement_spread on each: how far its copies' medians differ")]
    body = []
    for key, found in groups.items():
        case, state, name = key[2], key[4], key[5]
        if series is not None and (case, name) not in series:
            continue
        huge, normal = found["huge"], found["normal"]
        body.append([*_where(key, repeats), Cell(name), Cell(state), time_cell(decide.time_of(huge)[0]),
                     time_cell(decide.time_of(normal)[0]), _ratio(huge, normal),
                     Cell(f"{_percent(huge.get('placement_spread'))} / {_percent(normal.get('placement_spread'))}")])
    return Table(columns, body, title="2 MiB against 4 KiB pages (native time where measured)")


def _percent(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.0f}%"


def _product_key(row: Mapping) -> tuple:
    """What a step's GRU-A product and a matrix row share: run, shape, sparsity, dtype, backend:variant, pages."""
    return (row.get("run_id"), row.get("m"), row.get("k"), row.get("sparsity") or "", row.get("dtype"),
            _series(row), row.get("threads"), decide.conditions_of(row).pages)


def step_table(rows: Iterable[Mapping] | pd.DataFrame) -> Table:
    """Each vocoder step's GRU-A product as the step times it (its part, per sample) beside the same
    product measured alone (gemv rows of the same matrix, backend and variant) in each cache state."""
    records = _records(rows)
    alone: dict[tuple, dict[str, dict]] = {}
    for row in records:
        if row.get("op") == "gemv":
            alone.setdefault(_product_key(row), {})[decide.conditions_of(row).cache] = row
    steps = [r for r in records if r.get("op") == "lpcnet_step" and r.get(STEP_PRODUCT) == r.get(STEP_PRODUCT)
             and r.get(STEP_PRODUCT) is not None and _product_key(r) in alone]
    states = [s for s in cache.STATES if any(s in alone[_product_key(r)] for r in steps)]
    columns = [Column("step case", "", False), Column("backend:variant", "", False),
               Column("in the step", "the step's GRU-A product per sample (part_gru_a_product_ns: the product "
                                     "looped on the step's own data)"),
               *(Column(f"alone, {state}", f"the gemv row of the same matrix, cache {state}") for state in states),
               Column("step per sample", "the whole step's time per audio sample")]
    body = []
    for step in steps:
        found = alone[_product_key(step)]
        whole = step.get("native_time_per_sample_ns")
        whole = whole if whole is not None and whole == whole else step.get("time_per_sample_ns")
        body.append([Cell(step["case"]), Cell(_series(step)), time_cell(float(step[STEP_PRODUCT])),
                     *(time_cell(decide.time_of(found[s])[0]) if s in found else Cell("") for s in states),
                     time_cell(float(whole)) if whole is not None else Cell("")])
    return Table(columns, body, title="GRU-A's product in a vocoder step, and the same product measured alone")
