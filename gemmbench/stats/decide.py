"""What "best" means, defined once for the whole project, and the decision table built on it.

The best row of a case, for one precision, is the timed row with the lowest *time*: the
median time per call measured inside native code where the backend has a native loop,
else the median of the Python calls. A vocoder built on these kernels calls them from native
code, so a Python call's overhead (1-2 µs) is not part of what it pays; a backend without a
native loop cannot shed it, so its Python-call time is its time. Both figures are always shown.

Rows of reference-only variants (`Variant(reference_only=True)`, such as the nine int8 schemes
of int8-numpy, there to check the C kernels bit for bit) are never a choice: they are counted,
and shown on request.

The speed-up of a row is the baseline's time over the row's time, each by the same figure;
its interval comes from `speedup()`, the one place the project computes one.

A decision holds for one set of conditions (`Conditions`: the cache state the calls found and
the pages the data sat on): rows measured under others are left out, and the table's heading
says which it shows. By default that is hot cache on huge pages where such rows exist.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from gemmbench.report import DEFAULT_BASELINE
from gemmbench.report.textable import duration

INTERVAL_LEVEL = 0.95
# Widest arithmetic first; a precision not listed sorts after these.
PRECISION_ORDER = ("float64", "float32", "bf16", "bfloat16", "float16", "fp16", "int8")


def _finite(value) -> bool:
    return value is not None and not pd.isna(value) and math.isfinite(float(value))


def precision_of(row: Mapping) -> str:
    """The arithmetic the correctness gate judged: the precision column, else the case dtype."""
    precision = row.get("precision")
    return precision if isinstance(precision, str) and precision else str(row.get("dtype") or "")


def time_of(row: Mapping) -> tuple[float, str]:
    """(ns per call, 'native' or 'python'): the figure "best" ranks by."""
    native = row.get("native_median_ns")
    if _finite(native) and native > 0:
        return float(native), "native"
    median = row.get("median_ns")
    return (float(median), "python") if _finite(median) else (math.nan, "")


def samples_of(row: Mapping, source: str) -> np.ndarray:
    values = row.get("native_samples_ns" if source == "native" else "samples_ns")
    if values is None:
        return np.empty(0)
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array) & (array > 0)]


def snr_of(row: Mapping) -> float:
    """SNR against the float64 reference in dB: snr_db, else from rel_err; inf when exact."""
    snr = row.get("snr_db")
    if snr is not None and not pd.isna(snr):
        return float(snr)
    rel = row.get("rel_err")
    if rel is None or pd.isna(rel):
        return math.nan
    return math.inf if rel == 0 else -20 * math.log10(rel)


@dataclass(frozen=True)
class Interval:
    """A speed-up (baseline time ÷ row time) with the interval it is known to at `level`."""

    ratio: float
    low: float
    high: float
    level: float = INTERVAL_LEVEL

    def text(self) -> str:
        if not math.isfinite(self.low) or not math.isfinite(self.high):
            return f"{_ratio_text(self.ratio)}×"
        return f"{_ratio_text(self.ratio)}× ({_ratio_text(self.low)}–{_ratio_text(self.high)})"


def _ratio_text(value: float) -> str:
    return f"{value:.3g}"


def speedup(row: Mapping, baseline: Mapping, level: float = INTERVAL_LEVEL) -> Interval | None:
    """How many times faster `row` is than `baseline`, each by its time (native where measured).

    Rows measured in the same rounds (one run, one repeat: every row of a case is) are paired
    round by round: the speed-up is the median of the per-round ratios, its interval a bootstrap
    over the rounds (gemmbench.stats.paired), so drift that moved both rows cancels. Rows without
    rounds (files of older versions) fall back to the ratio of medians, each side resampled.
    The one place a speed-up's interval is computed: the report, `run` and the docs all get it here.
    """
    from gemmbench.stats import paired
    from gemmbench.stats.compare import bootstrap_ratio_ci

    row_ns, row_source = time_of(row)
    base_ns, base_source = time_of(baseline)
    if not (row_ns > 0 and base_ns > 0):
        return None
    pair = paired.paired_ratio(row, baseline, level) if _same_rounds(row, baseline) else None
    if pair is not None and pair.rounds >= 2:
        return Interval(1 / pair.ratio, 1 / pair.high, 1 / pair.low, level)
    ratio = base_ns / row_ns
    mine, theirs = samples_of(row, row_source), samples_of(baseline, base_source)
    if mine.size < 2 or theirs.size < 2:
        return Interval(ratio, math.nan, math.nan, level)
    low, high = bootstrap_ratio_ci(theirs, mine, level)  # row / baseline: its inverse is the speed-up
    return Interval(ratio, 1 / high, 1 / low, level)


def _same_rounds(row: Mapping, baseline: Mapping) -> bool:
    """Whether the two rows' rounds are the same rounds: the same run, repeat and case."""
    return all(row.get(key) == baseline.get(key) for key in ("run_id", "case")) and \
        (row.get("repeat") or 0) == (baseline.get("repeat") or 0)


