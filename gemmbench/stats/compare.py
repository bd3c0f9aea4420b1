"""Comparing two sets of results: which rows got slower, faster, broke or were fixed.

On a shared machine a row's own time moves far more from run to run than its samples spread
within a run (docs/compare.md), so the verdict of a pair rests on the most trustworthy figure both sides have:

1. instructions per call (metric instructions): deterministic, judged by their ratio, and only
   where the compiler, numpy, BLAS and Python versions agree (else "dependencies changed");
2. the row's ratio to the baseline backend (numpy) measured in the same rounds of the same run
   (gemmbench.stats.paired): drift that moved both cancels; per-round ratios are compared, or, with
   several runs or repeats on each side, one paired median per run (Welch's t on logarithms); with
   one run a side the verdict also needs the row's own time to have moved the same way, since
   the baseline's worker process alone can be a few to 15% off in either run;
3. the row's own time across runs or repeats (two or more on each side), Welch's t on logarithms:
   the variance that actually separates runs;
4. the row's own time within a single run (Mann-Whitney U on the samples, as `asv compare`):
   blind to between-run drift, so it counts only past the drift threshold (default 0.5).

A change counts when its ratio passes the threshold and its test agrees (p < alpha). Each pair
also shows the row's own change beside its change against the baseline, so a regression of the
baseline itself is not hidden. Rows pair up only within one CPU feature key; rows that match on
everything but the feature key are a cross-machine comparison, shown for information only.

Keys of simulated CPUs are named as such.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from gemmbench.data.results import FAILED_STATUSES
from gemmbench.machine.featurekey import is_simulated
from gemmbench.stats import decide, paired

# What a row measured; two rows with equal keys (and feature keys) measured the same thing. `shape` is
# the op's own label of the problem's size, so a case redefined between two runs does not pair.
MATCH_COLUMNS = ("suite", "case", "backend", "variant", "dtype", "op", "shape", "threads")

GATING_VERDICTS = frozenset({"slower", "broke"})
VERDICT_ORDER = ("broke", "slower", "faster", "fixed", "failing", "dependencies changed", "insignificant", "unchanged",
                 "not timed")
UNGATED = ("not timed", "dependencies changed")  # verdicts of pairs that can never fail a comparison
NOTHING_GATED = 3  # exit status when a gate requires a judged pair and none was (compare --require-gated)
# Between-run drift of one row's own time on a shared VM (measured: docs/measurement.md); a row judged by its
# own time within a single run gates only past this, as no test inside one run can see that variance.
DRIFT_THRESHOLD = 0.5


@dataclass(frozen=True)
class RowKey:
    suite: str
    case: str
    backend: str
    variant: str
    dtype: str | None
    op: str | None
    shape: str | None
    threads: int | None

    @property
    def label(self) -> str:
        return f"{self.backend}:{self.variant}"


@dataclass(frozen=True)
class Figure:
    """One timing compared: the Python-call samples or the native-loop samples."""

    source: str  # "native" or "python"
    base_median_ns: float
    new_median_ns: float
    ratio: float  # new / base: above 1 is slower
    ci_low: float  # bootstrap confidence interval of the ratio, at level 1 - alpha
    ci_high: float
    p_value: float  # two-sided Mann-Whitney U; nan when there are too few samples to test
    base_samples: int
    new_samples: int


@dataclass(frozen=True)
class Pair:
    key: RowKey
    base_feature_key: str
    new_feature_key: str
    base_status: str
    new_status: str
    verdict: str  # one of VERDICT_ORDER
    python: Figure | None  # the newest instances' samples, within one run
    native: Figure | None
    runs: Figure | None = None  # the row's own time across runs or repeats (two or more on each side)
    paired: Figure | None = None  # its ratio to the baseline backend, paired by round within each run
    counts: Figure | None = None  # instructions per call (metric instructions)
    gated_by: str = ""  # the figure the verdict rests on: instructions, paired (runs), runs, native or python
    base_runs: int = 1
    new_runs: int = 1
    note: str = ""  # why a change does not gate (instruction counts taken with another compiler or library)

    @property
    def cross_machine(self) -> bool:
        return self.base_feature_key != self.new_feature_key

    @property
    def own(self) -> Figure | None:
        """The row's own change: across runs where there are several, else within the newest run."""
        return self.runs or self.native or self.python

    @property
    def figure(self) -> Figure | None:
        """The figure the verdict rests on."""
        return next((f for f in (self.counts, self.paired, self.runs, self.native, self.python)
                     if f is not None and f.source == self.gated_by), None)

    @property
    def regressed(self) -> bool:
        return not self.cross_machine and self.verdict in GATING_VERDICTS


