"""What "best" means, defined once for the whole project, and the decision built on it.

The best row of a case, for one precision, is the timed row with the lowest *time*: the
median time per call measured inside native code where the backend has a native loop,
else the median of the Python calls. A vocoder built on these kernels calls them from native
code, so a Python call's overhead (1-2 µs) is not part of what it pays; a backend without a
native loop cannot shed it, so its Python-call time is its time. Both figures are always shown.

Rows of reference-only variants (the row's `reference_only`, such as the nine int8 schemes of
int8-numpy, there to check the C kernels bit for bit) are never a choice: they are counted,
and shown on request.

A row's baseline is the fastest timed row of the baseline backend (numpy unless told otherwise)
sampled in the same rounds: the same run, repeat, case and thread count. Its speed-up is the
baseline's time over the row's, each by the same figure, paired round by round (`speedup`).
A run stores each row's pairing against DEFAULT_BASELINE (the columns PAIRING_COLUMNS), so
reading them asks nothing; `pair` computes them, here and nowhere else.

The best is chosen among our backends (role "ours"). Each choice is also held against the
fastest peer row (role "peer": a production runtime users could ship instead) of its precision
in the same rounds. Like with like: a peer has no native loop, so that comparison pairs both
sides' Python-call samples round by round.

A decision holds for one set of conditions (`Conditions`: the cache state the calls found and
the pages the data sat on): rows measured under others are left out, and the table's heading
says which it shows. By default that is hot cache on huge pages where such rows exist. Rows of
different conditions share their rounds (each row's baseline is the baseline's row under its own
conditions), so hot and cold, huge and normal, pair round by round too.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping

if TYPE_CHECKING:  # numpy and pandas load on first use: the CLI reads DEFAULT_BASELINE when it starts
    import numpy as np
    import pandas as pd

DEFAULT_BASELINE = "numpy"  # the backend speed-ups are measured against unless told otherwise
INTERVAL_LEVEL = 0.95
PEER = "peer"  # the role of a production runtime users could ship instead (Backend.role)
PAIRING_COLUMNS = ("baseline", "speedup", "speedup_low", "speedup_high")
# Widest arithmetic first; a precision not listed sorts after these.
PRECISION_ORDER = ("float64", "float32", "bf16", "bfloat16", "float16", "fp16", "int8")


def _missing(value) -> bool:
    """None, NaN, or pandas' NA: what an empty cell of a results file reads as."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN is the one value unequal to itself
    except TypeError:  # pandas.NA cannot be a bool
        return True


def _finite(value) -> bool:
    return not _missing(value) and math.isfinite(float(value))


def precision_of(row: Mapping) -> str:
    """The arithmetic the correctness gate judged: the precision column, else the case dtype."""
    precision = row.get("precision")
    return precision if isinstance(precision, str) and precision else str(row.get("dtype") or "")


def _series_of(row: Mapping) -> str:
    """backend:variant"""
    return f"{row.get('backend')}:{row.get('variant') or ''}"


def is_reference(row: Mapping) -> bool:
    """Whether the row's variant is a reference, never a choice (the row's reference_only)."""
    value = row.get("reference_only")
    return False if _missing(value) else bool(value)


def is_peer(row: Mapping) -> bool:
    return row.get("role") == PEER


def time_of(row: Mapping) -> tuple[float, str]:
    """(ns per call, 'native' or 'python'): the figure "best" ranks by."""
    native = row.get("native_median_ns")
    if _finite(native) and native > 0:
        return float(native), "native"
    median = row.get("median_ns")
    return (float(median), "python") if _finite(median) else (math.nan, "")


def python_ns(row: Mapping) -> float:
    median = row.get("median_ns")
    return float(median) if _finite(median) else math.nan


def samples_of(row: Mapping, source: str) -> "np.ndarray":
    import numpy as np

    values = row.get("native_samples_ns" if source == "native" else "samples_ns")
    if values is None:
        return np.empty(0)
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array) & (array > 0)]


def snr_of(row: Mapping) -> float:
    """SNR against the float64 reference in dB: snr_db, else from rel_err; inf when exact."""
    snr = row.get("snr_db")
    if not _missing(snr):
        return float(snr)
    rel = row.get("rel_err")
    if _missing(rel):
        return math.nan
    return math.inf if rel == 0 else -20 * math.log10(rel)


