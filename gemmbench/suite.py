"""YAML suites -> validated, grid-expanded lists of cases.

Every problem becomes one line naming the file, the case, the field and what is allowed;
all problems are collected before anything is raised, so one edit fixes them all.
"""

from __future__ import annotations

import difflib
import itertools
import math
import os
import reprlib
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gemmbench import isa as isa_table
from gemmbench.errors import SuiteError, UsageError
from gemmbench.machine import physical_memory
from gemmbench.timing import TimingSettings
from gemmbench.workload import BLOCK_SHAPES, DTYPES, OPS, Case, Sparsity, case_from_dict, case_to_dict, freeze

TOP_KEYS = ("name", "description", "defaults", "backends", "isa", "cases")
TIMING_KEYS = tuple(f.name for f in fields(TimingSettings))
CASE_KEYS = ("name", "op", "m", "k", "n", "dtype", "seed", "density", "block", "keep_diagonal",
             "threads", "backends", "isa", *TIMING_KEYS)
LIST_VALUED = ("threads", "backends")  # lists here are the value, not a grid
# Data is generated in float64 before the cast; refuse cases whose arrays would not fit.
MEMORY_SHARE = 0.5
MAX_CASES = 100_000  # a grid larger than this is a typo, not a benchmark
INT_LIMIT = 2**63  # integers are stored as int64
_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxother, _BRIEF.maxlong = 3, 60, 60, 40


def brief(value: Any) -> str:
    """A user-supplied value for a one-line message: bounded, control characters escaped."""
    return _BRIEF.repr(value)


def _label(value: Any) -> str:
    return brief(value)[1:-1] if isinstance(value, str) else brief(value)


@dataclass(frozen=True)
class Selection:
    """A backend to run, optionally limited to one variant ('csimd:avx2')."""

    backend: str
    variant: str | None = None

    def __str__(self) -> str:
        return self.backend + (f":{self.variant}" if self.variant else "")


def parse_selection(text: str) -> Selection:
    """'name' or 'name:variant'."""
    backend, _, variant = text.strip().partition(":")
    return Selection(backend, variant or None)


@dataclass(frozen=True)
class SuiteCase:
    """A case with how to run it."""

    case: Case
    timing: TimingSettings
    threads: tuple[int, ...]
    backends: tuple[Selection, ...] | None  # None: every available backend
    isa: str | None = None  # ISA levels of ISA-specific variants: 'avx2' caps, 'scalar,avx512' lists


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    path: str
    cases: tuple[SuiteCase, ...]

    def backend_names(self) -> list[str]:
        named = {s.backend for c in self.cases for s in (c.backends or ())}
        return sorted(named)


class _Problems:
    def __init__(self, path: str):
        self.path = path
        self.lines: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.lines.append(f"{self.path}: {where}: {message}")


def shipped_suites() -> dict[str, Path]:
    """Suites installed with gemmbench, by name."""
    try:
        folder = resources.files("gemmbench.suites")
    except ModuleNotFoundError:
        return {}
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")}


def resolve(path: str | os.PathLike) -> Path:
    """A suite file path; a bare name ('gru384') finds a shipped suite."""
    candidate = Path(path)
    if candidate.exists():
        return candidate
    shipped = shipped_suites()
    if str(path) in shipped:
        return shipped[str(path)]
    hint = f"; shipped suites: {', '.join(sorted(shipped))}" if shipped else ""
    raise UsageError(f"{path}: no such suite file{hint}")


def load_suite(path: str | os.PathLike) -> Suite:
    """Read, validate and expand a suite; raises SuiteError listing every problem."""
    file = resolve(path)
    try:
        text = file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read suite: {exc}") from None
    return parse_suite(text, str(path))


def parse_suite(text: str, path: str = "<suite>") -> Suite:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if problem.startswith("could not determine a constructor for the tag"):
            problem = f"tag {problem.rsplit(' ', 1)[-1]} refused: suites are plain data, nothing in them runs"
        else:
            problem = f"malformed YAML: {problem}"
        raise SuiteError([f"{path}: {where}: {problem}"]) from None
    except RecursionError:
        raise SuiteError([f"{path}: YAML: nested too deeply"]) from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise SuiteError([f"{path}: YAML: value refused: {str(exc).split(';')[0][:120]}"]) from None
    problems = _Problems(path)
    suite = _build_suite(document, path, problems)
    if problems.lines:
        raise SuiteError(problems.lines)
    assert suite is not None
    return suite