PAGE_WORDS = {"huge": "2 MiB pages", "normal": "4 KiB pages (as malloc gives)"}
CACHE_WORDS = {"hot": "hot cache (calls back to back)", "between": "other layers' data read between calls",
               "cold": "cold cache (weights pushed out before each call)"}


@dataclass(frozen=True)
class Conditions:
    """What a row's calls ran under: the cache state they found and the pages their data sat on."""

    cache: str = "hot"
    pages: str = "huge"

    def text(self) -> str:
        return f"{CACHE_WORDS.get(self.cache, self.cache)}, {PAGE_WORDS.get(self.pages, self.pages)}"


def conditions_of(row: Mapping) -> Conditions:
    """A row's conditions; rows of files older than the columns ran hot, on huge pages where they could."""
    cache, pages = row.get("cache"), row.get("pages")
    return Conditions(cache if isinstance(cache, str) and cache else "hot",
                      pages if isinstance(pages, str) and pages else "huge")


def default_conditions(present: Iterable[Conditions]) -> Conditions | None:
    """Hot cache on huge pages where measured, else hot on any pages, else the first present."""
    found = list(dict.fromkeys(present))
    for wanted in (Conditions(), Conditions("hot", "normal")):
        if wanted in found:
            return wanted
    return found[0] if found else None


@dataclass(frozen=True)
class Choice:
    """The best timed row of one case, thread count, run and precision."""

    case: str
    threads: int | None
    run_id: str
    precision: str
    backend: str
    variant: str
    detail: str
    time_ns: float  # the figure it won by
    figure: str  # 'native' or 'python'
    native_ns: float  # nan when the backend has no native loop
    python_ns: float
    rtf: float  # real-time factor of `time_ns` for vocoder steps, else nan
    snr_db: float
    rel_err: float
    speedup: Interval | None  # over the baseline; None when the baseline has no timed row here
    is_baseline: bool
    fastest: bool  # the fastest choice of its case, thread count and run, any precision
    candidates: int  # timed rows of this precision it was chosen from
    from_python: str = ""  # on a case's first line: the fastest row called from Python, where that is another

    @property
    def series(self) -> str:
        return f"{self.backend}:{self.variant}"


@dataclass(frozen=True)
class Decision:
    baseline: str
    choices: tuple[Choice, ...]
    folded: tuple[tuple[str, int], ...]  # backends with reference-only variants, and their timed rows left out
    untimed: tuple[str, ...]  # cases with no timed row to choose from
    conditions: Conditions | None = None  # what its rows ran under (None: no timed row at all)
    others: tuple[Conditions, ...] = ()  # conditions other rows ran under, left out of this decision

    def heading(self) -> str:
        """What the numbers hold for, and what else was measured: for the table's heading."""
        if self.conditions is None:
            return ""
        text = f"for {self.conditions.text()}"
        caches = [c for c in dict.fromkeys(o.cache for o in self.others) if c != self.conditions.cache]
        pages = [p for p in dict.fromkeys(o.pages for o in self.others) if p != self.conditions.pages]
        also = ([f"cache {', '.join(caches)}"] if caches else []) + ([f"pages {', '.join(pages)}"] if pages else [])
        return text + (f"; also measured: {'; '.join(also)}" if also else "")

    @property
    def has_rtf(self) -> bool:
        return any(_finite(c.rtf) for c in self.choices)

    @property
    def any_from_python(self) -> bool:
        return any(choice.from_python for choice in self.choices)

    @property
    def several_threads(self) -> bool:
        return len({c.threads for c in self.choices}) > 1

    @property
    def several_runs(self) -> bool:
        return len({c.run_id for c in self.choices}) > 1

    def folded_text(self) -> str:
        """'int8-numpy: 153 timed rows' for each backend whose reference-only rows were left out; '' when none."""
        return "; ".join(f"{backend}: {count} timed row{'s' if count != 1 else ''}" for backend, count in self.folded)


def reference_only(backend: str, variant: str) -> bool:
    """Whether the backend declares this variant a reference rather than a choice.

    Asked of the installed backend (a backend not installed here, or failing, says no)."""
    from gemmbench import registry

    try:
        return any(v.name == variant and v.reference_only for v in registry.backends.get(backend).variants())
    except Exception:  # an unknown or broken backend: its rows are contenders like any other
        return False