@dataclass(frozen=True)
class GeoMean:
    """Geometric mean of the gating ratios of the timed pairs in one group."""

    base_feature_key: str
    new_feature_key: str
    group: str  # a backend, or backend:variant
    pairs: int
    ratio: float


@dataclass(frozen=True)
class Unmatched:
    key: RowKey
    feature_key: str
    status: str


@dataclass(frozen=True)
class Comparison:
    threshold: float
    alpha: float
    pairs: tuple[Pair, ...]  # same feature key: these gate
    cross_machine: tuple[Pair, ...]  # different feature keys: information only
    added: tuple[Unmatched, ...]  # only in NEW
    removed: tuple[Unmatched, ...]  # only in BASE
    geomeans: tuple[GeoMean, ...]
    base_duplicates: int  # older rows of the same key on one side, ignored for the newest
    new_duplicates: int

    @property
    def simulated_keys(self) -> tuple[str, ...]:
        """Feature keys of simulated CPUs among the compared rows."""
        keys = {k for pair in self.pairs + self.cross_machine for k in (pair.base_feature_key, pair.new_feature_key)}
        return tuple(sorted(k for k in keys if is_simulated(k)))

    @property
    def regressions(self) -> tuple[Pair, ...]:
        return tuple(p for p in self.pairs if p.regressed)

    @property
    def gated(self) -> tuple[Pair, ...]:
        """Pairs that were judged and could have failed the comparison: same feature key, timed on both sides,
        and not set aside for changed dependencies. None when BASE came from another CPU."""
        return tuple(p for p in self.pairs if p.verdict not in UNGATED)

    @property
    def exit_status(self) -> int:
        return 1 if self.regressions else 0

    def status(self, require_gated: bool) -> int:
        """The exit status; NOTHING_GATED when one is required and no pair was gated."""
        return NOTHING_GATED if require_gated and not self.gated else self.exit_status

    def nothing_gated(self) -> str:
        """Why no pair was gated, in a line ('' when some were)."""
        if self.gated:
            return ""
        if not self.pairs:
            keys = sorted({str(p.base_feature_key) for p in self.cross_machine})
            return (f"no row of BASE comes from NEW's CPU feature key (BASE: {', '.join(keys) or 'none'}); "
                    f"cross-machine pairs never gate")
        return "no pair was timed on both sides with the same dependencies"

    def counts(self) -> dict[str, int]:
        counts = {verdict: 0 for verdict in VERDICT_ORDER}
        for pair in self.pairs:
            counts[pair.verdict] += 1
        return {k: v for k, v in counts.items() if v}


def _clean(value):
    """None for missing values (NaN, pandas NA), plain Python numbers otherwise: keys must hash equal."""
    if value is None:
        return None
    try:
        if value != value:  # NaN, pd.NA raises TypeError in bool context
            return None
    except TypeError:
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


ANY_SUITE = "*"  # the suite of a key when rows are matched across suite names


def _row_key(row: dict, any_suite: bool = False) -> RowKey:
    key = RowKey(**{name: _clean(row.get(name)) for name in MATCH_COLUMNS})
    return dataclasses.replace(key, suite=ANY_SUITE) if any_suite else key