def _unknown_key(problems: _Problems, where: str, key: Any, allowed: tuple[str, ...]) -> None:
    close = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    problems.add(where, f"unknown field '{_label(key)}'{hint}; allowed: {', '.join(allowed)}")


def _build_suite(document: Any, path: str, problems: _Problems) -> Suite | None:
    if not isinstance(document, dict):
        problems.add("top level", f"must be a mapping with fields {', '.join(TOP_KEYS)}, "
                                  f"got {type(document).__name__}")
        return None
    for key in document:
        if key not in TOP_KEYS:
            _unknown_key(problems, "top level", key, TOP_KEYS)
    name = document.get("name")
    if not _is_name(name):
        problems.add("field 'name'", f"must be a non-empty string without control characters, got {brief(name)}")
        name = Path(path).stem
    description = document.get("description", "")
    if not isinstance(description, str):
        problems.add("field 'description'", "must be a string")
    defaults = document.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.add("field 'defaults'", "must be a mapping of case fields and timing settings")
        defaults = {}
    default_keys = tuple(k for k in CASE_KEYS if k != "name") + tuple(sorted(set().union(
        *(kind.params for kind in OPS.values()))))  # each case takes the defaults its op knows
    for key in defaults:
        if key not in default_keys:
            _unknown_key(problems, "field 'defaults'", key, default_keys)
    for key in ("backends", "isa"):  # top-level shorthands for defaults
        if key in document:
            defaults = {**defaults, key: document[key]}
    raw_cases = document.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        problems.add("field 'cases'", "must be a non-empty list of cases")
        return None
    expanded: list[SuiteCase] = []
    seen: set[str] = set()
    if not _grid_fits(raw_cases, defaults, problems):
        return None
    for index, raw in enumerate(raw_cases):
        for suite_case in _expand_case(raw, index, defaults, problems):
            if suite_case.case.name in seen:
                problems.add(f"case '{suite_case.case.name}'", "duplicate case name; names must be unique")
            seen.add(suite_case.case.name)
            expanded.append(suite_case)
    if not expanded and not problems.lines:
        problems.add("field 'cases'", "the grid is empty: some case lists no values")
    return Suite(name, description if isinstance(description, str) else "", path, tuple(expanded))


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and value.isprintable()


def _grid_keys(merged: dict) -> list:
    return [k for k, v in merged.items() if isinstance(v, list) and k not in LIST_VALUED and k != "name"]


def _grid_fits(raw_cases: list, defaults: dict, problems: _Problems) -> bool:
    """Refuse a grid too large to expand before expanding it."""
    total = 0
    for raw in raw_cases:
        if isinstance(raw, dict):
            merged = {**defaults, **raw}
            total += math.prod(len(merged[k]) for k in _grid_keys(merged))
    if total > MAX_CASES:
        problems.add("field 'cases'", f"the grid expands to {total} cases; at most {MAX_CASES} are allowed")
        return False
    return True