@dataclass(frozen=True)
class Interval:
    """A speed-up (the other row's time ÷ this row's) with the interval it is known to at `level`."""

    ratio: float
    low: float
    high: float
    level: float = INTERVAL_LEVEL

    @property
    def known(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def faster(self) -> bool:
        """The whole interval above 1: faster beyond the noise."""
        return self.known and self.low > 1

    @property
    def slower(self) -> bool:
        return self.known and self.high < 1

    def text(self) -> str:
        if not self.known:
            return f"{_ratio_text(self.ratio)}×"
        return f"{_ratio_text(self.ratio)}× ({_ratio_text(self.low)}–{_ratio_text(self.high)})"


def _ratio_text(value: float) -> str:
    return f"{value:.3g}"


def speedup(row: Mapping, other: Mapping, level: float = INTERVAL_LEVEL, figure: str = "best") -> Interval | None:
    """How many times faster `row` is than `other`: by each one's time (native where measured), or
    by both Python calls (figure "python").

    Rows measured in the same rounds (one run, one repeat: every row of a case is) are paired
    round by round: the speed-up is the median of the per-round ratios, its interval a bootstrap
    over the rounds (gemmbench.stats.paired), so drift that moved both rows cancels. Rows without
    rounds (files of older versions) fall back to the ratio of medians, each side resampled.
    """
    from gemmbench.stats import paired

    row_ns, row_source = time_of(row) if figure == "best" else (python_ns(row), "python")
    other_ns, other_source = time_of(other) if figure == "best" else (python_ns(other), "python")
    if not (row_ns > 0 and other_ns > 0):
        return None
    pair = paired.paired_ratio(row, other, level, figure) if _same_rounds(row, other) else None
    if pair is not None and pair.rounds >= 2:
        return Interval(1 / pair.ratio, 1 / pair.high, 1 / pair.low, level)
    ratio = other_ns / row_ns
    mine, theirs = samples_of(row, row_source), samples_of(other, other_source)
    if mine.size < 2 or theirs.size < 2:
        return Interval(ratio, math.nan, math.nan, level)
    low, high = paired.bootstrap_ratio_ci(theirs, mine, level)  # row / other: its inverse is the speed-up
    return Interval(ratio, 1 / high, 1 / low, level)


def _threads(value) -> int | None:
    return None if _missing(value) else int(value)


def _rounds_of(row: Mapping) -> tuple:
    """The rounds a row was sampled in: its run, repeat, case and thread count."""
    repeat = row.get("repeat")
    return (str(row.get("run_id") or ""), 0 if _missing(repeat) else int(repeat),
            str(row.get("case")), _threads(row.get("threads")))


def _same_rounds(row: Mapping, other: Mapping) -> bool:
    return _rounds_of(row) == _rounds_of(other)


def timed(row: Mapping) -> bool:
    return row.get("status") == "ok" and time_of(row)[0] > 0


def of_backend(row: Mapping, spec: str) -> bool:
    """Whether the row is of `spec`: a backend name, or backend:variant."""
    backend, _, variant = spec.partition(":")
    return row.get("backend") == backend and (not variant or row.get("variant") == variant)


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


def _default_conditions(present: Iterable[Conditions]) -> Conditions | None:
    """Hot cache on huge pages where measured, else hot on any pages, else the first present."""
    found = list(dict.fromkeys(present))
    for wanted in (Conditions(), Conditions("hot", "normal")):
        if wanted in found:
            return wanted
    return found[0] if found else None



# ---- the baseline and the speed-up -------------------------------------------------------------


def baseline_key(row: Mapping) -> tuple:
    """What a row's baseline shares with it: its rounds (rounds_of) and its conditions (conditions_of)."""
    return (*_rounds_of(row), conditions_of(row))


def baselines(rows: Iterable[Mapping], baseline: str = DEFAULT_BASELINE) -> dict[tuple, Mapping]:
    """baseline_key -> the baseline's row there: its fastest timed row of the backend (or the
    backend:variant) named, so no speed-up is flattered by a slow baseline variant."""
    found: dict[tuple, Mapping] = {}
    for row in rows:
        if of_backend(row, baseline) and timed(row):
            held = found.get(baseline_key(row))
            if held is None or time_of(row)[0] < time_of(held)[0]:
                found[baseline_key(row)] = row
    return found


def pairing(row: Mapping, base: Mapping | None) -> dict:
    """The PAIRING_COLUMNS of a row given its baseline's row: what a run stores on each row."""
    if base is None or not timed(row):
        return {"baseline": "", "speedup": None, "speedup_low": None, "speedup_high": None}
    if base is row:
        return {"baseline": _series_of(row), "speedup": 1.0, "speedup_low": 1.0, "speedup_high": 1.0}
    interval = speedup(row, base)
    if interval is None:
        return {"baseline": _series_of(base), "speedup": None, "speedup_low": None, "speedup_high": None}
    return {"baseline": _series_of(base), "speedup": interval.ratio, "speedup_low": _or_none(interval.low),
            "speedup_high": _or_none(interval.high)}


def _or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def pair(rows: Iterable[Mapping] | "pd.DataFrame", baseline: str = DEFAULT_BASELINE) -> list[dict]:
    """Each row's PAIRING_COLUMNS against `baseline`: the one rule for a baseline and a speed-up."""
    records = _records(rows)
    bases = baselines(records, baseline)
    return [pairing(row, bases.get(baseline_key(row))) for row in records]


def _paired_with(rows: Iterable[Mapping] | "pd.DataFrame", baseline: str = DEFAULT_BASELINE) -> list[dict]:
    """The rows, each carrying its pairing against `baseline`: as stored (a run pairs every row with
    DEFAULT_BASELINE) or, against another baseline or for rows that never had one, paired now."""
    records = _records(rows)
    if baseline == DEFAULT_BASELINE and all("baseline" in row for row in records):
        return [dict(row) for row in records]
    return [{**row, **columns} for row, columns in zip(records, pair(records, baseline))]


def stored_speedup(row: Mapping) -> Interval | None:
    """The speed-up over its baseline the row carries (PAIRING_COLUMNS), or None."""
    if not _finite(row.get("speedup")):
        return None
    low, high = row.get("speedup_low"), row.get("speedup_high")
    return Interval(float(row["speedup"]), float(low) if _finite(low) else math.nan,
                    float(high) if _finite(high) else math.nan)


def _is_baseline_row(row: Mapping) -> bool:
    """Whether the row is its own baseline (the fastest baseline row of its rounds)."""
    baseline = row.get("baseline")
    return isinstance(baseline, str) and baseline == _series_of(row)


def _records(rows: Iterable[Mapping] | "pd.DataFrame") -> list[Mapping]:
    return rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)