def _samples(value) -> np.ndarray:
    if value is None:
        return np.empty(0)
    array = np.asarray(value, dtype=float)
    return array[np.isfinite(array)]


def _compare_samples(base: np.ndarray, new: np.ndarray, alpha: float, source: str) -> Figure:
    from scipy.stats import mannwhitneyu

    base_median, new_median = float(np.median(base)), float(np.median(new))
    ci = paired.bootstrap_ratio_ci(base, new, level=1 - alpha)
    p_value = math.nan
    if base.size >= 2 and new.size >= 2:
        p_value = float(mannwhitneyu(new, base, alternative="two-sided").pvalue)
    return Figure(source, base_median, new_median, new_median / base_median, ci[0], ci[1], p_value,
                  int(base.size), int(new.size))


def _figure(base_row: dict, new_row: dict, column: str, source: str, alpha: float) -> Figure | None:
    base, new = _samples(base_row.get(column)), _samples(new_row.get(column))
    if base.size == 0 or new.size == 0 or np.median(base) <= 0:
        return None
    return _compare_samples(base, new, alpha, source)


def _compare_levels(base: np.ndarray, new: np.ndarray, alpha: float, source: str) -> Figure:
    """Run-level figures (one value per run or repeat): the ratio of geometric means, Welch's t-test on
    the logarithms and its interval; this is the variance that separates runs on a shared machine."""
    from scipy import stats

    logs_base, logs_new = np.log(base), np.log(new)
    difference = logs_new.mean() - logs_base.mean()
    test = stats.ttest_ind(logs_new, logs_base, equal_var=False)
    low, high = test.confidence_interval(1 - alpha) if hasattr(test, "confidence_interval") else (np.nan, np.nan)
    return Figure(source, float(np.exp(logs_base.mean())), float(np.exp(logs_new.mean())), float(np.exp(difference)),
                  float(np.exp(low)), float(np.exp(high)), float(test.pvalue), int(base.size), int(new.size))


def _compare_counts(base_row: dict, new_row: dict) -> Figure | None:
    """Instructions per call: deterministic, so the ratio is the change (no test, no interval)."""
    base, new = _clean(base_row.get("instructions")), _clean(new_row.get("instructions"))
    if not base or not new:
        return None
    ratio = new / base
    return Figure("instructions", float(base), float(new), ratio, ratio, ratio, 0.0, 1, 1)


# What instruction counts depend on besides gemmbench's own code: counts gate only where these agree.
COUNT_DEPENDENCIES = ("compiler", "numpy_version", "blas", "python_version")


def _changed_dependencies(base_row: dict, new_row: dict) -> tuple[str, ...]:
    return tuple(name for name in COUNT_DEPENDENCIES if _clean(base_row.get(name)) != _clean(new_row.get(name)))


def verdict(base_status: str, new_status: str, figure: Figure | None, threshold: float, alpha: float) -> str:
    """slower/faster only past the threshold with p < alpha; past it without, insignificant."""
    if base_status == "ok" and new_status in FAILED_STATUSES:
        return "broke"
    if base_status in FAILED_STATUSES:
        return "fixed" if new_status == "ok" else "failing"
    if base_status != "ok" or new_status != "ok" or figure is None:
        return "not timed"
    if 1 / (1 + threshold) <= figure.ratio <= 1 + threshold:
        return "unchanged"
    if not figure.p_value < alpha:  # nan (too few samples) is not significant either
        return "insignificant"
    return "slower" if figure.ratio > 1 else "faster"


@dataclass(frozen=True)
class Side:
    """One side's rows: per (key, feature key) the instances compared (a run's repeats, or several runs),
    and per (run, repeat, case, threads, feature key) the baseline backend's row the others pair with."""

    instances: dict[tuple[RowKey, str], list[dict]]
    baselines: dict[tuple, dict]
    dropped: int  # rows of older runs left out


