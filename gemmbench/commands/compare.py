"""gemmbench compare BASE NEW: which rows got slower, faster, broke or were fixed; exit 1 on a regression."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass, field

from typing import TYPE_CHECKING

from gemmbench.errors import UsageError
from gemmbench.report.textable import duration, markdown, render

if TYPE_CHECKING:  # scipy, pandas and pyarrow load when a comparison runs, not when the CLI starts
    from gemmbench.stats.compare import Comparison, GeoMean, Pair, Unmatched

NAME = "compare"
HELP = "compare two result sets (files or directories); exit 1 when a row regressed significantly"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="baseline results: a parquet file or a directory of them")
    parser.add_argument("new", help="new results: a parquet file or a directory of them")
    parser.add_argument("--threshold", type=float, default=0.05,
                        help="smallest change of the median that counts, as a fraction (default: 0.05)")
    parser.add_argument("--alpha", type=float, default=0.01,
                        help="significance level of the Mann-Whitney U test (default: 0.01)")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                        help="text for a terminal, markdown for a CI job summary, json for machines")
    parser.add_argument("--baseline", default="numpy", metavar="BACKEND[:VARIANT]",
                        help="the backend each row is paired with round by round within its run (default: numpy)")
    parser.add_argument("--drift-threshold", type=float, default=None, metavar="FRACTION",
                        help="the change a row's own time must pass when it is judged within one run only (no "
                             "pairing, no repeats): between-run drift hides below it (default: 0.5)")
    parser.add_argument("--all-runs", action="store_true",
                        help="use every run given on a side as a run-level sample (default: each row's newest "
                             "run, all its repeats)")
    parser.add_argument("--any-machine", action="store_true",
                        help="pair and gate rows whatever CPU feature key they have: for instruction counts "
                             "(run --metric instructions), the same on any x86-64 host with the same versions")
    parser.add_argument("--ignore-suite", action="store_true",
                        help="pair rows whatever suite they came from (your own suite against a shipped run)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="list every pair, unchanged and not timed ones too, and every unpaired row")


@dataclass(frozen=True)
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]]
    right: set[int]
    notes: list[str] = field(default_factory=list)  # lines under the table: what it does not list


def run(args: argparse.Namespace) -> int:
    if not args.threshold >= 0:
        raise UsageError(f"--threshold: expected a fraction >= 0 such as 0.05; got {args.threshold}")
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha: expected a probability between 0 and 1 such as 0.01; got {args.alpha}")
    from gemmbench.stats.compare import compare_frames, suite_mismatch
    from gemmbench.data.results import load_results

    from gemmbench.stats.compare import DRIFT_THRESHOLD

    drift = DRIFT_THRESHOLD if args.drift_threshold is None else args.drift_threshold
    comparison = compare_frames(load_results(args.base), load_results(args.new), args.threshold, args.alpha,
                                args.ignore_suite, args.baseline, args.all_runs, drift, args.any_machine)
    mismatch = None if args.ignore_suite else suite_mismatch(comparison)
    if not comparison.pairs and not comparison.cross_machine:
        hint = f"; {mismatch_text(mismatch)}" if mismatch else ""
        raise UsageError(f"{args.base} and {args.new}: no row matches on suite, case, backend, variant, dtype, "
                         f"shape, sparsity and threads; nothing to compare{hint}")
    if args.format == "json":
        print(json.dumps(as_json(comparison, args.base, args.new), indent=2))
    else:
        text = as_text(comparison, args.base, args.new, as_markdown=args.format == "markdown", verbose=args.verbose)
        print(text + (f"\n{mismatch_text(mismatch)}" if mismatch else ""))
    return comparison.exit_status


def mismatch_text(mismatch) -> str:
    return (f"{mismatch.rows} row(s) differ only in the suite name (BASE {', '.join(mismatch.base_suites)}, "
            f"NEW {', '.join(mismatch.new_suites)}): add --ignore-suite to pair them across suite names")


def _ratio(figure) -> str:
    return f"{figure.ratio:.2f}x" if figure else ""


def _pair_row(pair: Pair) -> list[str]:
    figure, own, key = pair.figure, pair.own, pair.key
    amounts = own or pair.counts  # a counted row has no times: its counts are its amounts
    if amounts:
        base, new = _amount(amounts, amounts.base_median_ns), _amount(amounts, amounts.new_median_ns)
    else:
        base, new = pair.base_status, pair.new_status
    ci = f"{figure.ci_low:.2f}-{figure.ci_high:.2f}" if figure and figure.source != "instructions" else ""
    p = "" if not figure or math.isnan(figure.p_value) or figure.source == "instructions" else f"{figure.p_value:.2g}"
    runs = f"{pair.base_runs}/{pair.new_runs}" if max(pair.base_runs, pair.new_runs) > 1 else ""
    return [key.case, key.label, str(key.threads), base, new, _ratio(pair.counts or own), _ratio(pair.paired),
            ci, p, pair.gated_by + (f" {runs}" if runs else ""), pair.verdict]


def _amount(figure, value: float) -> str:
    return f"{value:,.0f} instr" if figure.source == "instructions" else duration(value)


# Listed one per line only with --verbose; otherwise counted per backend under the table.
QUIET_VERDICTS = ("unchanged", "not timed")
QUIET_MEANING = {"unchanged": "within the threshold", "not timed": "skipped or unavailable on a side"}


def _pair_section(title: str, pairs: tuple[Pair, ...], alpha: float, verbose: bool) -> Section:
    headers = ["case", "backend:variant", "thr", "base", "new", "own", "vs base", f"{100 * (1 - alpha):g}% CI", "p",
               "judged by", "verdict"]
    listed = [p for p in pairs if verbose or p.verdict not in QUIET_VERDICTS]
    notes = [] if verbose else [_counted(f"{verdict} ({QUIET_MEANING[verdict]})",
                                         [p.key.backend for p in pairs if p.verdict == verdict])
                                for verdict in QUIET_VERDICTS]
    return Section(title, headers, [_pair_row(p) for p in listed], {2, 3, 4, 5, 6, 7, 8}, [n for n in notes if n])


def _counted(what: str, backends: list[str]) -> str:
    """'52 unchanged (within the threshold): csimd 35, numpy 17' ('' when there are none)."""
    if not backends:
        return ""
    counts = ", ".join(f"{backend} {backends.count(backend)}" for backend in dict.fromkeys(backends))
    return f"{len(backends)} {what}: {counts}"


def _by_feature_keys(pairs: tuple[Pair, ...]) -> dict[tuple[str, str], tuple[Pair, ...]]:
    groups: dict[tuple[str, str], list[Pair]] = {}
    for pair in pairs:
        groups.setdefault((pair.base_feature_key, pair.new_feature_key), []).append(pair)
    return {keys: tuple(group) for keys, group in groups.items()}


def _geomean_sections(means: tuple[GeoMean, ...]) -> list[Section]:
    """One table per pair of feature keys, the keys in its title."""
    sections = []
    for keys in dict.fromkeys((m.base_feature_key, m.new_feature_key) for m in means):
        rows = [[m.group, str(m.pairs), f"{m.ratio:.3f}x"] for m in means
                if (m.base_feature_key, m.new_feature_key) == keys]
        where = keys[0] if keys[0] == keys[1] else f"{keys[0]} -> {keys[1]}"
        sections.append(Section(f"geometric mean of new/base per backend (the figure each row was judged on), "
                                f"feature key {where}", ["backend", "rows", "ratio"], rows, {1, 2}))
    return sections


def _unmatched_sections(title: str, rows: tuple[Unmatched, ...], verbose: bool) -> list[Section]:
    """Per feature key: timed and failed rows listed, rows that did not run counted per backend."""
    sections = []
    for feature_key in dict.fromkeys(u.feature_key for u in rows):
        mine = [u for u in rows if u.feature_key == feature_key]
        listed = [u for u in mine if verbose or u.status not in NOT_RUN]
        notes = [] if verbose else [_counted(status, [u.key.backend for u in mine if u.status == status])
                                    for status in NOT_RUN]
        body = [[u.key.case, u.key.label, str(u.key.threads), u.status] for u in listed]
        sections.append(Section(f"{title}, feature key {feature_key}", ["case", "backend:variant", "thr", "status"],
                                body, {2}, [n for n in notes if n]))
    return sections


NOT_RUN = ("skipped", "unavailable")


def sections(comparison: Comparison, verbose: bool = False) -> list[Section]:
    found = []
    for (base_key, _), pairs in _by_feature_keys(comparison.pairs).items():
        found.append(_pair_section(f"feature key {base_key}", pairs, comparison.alpha, verbose))
    for (base_key, new_key), pairs in _by_feature_keys(comparison.cross_machine).items():
        found.append(_pair_section(f"cross-machine, never gates: base {base_key} vs new {new_key}",
                                   pairs, comparison.alpha, verbose))
    found += _geomean_sections(comparison.geomeans)
    found += _unmatched_sections("only in NEW (added)", comparison.added, verbose)
    found += _unmatched_sections("only in BASE (removed)", comparison.removed, verbose)
    return found


NAMED_REGRESSIONS = 5  # regressions the last line names; the table above lists them all


def key_notes(comparison: Comparison) -> list[str]:
    """Simulated CPUs: said before anything else."""
    notes = [f"{key} is a simulated CPU (GEMMBENCH_CPU_FLAGS): a smaller machine's choice of variants timed on "
              f"another machine, never a machine's baseline" for key in comparison.simulated_keys]
    return notes


def conclusion(comparison: Comparison) -> list[str]:
    lines = []
    for side, dropped in (("base", comparison.base_duplicates), ("new", comparison.new_duplicates)):
        if dropped:
            lines.append(f"{side}: {dropped} older row(s) of the same case ignored; the newest run's row is compared")
    if not comparison.pairs:
        lines.append("no rows from the same CPU feature key: cross-machine comparison only, nothing gated")
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


def as_text(comparison: Comparison, base: str, new: str, as_markdown: bool = False, verbose: bool = False) -> str:
    table = markdown if as_markdown else render
    rule = (f"a change counts when it passes {100 * comparison.threshold:g}% and its test agrees "
            f"(p < {comparison.alpha:g}); 'own' is the row's own time (new/base), 'vs base' its ratio to the "
            f"baseline backend paired round by round (new/base); the verdict rests on 'judged by': "
            f"instructions, paired, runs (across repeats), else one run's samples, which gate only past the "
            f"drift threshold" + ("" if verbose else "; -v lists unchanged and untimed pairs too"))
    out = [f"## gemmbench compare: {base} -> {new}" if as_markdown else f"compare {base} -> {new}", "", rule, ""]
    out += [f"note: {note}" for note in key_notes(comparison)] + ([""] if key_notes(comparison) else [])
    for section in sections(comparison, verbose):
        out += [f"### {section.title}" if as_markdown else f"{section.title}:", ""]
        if section.rows:
            out += [table(section.headers, section.rows, right=section.right), ""]
        if section.notes:
            out += [*section.notes, ""]
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
        "exit_status": comparison.exit_status, "counts": comparison.counts(),
        "regressions": len(comparison.regressions),
        "pairs": [_pair_json(p) for p in comparison.pairs],
        "cross_machine": [_pair_json(p) for p in comparison.cross_machine],
        "added": [asdict(u) for u in comparison.added], "removed": [asdict(u) for u in comparison.removed],
        "geomeans": [asdict(m) for m in comparison.geomeans],
        "ignored_duplicates": {"base": comparison.base_duplicates, "new": comparison.new_duplicates},
        "simulated_keys": list(comparison.simulated_keys),
    })
