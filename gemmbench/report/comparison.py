"""A comparison of two result sets (gemmbench.stats.compare) as tables, text, markdown and JSON.

The tables are built once, as gemmbench.report.table.Table; the terminal and a CI job summary
get the same tables through the text and markdown renderers.
"""

from __future__ import annotations

import math
from dataclasses import asdict

from gemmbench.data.results import NOT_RUN_STATUSES
from gemmbench.report import text as renderer
from gemmbench.report.table import Cell, Column, Table, time_text
from gemmbench.stats.compare import NOTHING_GATED, Comparison, GeoMean, Pair, SuiteMismatch, Unmatched

# Listed one per line only with --verbose; otherwise counted per backend under the table.
QUIET_VERDICTS = ("unchanged", "not timed")
QUIET_MEANING = {"unchanged": "within the threshold", "not timed": "skipped or unavailable on a side"}
NAMED_REGRESSIONS = 5  # regressions the last line names; the table above lists them all


def _ratio(figure) -> Cell:
    return Cell(f"{figure.ratio:.2f}x" if figure else "")


def _amount(figure, value: float) -> str:
    return f"{value:,.0f} instr" if figure.source == "instructions" else time_text(value)


def _pair_cells(pair: Pair) -> list[Cell]:
    figure, own, key = pair.figure, pair.own, pair.key
    amounts = own or pair.counts  # a counted row has no times: its counts are its amounts
    if amounts:
        base, new = _amount(amounts, amounts.base_median_ns), _amount(amounts, amounts.new_median_ns)
    else:
        base, new = pair.base_status, pair.new_status
    counted = figure is not None and figure.source == "instructions"
    ci = f"{figure.ci_low:.2f}-{figure.ci_high:.2f}" if figure and not counted else ""
    p = "" if not figure or math.isnan(figure.p_value) or counted else f"{figure.p_value:.2g}"
    runs = f"{pair.base_runs}/{pair.new_runs}" if max(pair.base_runs, pair.new_runs) > 1 else ""
    return [Cell(key.case), Cell(key.label), Cell(str(key.threads)), Cell(base), Cell(new),
            _ratio(pair.counts or own), _ratio(pair.paired), Cell(ci), Cell(p),
            Cell(pair.gated_by + (f" {runs}" if runs else "")), Cell(pair.verdict)]


def _counted(what: str, backends: list[str]) -> str:
    """'52 unchanged (within the threshold): csimd 35, numpy 17' ('' when there are none)."""
    if not backends:
        return ""
    counts = ", ".join(f"{backend} {backends.count(backend)}" for backend in dict.fromkeys(backends))
    return f"{len(backends)} {what}: {counts}"


def _pair_table(title: str, pairs: tuple[Pair, ...], alpha: float, verbose: bool) -> Table:
    columns = [Column("case", "case name", False), Column("backend:variant", "backend and variant", False),
               Column("thr", "threads"), Column("base", "BASE's figure"), Column("new", "NEW's figure"),
               Column("own", "the row's own time (or count), new/base"),
               Column("vs base", "its ratio to the baseline backend paired round by round, new/base"),
               Column(f"{100 * (1 - alpha):g}% CI", "interval of the figure judged by"),
               Column("p", "p-value of its test"), Column("judged by", "the figure the verdict rests on", False),
               Column("verdict", "what became of the row", False)]
    listed = [p for p in pairs if verbose or p.verdict not in QUIET_VERDICTS]
    notes = [] if verbose else [_counted(f"{verdict} ({QUIET_MEANING[verdict]})",
                                         [p.key.backend for p in pairs if p.verdict == verdict])
                                for verdict in QUIET_VERDICTS]
    return Table(columns, [_pair_cells(p) for p in listed], title=title, notes=tuple(n for n in notes if n))


def _by_feature_keys(pairs: tuple[Pair, ...]) -> dict[tuple[str, str], tuple[Pair, ...]]:
    groups: dict[tuple[str, str], list[Pair]] = {}
    for pair in pairs:
        groups.setdefault((pair.base_feature_key, pair.new_feature_key), []).append(pair)
    return {keys: tuple(group) for keys, group in groups.items()}


def _geomean_tables(means: tuple[GeoMean, ...]) -> list[Table]:
    """One table per pair of feature keys, the keys in its title."""
    tables = []
    columns = [Column("backend", "backend, or backend:variant", False), Column("rows", "pairs timed on both sides"),
               Column("ratio", "geometric mean of new/base")]
    for keys in dict.fromkeys((m.base_feature_key, m.new_feature_key) for m in means):
        rows = [[Cell(m.group), Cell(str(m.pairs)), Cell(f"{m.ratio:.3f}x")] for m in means
                if (m.base_feature_key, m.new_feature_key) == keys]
        where = keys[0] if keys[0] == keys[1] else f"{keys[0]} -> {keys[1]}"
        tables.append(Table(columns, rows, title=f"geometric mean of new/base per backend (the figure each row was "
                                                 f"judged on), feature key {where}"))
    return tables