def _best_ns(row: dict) -> float:
    return decide.time_of(row)[0]


def _where(row: dict) -> tuple:
    """The rounds and conditions a row was sampled in, on its machine: where its baseline row is."""
    return (*decide.baseline_key(row), str(row.get("feature_key") or ""))


def _read_side(frame, baseline: str, any_suite: bool = False, all_runs: bool = False) -> Side:
    """The rows of one side: the newest run of each key with all its repeats (every run with all_runs)."""
    grouped: dict[tuple[RowKey, str], list[dict]] = defaultdict(list)
    records = frame.to_dict("records")
    for row in records:
        grouped[(_row_key(row, any_suite), str(row.get("feature_key") or ""))].append(row)
    instances = {}
    for ident, rows in grouped.items():
        if not all_runs:
            newest = max(rows, key=_recency).get("run_id")
            rows = [r for r in rows if r.get("run_id") == newest]
        instances[ident] = sorted(rows, key=lambda r: (_recency(r), _clean(r.get("repeat")) or 0))
    by_machine: dict[str, list[dict]] = defaultdict(list)
    for row in records:
        by_machine[str(row.get("feature_key") or "")].append(row)
    baselines = {(*rounds, feature_key): row for feature_key, rows in by_machine.items()
                 for rounds, row in decide.baselines(rows, baseline).items()}
    return Side(instances, baselines, len(records) - sum(map(len, instances.values())))


def _paired_values(rows: list[dict], side: Side) -> list[tuple[dict, dict]]:
    """(row, its baseline row) for every instance that has a baseline row measured in its rounds."""
    return [(row, side.baselines[_where(row)]) for row in rows
            if row.get("status") == "ok" and _where(row) in side.baselines and side.baselines[_where(row)] is not row]


def _paired_figure(base_rows: list[dict], new_rows: list[dict], base: Side, new: Side, alpha: float) -> Figure | None:
    """The change of the row's ratio to its baseline backend, paired round by round within each run."""
    base_pairs, new_pairs = _paired_values(base_rows, base), _paired_values(new_rows, new)
    if not base_pairs or not new_pairs:
        return None
    if len(base_pairs) >= 2 and len(new_pairs) >= 2:  # run-level: one paired median per run
        base_medians = [paired.paired_ratio(r, b) for r, b in base_pairs]
        new_medians = [paired.paired_ratio(r, b) for r, b in new_pairs]
        if None not in base_medians and None not in new_medians:
            return _compare_levels(np.array([m.ratio for m in base_medians]), np.array([m.ratio for m in new_medians]),
                                  alpha, "paired runs")
    base_ratios, new_ratios = paired.round_ratios(*base_pairs[-1]), paired.round_ratios(*new_pairs[-1])
    if base_ratios.size < 2 or new_ratios.size < 2:
        return None
    return _compare_samples(base_ratios, new_ratios, alpha, "paired")


def _runs_figure(base_rows: list[dict], new_rows: list[dict], alpha: float) -> Figure | None:
    """The row's own time across runs (or repeats): only with at least two on each side."""
    base = np.array([_best_ns(r) for r in base_rows if r.get("status") == "ok"])
    new = np.array([_best_ns(r) for r in new_rows if r.get("status") == "ok"])
    base, new = base[np.isfinite(base) & (base > 0)], new[np.isfinite(new) & (new > 0)]
    if base.size < 2 or new.size < 2:
        return None
    return _compare_levels(base, new, alpha, "runs")


