"""gemmbench compare BASE NEW: which rows got slower, faster, broke or were fixed; exit 1 on a regression."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass

from typing import TYPE_CHECKING

from gemmbench.errors import UsageError
from gemmbench.textable import duration, markdown, render

if TYPE_CHECKING:  # scipy, pandas and pyarrow load when a comparison runs, not when the CLI starts
    from gemmbench.compare import Comparison, GeoMean, Pair, Unmatched

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


@dataclass(frozen=True)
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]]
    right: set[int]


def run(args: argparse.Namespace) -> int:
    if not args.threshold >= 0:
        raise UsageError(f"--threshold: expected a fraction >= 0 such as 0.05; got {args.threshold}")
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha: expected a probability between 0 and 1 such as 0.01; got {args.alpha}")
    from gemmbench.compare import compare_frames
    from gemmbench.results import load_results

    comparison = compare_frames(load_results(args.base), load_results(args.new), args.threshold, args.alpha)
    if not comparison.pairs and not comparison.cross_machine:
        raise UsageError(f"{args.base} and {args.new}: no row matches on suite, case, backend, variant, dtype, "
                         f"shape, sparsity and threads; nothing to compare")
    if args.format == "json":
        print(json.dumps(as_json(comparison, args.base, args.new), indent=2))
    else:
        print(as_text(comparison, args.base, args.new, as_markdown=args.format == "markdown"))
    return comparison.exit_status


def _ratio(figure) -> str:
    return f"{figure.ratio:.2f}x" if figure else ""


def _pair_row(pair: Pair) -> list[str]:
    figure = pair.figure
    key = pair.key
    if figure:
        base, new = duration(figure.base_median_ns), duration(figure.new_median_ns)
        ci = f"{figure.ci_low:.2f}-{figure.ci_high:.2f}"
        p = "" if math.isnan(figure.p_value) else f"{figure.p_value:.2g}"
    else:
        base, new, ci, p = pair.base_status, pair.new_status, "", ""
    return [key.case, key.label, str(key.threads), base, new, _ratio(figure), ci, p, pair.gated_by, pair.verdict]


def _pair_section(title: str, pairs: tuple[Pair, ...], alpha: float) -> Section:
    headers = ["case", "backend:variant", "thr", "base", "new", "ratio", f"{100 * (1 - alpha):g}% CI", "p",
               "figure", "verdict"]
    return Section(title, headers, [_pair_row(p) for p in pairs], {2, 3, 4, 5, 6, 7})


def _by_feature_keys(pairs: tuple[Pair, ...]) -> dict[tuple[str, str], tuple[Pair, ...]]:
    groups: dict[tuple[str, str], list[Pair]] = {}
    for pair in pairs:
        groups.setdefault((pair.base_feature_key, pair.new_feature_key), []).append(pair)
    return {keys: tuple(group) for keys, group in groups.items()}


def _geomean_section(means: tuple[GeoMean, ...]) -> Section:
    rows = [[m.base_feature_key if m.base_feature_key == m.new_feature_key
             else f"{m.base_feature_key} -> {m.new_feature_key}", m.group, str(m.pairs), f"{m.ratio:.3f}x"]
            for m in means]
    return Section("geometric mean of new/base per backend (the figure each row was judged on)",
                   ["feature key", "backend", "rows", "ratio"], rows, {2, 3})


def _unmatched_section(title: str, rows: tuple[Unmatched, ...]) -> Section:
    body = [[u.key.case, u.key.label, str(u.key.threads), u.status, u.feature_key] for u in rows]
    return Section(title, ["case", "backend:variant", "thr", "status", "feature key"], body, {2})


def sections(comparison: Comparison) -> list[Section]:
    found = []
    for (base_key, _), pairs in _by_feature_keys(comparison.pairs).items():
        found.append(_pair_section(f"feature key {base_key}", pairs, comparison.alpha))
    for (base_key, new_key), pairs in _by_feature_keys(comparison.cross_machine).items():
        found.append(_pair_section(f"cross-machine, never gates: base {base_key} vs new {new_key}",
                                   pairs, comparison.alpha))
    if comparison.geomeans:
        found.append(_geomean_section(comparison.geomeans))
    if comparison.added:
        found.append(_unmatched_section("only in NEW (added)", comparison.added))
    if comparison.removed:
        found.append(_unmatched_section("only in BASE (removed)", comparison.removed))
    return found


def key_notes(comparison: Comparison) -> list[str]:
    """Feature keys read across formats, and simulated CPUs: said before anything else."""
    notes = [match.describe() for match in comparison.key_matches]
    notes += [f"{key} is a simulated CPU (GEMMBENCH_CPU_FLAGS): a smaller machine's choice of variants timed on "
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
        named = "; ".join(f"{p.key.case} {p.key.label} thr={p.key.threads} ({p.verdict})" for p in regressions)
        lines.append(f"{counts}. REGRESSION in {len(regressions)} row(s): {named}")
    elif counts:
        lines.append(f"{counts}. No significant regression.")
    return lines


def as_text(comparison: Comparison, base: str, new: str, as_markdown: bool = False) -> str:
    table = markdown if as_markdown else render
    rule = (f"a change counts when the median moves by more than {100 * comparison.threshold:g}% and a "
            f"Mann-Whitney U test on the raw samples agrees (p < {comparison.alpha:g})")
    out = [f"## gemmbench compare: {base} -> {new}" if as_markdown else f"compare {base} -> {new}", "", rule, ""]
    out += [f"note: {note}" for note in key_notes(comparison)] + ([""] if key_notes(comparison) else [])
    for section in sections(comparison):
        out += [f"### {section.title}" if as_markdown else f"{section.title}:", "",
                table(section.headers, section.rows, right=section.right), ""]
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
    return {**asdict(pair), "cross_machine": pair.cross_machine, "gated_by": pair.gated_by,
            "regressed": pair.regressed}


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
        "key_matches": [asdict(m) for m in comparison.key_matches], "simulated_keys": list(comparison.simulated_keys),
    })