def _series(row: Mapping) -> tuple[str, str]:
    return str(row.get("backend")), str(row.get("variant") or "")


def _of_backend(row: Mapping, spec: str) -> bool:
    backend, _, variant = spec.partition(":")
    return row.get("backend") == backend and (not variant or row.get("variant") == variant)


def _timed(row: Mapping) -> bool:
    return row.get("status") == "ok" and time_of(row)[0] > 0


def _threads(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _key(row: Mapping) -> tuple:
    return (str(row.get("run_id") or ""), str(row.get("case")), _threads(row.get("threads")))


def _precision_rank(precision: str) -> tuple[int, str]:
    return (PRECISION_ORDER.index(precision) if precision in PRECISION_ORDER else len(PRECISION_ORDER), precision)


def decide(rows: Iterable[Mapping] | pd.DataFrame, baseline: str = DEFAULT_BASELINE,
           is_reference: Callable[[str, str], bool] = reference_only,
           conditions: Conditions | None = None) -> Decision:
    """Per case, thread count and run: the best timed row of each precision, in the order rows came,
    among the rows measured under `conditions` (default_conditions when not given)."""
    records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
    present = list(dict.fromkeys(conditions_of(r) for r in records if _timed(r)))
    chosen = conditions or default_conditions(present)
    records = [r for r in records if chosen is None or conditions_of(r) == chosen]
    decision = _decide(records, baseline, is_reference)
    return dataclasses.replace(decision, conditions=chosen, others=tuple(c for c in present if c != chosen))


def _decide(records: list[Mapping], baseline: str, is_reference: Callable[[str, str], bool]) -> Decision:
    reference = {series: is_reference(*series) for series in dict.fromkeys(_series(r) for r in records)}
    groups: dict[tuple, list[Mapping]] = {}
    for row in records:
        groups.setdefault(_key(row), []).append(row)
    choices, untimed, folded = [], [], {}
    for key, members in groups.items():
        timed = [r for r in members if _timed(r)]
        for r in timed:
            if reference[_series(r)]:
                folded[r["backend"]] = folded.get(r["backend"], 0) + 1
        candidates = [r for r in timed if not reference[_series(r)]]
        if not candidates:
            untimed.append(key[1])
            continue
        bases = [r for r in timed if _of_backend(r, baseline)]
        base = min(bases, key=lambda r: time_of(r)[0]) if bases else None
        choices += _choose(candidates, base)
    return Decision(baseline, tuple(choices), tuple(sorted(folded.items())), tuple(dict.fromkeys(untimed)))


def _choose(candidates: list[Mapping], base: Mapping | None) -> list[Choice]:
    by_precision: dict[str, list[Mapping]] = {}
    for row in candidates:
        by_precision.setdefault(precision_of(row), []).append(row)
    fastest = min(candidates, key=lambda r: time_of(r)[0])
    chosen = []
    for precision in sorted(by_precision, key=_precision_rank):
        group = by_precision[precision]
        best = min(group, key=lambda r: time_of(r)[0])
        chosen.append(_choice(best, precision, len(group), base, best is fastest))
    # A vocoder in C pays the native time; a Python loop pays the call: name its winner too.
    from_python = min(candidates, key=lambda r: float(r["median_ns"]))
    if from_python is not fastest:
        chosen[0] = dataclasses.replace(chosen[0], from_python=f"{_series(from_python)[0]}:{_series(from_python)[1]} "
                                                               f"({duration(float(from_python['median_ns']))})")
    return chosen


def _choice(row: Mapping, precision: str, candidates: int, base: Mapping | None, fastest: bool) -> Choice:
    time_ns, figure = time_of(row)
    rtf_column = "native_rtf" if figure == "native" else "rtf"
    rtf = row.get(rtf_column)
    native = row.get("native_median_ns")
    return Choice(
        case=str(row["case"]), threads=_threads(row.get("threads")), run_id=str(row.get("run_id") or ""),
        precision=precision, backend=str(row["backend"]), variant=str(row.get("variant") or ""),
        detail=row.get("detail") if isinstance(row.get("detail"), str) else "",
        time_ns=time_ns, figure=figure, native_ns=float(native) if _finite(native) else math.nan,
        python_ns=float(row["median_ns"]), rtf=float(rtf) if _finite(rtf) else math.nan,
        snr_db=snr_of(row), rel_err=float(row["rel_err"]) if _finite(row.get("rel_err")) else math.nan,
        speedup=speedup(row, base) if base is not None else None, is_baseline=row is base,
        fastest=fastest, candidates=candidates)