# ---- the decision ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersusPeer:
    """A choice held against the fastest peer row of its precision, both by their Python calls."""

    peer: str  # backend:variant of the fastest peer row
    peer_ns: float  # its Python-call median
    ratio: Interval | None  # the peer's Python call ÷ ours, paired by round: above 1, ours is faster

    @property
    def winner(self) -> str:
        """'ours', 'peer', or 'tie' when the interval holds 1 (or there is none)."""
        if self.ratio is None:
            return "tie"
        return "ours" if self.ratio.faster else PEER if self.ratio.slower else "tie"


@dataclass(frozen=True)
class Choice:
    """The best timed row of one case, thread count, run and precision."""

    case: str
    shape: str  # what is computed: 'gemv · 1152x384 16x1@0.1' (the op and its own label of the size)
    threads: int | None
    run_id: str
    precision: str
    backend: str
    variant: str
    role: str  # 'ours', or 'peer' where no backend of ours was timed here
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
    versus: VersusPeer | None = None  # against the fastest peer row of its precision, where one was timed
    from_python: str = ""  # on a case's first line: the backend:variant fastest from Python, where that is another
    from_python_ns: float = math.nan  # its Python-call median

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

    def conditions_text(self) -> str:
        """What the numbers hold for, and what else was measured: for the table's heading."""
        if self.conditions is None:
            return ""
        text = self.conditions.text()
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
    def has_peers(self) -> bool:
        return any(choice.versus is not None for choice in self.choices)

    @property
    def several_threads(self) -> bool:
        return len({c.threads for c in self.choices}) > 1

    @property
    def several_runs(self) -> bool:
        return len({c.run_id for c in self.choices}) > 1

    def folded_text(self) -> str:
        """'int8-numpy: 153 timed rows' for each backend whose reference-only rows were left out; '' when none."""
        return "; ".join(f"{backend}: {count} timed row{'s' if count != 1 else ''}" for backend, count in self.folded)


def _key(row: Mapping) -> tuple:
    return (str(row.get("run_id") or ""), str(row.get("case")), _threads(row.get("threads")))


def _precision_rank(precision: str) -> tuple[int, str]:
    return (PRECISION_ORDER.index(precision) if precision in PRECISION_ORDER else len(PRECISION_ORDER), precision)