def _compare_rows(base_rows: list[dict] | dict, new_rows: list[dict] | dict, threshold: float, alpha: float,
                 any_suite: bool = False, base: Side | None = None, new: Side | None = None,
                 drift: float = DRIFT_THRESHOLD) -> Pair:
    """Judge one row compared across the two sides, each given as its instances (a run's repeats)."""
    base_rows = base_rows if isinstance(base_rows, list) else [base_rows]
    new_rows = new_rows if isinstance(new_rows, list) else [new_rows]
    base_row, new_row = base_rows[-1], new_rows[-1]  # the newest instance: statuses and within-run figures
    base_status, new_status = str(base_row.get("status")), str(new_row.get("status"))
    both_ok = base_status == "ok" and new_status == "ok"
    python = _figure(base_row, new_row, "samples_ns", "python", alpha) if both_ok else None
    native = _figure(base_row, new_row, "native_samples_ns", "native", alpha) if both_ok else None
    counts = _compare_counts(base_row, new_row) if both_ok else None
    relative = _paired_figure(base_rows, new_rows, base, new, alpha) if both_ok and base and new else None
    runs = _runs_figure(base_rows, new_rows, alpha) if both_ok else None
    gating, limit, note = _gating(counts, relative, runs, native or python, threshold, drift,
                                  _changed_dependencies(base_row, new_row) if counts else ())
    judged = verdict(base_status, new_status, gating, limit, alpha)
    if note and judged in ("slower", "faster"):
        judged = "dependencies changed"
    elif gating is relative and len(base_rows) == len(new_rows) == 1 and judged in ("slower", "faster"):
        judged = _own_time_agrees(judged, native or python, threshold)
    return Pair(_row_key(base_row, any_suite), str(base_row.get("feature_key") or ""),
                str(new_row.get("feature_key") or ""), base_status, new_status, judged, python, native,
                runs, relative, counts, gating.source if gating else "", len(base_rows), len(new_rows),
                note if judged == "dependencies changed" else "")


def _own_time_agrees(judged: str, own: Figure | None, threshold: float) -> str:
    """A ratio paired within single runs moves when the baseline's worker alone was faster or slower in
    one of them (each process differs by a few to 15% on a shared VM: docs/compare.md), and the row's
    own time moves with drift alone; a real change moves both. So with one run on each side the
    paired verdict stands only when the row's own time passed the threshold the same way."""
    if own is None:
        return judged
    same_way = own.ratio > 1 + threshold if judged == "slower" else own.ratio < 1 / (1 + threshold)
    return judged if same_way else "insignificant"


def _gating(counts, relative, runs, within, threshold: float, drift: float, changed: tuple[str, ...]):
    """(figure, threshold, note): instruction counts where both sides counted (a note instead of a verdict
    when the compiler or libraries changed); else the ratio to the baseline paired by round; else the
    time across runs; else the time within one run, which can see only its own spread: it gates at the
    larger drift threshold."""
    if counts is not None:
        return counts, threshold, f"the counts were taken with another {', '.join(changed)}" if changed else ""
    if relative is not None:
        return relative, threshold, ""
    if runs is not None:
        return runs, threshold, ""
    return within, max(threshold, drift), ""


def _recency(row: dict) -> tuple:
    stamp = row.get("timestamp")
    return (0, "") if _clean(stamp) is None else (1, str(stamp), str(row.get("run_id")))


def _geometric_means(pairs: tuple[Pair, ...]) -> tuple[GeoMean, ...]:
    """Per feature-key pair, per backend and per backend:variant (when a backend has several)."""
    groups: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    variants: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for pair in pairs:
        figure = pair.figure  # only pairs timed on both sides have one
        if figure is None:
            continue
        keys = (pair.base_feature_key, pair.new_feature_key)
        groups[(*keys, pair.key.backend)].append(figure.ratio)
        groups[(*keys, pair.key.label)].append(figure.ratio)
        variants[(*keys, pair.key.backend)].add(pair.key.variant)
    means = []
    for (base_key, new_key, group), ratios in sorted(groups.items()):
        backend = group.split(":")[0]
        if ":" in group and len(variants[(base_key, new_key, backend)]) < 2:
            continue
        means.append(GeoMean(base_key, new_key, group, len(ratios), float(np.exp(np.mean(np.log(ratios))))))
    return tuple(means)