def _unmatched_tables(title: str, rows: tuple[Unmatched, ...], verbose: bool) -> list[Table]:
    """Per feature key: timed and failed rows listed, rows that did not run counted per backend."""
    tables = []
    columns = [Column("case", "case name", False), Column("backend:variant", "backend and variant", False),
               Column("thr", "threads"), Column("status", "its status", False)]
    for feature_key in dict.fromkeys(u.feature_key for u in rows):
        mine = [u for u in rows if u.feature_key == feature_key]
        listed = [u for u in mine if verbose or u.status not in NOT_RUN_STATUSES]
        notes = [] if verbose else [_counted(status, [u.key.backend for u in mine if u.status == status])
                                    for status in NOT_RUN_STATUSES]
        body = [[Cell(u.key.case), Cell(u.key.label), Cell(str(u.key.threads)), Cell(u.status)] for u in listed]
        tables.append(Table(columns, body, title=f"{title}, feature key {feature_key}",
                            notes=tuple(n for n in notes if n)))
    return tables


def tables(comparison: Comparison, verbose: bool = False) -> list[Table]:
    """Every table of a comparison, in the order they are shown."""
    found = [_pair_table(f"feature key {base_key}", pairs, comparison.alpha, verbose)
             for (base_key, _), pairs in _by_feature_keys(comparison.pairs).items()]
    found += [_pair_table(f"cross-machine, never gates: base {base_key} vs new {new_key}", pairs, comparison.alpha,
                         verbose)
              for (base_key, new_key), pairs in _by_feature_keys(comparison.cross_machine).items()]
    found += _geomean_tables(comparison.geomeans)
    found += _unmatched_tables("only in NEW (added)", comparison.added, verbose)
    found += _unmatched_tables("only in BASE (removed)", comparison.removed, verbose)
    return found


def _key_notes(comparison: Comparison) -> list[str]:
    """Simulated CPUs: said before anything else."""
    notes = [f"{key} is a simulated CPU (GEMMBENCH_CPU_FLAGS): a smaller machine's choice of variants timed on "
              f"another machine, never a machine's baseline" for key in comparison.simulated_keys]
    return notes


def conclusion(comparison: Comparison) -> list[str]:
    lines = []
    for side, dropped in (("base", comparison.base_duplicates), ("new", comparison.new_duplicates)):
        if dropped:
            lines.append(f"{side}: {dropped} older row(s) of the same case ignored; the newest run's row is compared")
    if not comparison.gated:
        lines.append(f"nothing gated: {comparison.nothing_gated()} (--require-gated makes that exit "
                     f"{NOTHING_GATED})")
    counts = ", ".join(f"{n} {verdict}" for verdict, n in comparison.counts().items())
    regressions = comparison.regressions
    if regressions:
        named = "; ".join(f"{p.key.case} {p.key.label} thr={p.key.threads} ({p.verdict})"
                          for p in regressions[:NAMED_REGRESSIONS])
        more = f"; and {len(regressions) - NAMED_REGRESSIONS} more (listed above)" \
            if len(regressions) > NAMED_REGRESSIONS else ""
        lines.append(f"{counts}. REGRESSION in {len(regressions)} row(s): {named}{more}")
    elif counts:
        lines.append(f"{counts}. No significant regression.")
    return lines


def mismatch_text(mismatch: SuiteMismatch) -> str:
    return (f"{mismatch.rows} row(s) differ only in the suite name (BASE {', '.join(mismatch.base_suites)}, "
            f"NEW {', '.join(mismatch.new_suites)}): add --ignore-suite to pair them across suite names")


def as_text(comparison: Comparison, base: str, new: str, as_markdown: bool = False, verbose: bool = False) -> str:
    """The comparison for a terminal, or as markdown for a CI job summary: the same tables either way."""
    layout = renderer.markdown if as_markdown else renderer.text
    rule = (f"a change counts when it passes {100 * comparison.threshold:g}% and its test agrees "
            f"(p < {comparison.alpha:g}); 'own' is the row's own time (new/base), 'vs base' its ratio to the "
            f"baseline backend paired round by round (new/base); the verdict rests on 'judged by': "
            f"instructions, paired, runs (across repeats), else one run's samples, which gate only past the "
            f"drift threshold" + ("" if verbose else "; -v lists unchanged and untimed pairs too"))
    out = [f"## gemmbench compare: {base} -> {new}" if as_markdown else f"compare {base} -> {new}", "", rule, ""]
    notes = _key_notes(comparison)
    out += [f"note: {note}" for note in notes] + ([""] if notes else [])
    for table in tables(comparison, verbose):
        out += [layout(table), ""]
    out += conclusion(comparison)
    return "\n".join(out)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _pair_json(pair: Pair) -> dict:
    return {**asdict(pair), "cross_machine": pair.cross_machine, "regressed": pair.regressed}


def as_json(comparison: Comparison, base: str, new: str) -> dict:
    return _finite({
        "base": str(base), "new": str(new), "threshold": comparison.threshold, "alpha": comparison.alpha,
        "exit_status": comparison.exit_status, "gated": len(comparison.gated), "counts": comparison.counts(),
        "regressions": len(comparison.regressions),
        "pairs": [_pair_json(p) for p in comparison.pairs],
        "cross_machine": [_pair_json(p) for p in comparison.cross_machine],
        "added": [asdict(u) for u in comparison.added], "removed": [asdict(u) for u in comparison.removed],
        "geomeans": [asdict(m) for m in comparison.geomeans],
        "ignored_duplicates": {"base": comparison.base_duplicates, "new": comparison.new_duplicates},
        "simulated_keys": list(comparison.simulated_keys),
    })