def decide(rows: Iterable[Mapping] | "pd.DataFrame", baseline: str = DEFAULT_BASELINE, *,
           paired: bool = False, conditions: Conditions | None = None) -> Decision:
    """Per case, thread count and run: the best timed row of each precision, in the order rows came,
    among the rows measured under `conditions` (default_conditions when not given).

    paired: the rows carry their pairing against `baseline` already (a report's prepared frame)."""
    records = _records(rows) if paired else _paired_with(rows, baseline)
    present = list(dict.fromkeys(conditions_of(r) for r in records if timed(r)))
    chosen = conditions or _default_conditions(present)
    records = [r for r in records if chosen is None or conditions_of(r) == chosen]
    decision = _decide(records, baseline)
    return dataclasses.replace(decision, conditions=chosen, others=tuple(c for c in present if c != chosen))


def _decide(records: list[Mapping], baseline: str) -> Decision:
    groups: dict[tuple, list[Mapping]] = {}
    for row in records:
        groups.setdefault(_key(row), []).append(row)
    choices, untimed, folded = [], [], {}
    for key, members in groups.items():
        contenders = [r for r in members if timed(r)]
        for r in contenders:
            if is_reference(r):
                folded[r["backend"]] = folded.get(r["backend"], 0) + 1
        contenders = [r for r in contenders if not is_reference(r)]
        if not contenders:
            untimed.append(key[1])
            continue
        choices += _choose(contenders)
    return Decision(baseline, tuple(choices), tuple(sorted(folded.items())), tuple(dict.fromkeys(untimed)))


def _choose(contenders: list[Mapping]) -> list[Choice]:
    """Our best row of each precision (a peer's where none of ours ran in it), each against the peers."""
    by_precision: dict[str, list[Mapping]] = {}
    for row in contenders:
        by_precision.setdefault(precision_of(row), []).append(row)
    bests = {}
    for precision in sorted(by_precision, key=_precision_rank):
        group = by_precision[precision]
        ours = [r for r in group if not is_peer(r)] or group
        bests[precision] = (min(ours, key=lambda r: time_of(r)[0]), len(ours), [r for r in group if is_peer(r)])
    ours = [r for r in contenders if not is_peer(r)] or contenders
    fastest = min((best for best, _, _ in bests.values() if any(best is r for r in ours)),
                  key=lambda r: time_of(r)[0])
    chosen = [_choice(best, precision, count, best is fastest,
                      None if is_peer(best) else _versus(best, [r for r in peers if _same_rounds(r, best)]))
              for precision, (best, count, peers) in bests.items()]
    # A vocoder in C pays the native time; a Python loop pays the call: name its winner too.
    from_python = min(ours, key=python_ns)
    if from_python is not fastest:
        chosen[0] = dataclasses.replace(chosen[0], from_python=_series_of(from_python),
                                        from_python_ns=python_ns(from_python))
    return chosen


def _versus(best: Mapping, peers: list[Mapping]) -> VersusPeer | None:
    """The choice against the fastest of `peers` by the Python call, paired by round (None without peers)."""
    if not peers:
        return None
    rival = min(peers, key=python_ns)
    return VersusPeer(_series_of(rival), python_ns(rival), speedup(best, rival, figure="python"))


def _choice(row: Mapping, precision: str, candidates: int, fastest: bool, versus: VersusPeer | None) -> Choice:
    time_ns, figure = time_of(row)
    rtf = row.get("native_rtf" if figure == "native" else "rtf")
    native = row.get("native_median_ns")
    shape = " · ".join(part for part in (row.get("op"), row.get("shape")) if isinstance(part, str) and part)
    return Choice(
        case=str(row["case"]), shape=shape, threads=_threads(row.get("threads")),
        run_id=str(row.get("run_id") or ""), precision=precision, backend=str(row["backend"]),
        variant=str(row.get("variant") or ""), role=PEER if is_peer(row) else "ours",
        detail=row.get("detail") if isinstance(row.get("detail"), str) else "",
        time_ns=time_ns, figure=figure, native_ns=float(native) if _finite(native) else math.nan,
        python_ns=python_ns(row), rtf=float(rtf) if _finite(rtf) else math.nan,
        snr_db=snr_of(row), rel_err=float(row["rel_err"]) if _finite(row.get("rel_err")) else math.nan,
        speedup=stored_speedup(row), is_baseline=_is_baseline_row(row), fastest=fastest, candidates=candidates,
        versus=versus)