def _order(pair: Pair) -> tuple:
    figure = pair.figure
    return (VERDICT_ORDER.index(pair.verdict), -(figure.ratio if figure else 0.0))


def _cross_machine(base_rows: dict, new_rows: dict) -> list[tuple[tuple, tuple]]:
    """(base, new) idents matching on everything but the feature key, unless both are paired already."""
    base_by_key: dict[RowKey, list[tuple]] = defaultdict(list)
    for ident in base_rows:
        base_by_key[ident[0]].append(ident)
    return [(b, n) for n in new_rows for b in base_by_key.get(n[0], [])
            if b[1] != n[1] and not (b in new_rows and n in base_rows)]


def _unmatched(rows: dict, used: set) -> tuple[Unmatched, ...]:
    return tuple(Unmatched(key, feature, str(instances[-1].get("status")))
                 for (key, feature), instances in rows.items() if (key, feature) not in used)


ANY_MACHINE = "any machine"  # the feature key of every row when rows pair across machines


def compare_frames(base, new, threshold: float = 0.05, alpha: float = 0.01, any_suite: bool = False,
                   baseline: str = decide.DEFAULT_BASELINE, all_runs: bool = False, drift: float = DRIFT_THRESHOLD,
                   any_machine: bool = False) -> Comparison:
    """Pair the rows of two results frames (pandas, as load_results returns) and judge each pair.

    any_suite: pair rows whatever suite they came from (a user's own suite against the shipped run).
    baseline: the backend (or backend:variant) rows are paired with round by round within each run.
    all_runs: every run on a side is an instance (default: the newest run of each row, all its repeats).
    any_machine: pair (and gate) rows whatever CPU they ran on: for instruction counts, which valgrind
    takes the same way on any x86-64 host with the same code and versions."""
    if any_machine:
        base, new = base.assign(feature_key=ANY_MACHINE), new.assign(feature_key=ANY_MACHINE)
    base_side, new_side = _read_side(base, baseline, any_suite, all_runs), _read_side(new, baseline, any_suite, all_runs)
    base_rows, new_rows = base_side.instances, new_side.instances

    def judge(b, n) -> Pair:
        return _compare_rows(base_rows[b], new_rows[n], threshold, alpha, any_suite, base_side, new_side, drift)

    same = [ident for ident in new_rows if ident in base_rows]
    pairs = [judge(i, i) for i in same]
    crossed = _cross_machine(base_rows, new_rows)
    cross = [judge(b, n) for b, n in crossed]
    used_base = set(same) | {b for b, _ in crossed}
    used_new = set(same) | {n for _, n in crossed}
    return Comparison(threshold, alpha, tuple(sorted(pairs, key=_order)), tuple(sorted(cross, key=_order)),
                      _unmatched(new_rows, used_new), _unmatched(base_rows, used_base),
                      _geometric_means(tuple(pairs) + tuple(cross)), base_side.dropped, new_side.dropped)


@dataclass(frozen=True)
class SuiteMismatch:
    """NEW rows that have no partner in BASE but would have one if suite names were not compared."""

    rows: int
    base_suites: tuple[str, ...]
    new_suites: tuple[str, ...]


def suite_mismatch(comparison: Comparison) -> SuiteMismatch | None:
    """Whether rows left unpaired differ from a partner only by suite name (None when none do)."""
    removed = {dataclasses.replace(u.key, suite=ANY_SUITE): u.key.suite for u in comparison.removed}
    matching = [u for u in comparison.added if dataclasses.replace(u.key, suite=ANY_SUITE) in removed]
    if not matching:
        return None
    base_suites = sorted({removed[dataclasses.replace(u.key, suite=ANY_SUITE)] for u in matching})
    return SuiteMismatch(len(matching), tuple(base_suites), tuple(sorted({u.key.suite for u in matching})))