def _expand_case(raw: Any, index: int, defaults: dict, problems: _Problems) -> list[SuiteCase]:
    if not isinstance(raw, dict):
        problems.add(f"case #{index + 1}", f"must be a mapping, got {type(raw).__name__}")
        return []
    label = raw["name"] if isinstance(raw.get("name"), str) else f"#{index + 1}"
    where = f"case '{_label(label)}'"
    if not _is_name(raw.get("name")):
        problems.add(where, f"field 'name': must be a non-empty string without control characters, "
                            f"got {brief(raw.get('name'))}")
    op = raw.get("op", defaults.get("op", "gemv"))
    allowed = CASE_KEYS + tuple(OPS[op].params) if isinstance(op, str) and op in OPS else CASE_KEYS
    for key in raw:
        if key not in allowed:
            _unknown_key(problems, where, key, allowed)
    merged = {**{k: v for k, v in defaults.items() if k in allowed}, **raw}
    grid_keys = [k for k in _grid_keys(merged) if k in allowed]  # an unknown field is reported, not expanded
    for key in grid_keys:
        if not merged[key]:
            problems.add(where, f"field '{key}': empty list, so the grid has no cases")
            return []
    combos = itertools.product(*(merged[k] for k in grid_keys))
    cases = []
    for combo in combos:
        point = dict(zip(grid_keys, combo))
        values = {**merged, **point}
        suffix = ",".join(f"{k}={_show(v)}" for k, v in point.items())
        name = f"{label}[{suffix}]" if suffix else str(label)
        built = _build_case(name, values, problems)
        if built is not None:
            cases.append(built)
    return cases


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "/".join(f"{v:g}" if isinstance(v, float) else _label(v) for v in value.values())
    return f"{value:g}" if isinstance(value, float) else _label(value)


class _Fields:
    """Typed access to one case's merged fields, reporting each bad one."""

    def __init__(self, name: str, values: dict, problems: _Problems):
        self.where = f"case '{_label(name)}'"
        self.values = values
        self.problems = problems
        self.ok = True

    def bad(self, key: str, message: str) -> None:
        self.ok = False
        self.problems.add(self.where, f"field '{key}': {message}, got {brief(self.values.get(key))}")

    def positive_int(self, key: str, default: int | None = None) -> int:
        value = self.values.get(key, default)
        if not _is_int(value) or not 0 < value < INT_LIMIT:
            self.bad(key, "must be a positive integer" + (" below 2**63" if _is_int(value) and value > 0 else ""))
            return 1
        return value

    def int_(self, key: str, default: int) -> int:
        value = self.values.get(key, default)
        if not _is_int(value) or not 0 <= value < INT_LIMIT:
            self.bad(key, "must be a non-negative integer" + (" below 2**63" if _is_int(value) and value > 0 else ""))
            return default
        return value

    def positive_number(self, key: str, default: float) -> float:
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
                or value == float("inf"):
            self.bad(key, "must be a positive number")
            return default
        return float(value)

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.values.get(key, default)
        if value not in allowed:
            self.bad(key, f"must be one of {', '.join(allowed)}")
            return default
        return value


def _build_case(name: str, values: dict, problems: _Problems) -> SuiteCase | None:
    f = _Fields(name, values, problems)
    op = f.choice("op", tuple(OPS), "gemv")
    m = f.positive_int("m")
    k = f.positive_int("k")
    n = f.positive_int("n", 1)
    if op == "gemv" and "n" in values and n != 1:
        f.bad("n", "must be 1 for op gemv (use op gemm for n > 1)")
    dtype = f.choice("dtype", DTYPES, "float32")
    seed = f.int_("seed", 0)
    sparsity = _sparsity(f, m, k)
    timing = TimingSettings(**{key: _timing_value(f, key) for key in TIMING_KEYS})
    threads = _threads(f)
    backends = _backends(f)
    isa = _isa(f)
    params = tuple((key, freeze(values[key])) for key in sorted(OPS[op].params) if key in values) if op in OPS else ()
    case = Case(name=name, op=op, m=m, k=k, n=n, dtype=dtype, seed=seed, sparsity=sparsity, params=params)
    if f.ok:
        _check_memory(f, case)
        if op in OPS and OPS[op].validate is not None:
            for key, message in OPS[op].validate(case):
                f.bad(key, message)
    return SuiteCase(case, timing, threads, backends, isa) if f.ok else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _timing_value(f: _Fields, key: str) -> float | int:
    default = getattr(TimingSettings(), key)
    if key == "samples":
        return f.positive_int(key, default)
    return f.positive_number(key, default)


def _threads(f: _Fields) -> tuple[int, ...]:
    value = f.values.get("threads", [1])
    items = value if isinstance(value, list) else [value]
    if not items or any(not _is_int(t) or not 0 < t < INT_LIMIT for t in items):
        f.bad("threads", "must be a positive integer or a list of them")
        return (1,)
    return tuple(dict.fromkeys(items))


def _backends(f: _Fields) -> tuple[Selection, ...] | None:
    value = f.values.get("backends")
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(b, str) and b.strip() for b in items):
        f.bad("backends", "must be a backend name or a list of names ('name' or 'name:variant')")
        return None
    return tuple(dict.fromkeys(parse_selection(item) for item in items))


def _isa(f: _Fields) -> str | None:
    value = f.values.get("isa")
    if value is None:
        return None
    try:
        isa_table.parse_spec(value if isinstance(value, str) else "?")
    except UsageError:
        f.bad("isa", f"must be one ISA level (a cap) or a comma list of levels from {', '.join(isa_table.LEVELS)}")
        return None
    return value


def _parse_block(f: _Fields) -> tuple[int, int]:
    raw = f.values.get("block", "16x1")
    allowed = ", ".join(f"{r}x{c}" for r, c in BLOCK_SHAPES)
    try:
        rows, cols = (int(part) for part in str(raw).lower().split("x"))
    except ValueError:
        f.bad("block", f"must be ROWSxCOLS, one of {allowed}")
        return (16, 1)
    if (rows, cols) not in BLOCK_SHAPES:
        f.bad("block", f"must be one of {allowed}")
        return (16, 1)
    return rows, cols


def _sparsity(f: _Fields, m: int, k: int) -> Sparsity | None:
    raw = f.values.get("density")
    sparse_keys = [key for key in ("block", "keep_diagonal") if key in f.values]
    if raw is None:
        if sparse_keys:
            f.bad(sparse_keys[0], "only applies with a 'density' field")
        return None
    if isinstance(raw, dict):
        densities = list(raw.values())
        if not raw:
            f.bad("density", "a per-gate mapping needs at least one gate")
            return None
    else:
        densities = [raw]
    if any(isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 < d <= 1 for d in densities):
        f.bad("density", "must be a number in (0, 1] or a mapping gate -> number in (0, 1]")
        return None
    block = _parse_block(f)
    keep_diagonal = f.values.get("keep_diagonal", False)
    if not isinstance(keep_diagonal, bool):
        f.bad("keep_diagonal", "must be true or false")
        keep_diagonal = False
    sparsity = Sparsity(tuple(float(d) for d in densities), block, keep_diagonal)
    gates = sparsity.gates
    if m % gates or (m // gates) % block[0]:
        f.bad("block", f"{block[0]}-row blocks must divide each of the {gates} gate(s) of m={m}")
    elif k % block[1]:
        f.bad("block", f"{block[1]}-column blocks must divide k={k}")
    if keep_diagonal and m // gates != k:
        f.bad("keep_diagonal", f"needs square gates (m/gates = {m // gates} must equal k = {k})")
    return sparsity


def _check_memory(f: _Fields, case: Case) -> None:
    elements = case.m * case.k + case.k * case.n + 2 * case.m * case.n
    needed = elements * 8 * 3  # float64 generation, the cast copy, a backend's packed copy
    limit = physical_memory() * MEMORY_SHARE
    if needed > limit:
        f.problems.add(f.where, f"field 'm'/'k'/'n': buffers need {needed / 2**30:.1f} GiB, "
                                f"more than the {limit / 2**30:.1f} GiB this machine can give a case")
        f.ok = False




def suite_to_dict(suite: Suite) -> dict:
    """The expanded suite as JSON-ready data: what a run measured, stored for --resume."""
    return {"name": suite.name, "description": suite.description, "cases": [
        {"case": case_to_dict(c.case), "timing": asdict(c.timing), "threads": list(c.threads),
         "backends": None if c.backends is None else [str(s) for s in c.backends], "isa": c.isa}
        for c in suite.cases]}


def suite_from_dict(data: dict, path: str) -> Suite:
    cases = tuple(SuiteCase(case_from_dict(c["case"]), TimingSettings(**c["timing"]), tuple(c["threads"]),
                            None if c["backends"] is None else tuple(parse_selection(s) for s in c["backends"]),
                            c["isa"])
                  for c in data["cases"])
    return Suite(data["name"], data["description"], path, cases)
