"""YAML suites -> validated, grid-expanded lists of cases.

Every problem becomes one line naming the file, the case, the field and what is allowed;
all problems are collected before anything is raised, so one edit fixes them all.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gemmbench import registry
from gemmbench.cases.fields import INT_LIMIT, FieldReader, Problems, brief, did_you_mean, is_int
from gemmbench.cases.fields import label as _label
from gemmbench.cases.workload import DTYPES, case_from_dict, case_to_dict
from gemmbench.errors import SuiteError, UsageError
from gemmbench.machine import isa as isa_table
from gemmbench.machine.fingerprint import physical_memory
from gemmbench.measure import cache as cache_states
from gemmbench.measure import pages as page_modes
from gemmbench.measure.timing import TimingSettings
from gemmbench.op import Case, Op

TOP_KEYS = ("name", "description", "defaults", "backends", "isa", "cpus", "cases")
TIMING_KEYS = tuple(f.name for f in fields(TimingSettings))
CONDITION_KEYS = ("cache", "pages")  # conditions a case's rows are measured under, each value its own rows
HARNESS_KEYS = ("name", "op", "dtype", "seed", "threads", "backends", "isa", *CONDITION_KEYS,
                *TIMING_KEYS)  # every op takes these
LIST_VALUED = ("threads", "backends", *CONDITION_KEYS)  # lists here are the value, not a grid
DEFAULT_OP = "gemv"
MEMORY_SHARE = 0.5  # a case's data may take this share of physical memory
MAX_CASES = 100_000  # a grid larger than this is a typo, not a benchmark


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
    cache: tuple[str, ...] = (cache_states.DEFAULT,)  # cache states, each measured in the same rounds
    pages: tuple[str, ...] | None = None  # page settings; None: huge where the machine gives them, else normal


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    path: str
    cases: tuple[SuiteCase, ...]
    cpus: tuple[int, ...] | None = None  # CPUs to measure on, pinned; None: the least busy is chosen
    # What it was read from, kept so a resumed run validates it again (empty for a suite built in code).
    text: str = field(default="", compare=False, repr=False)
    base: str = field(default="", compare=False, repr=False)  # the folder its file fields are relative to


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
    return parse_suite(text, str(path), file.resolve().parent)


def parse_suite(text: str, path: str = "<suite>", base: Path | None = None) -> Suite:
    """A suite from its text; file fields (weights, inputs) are relative to `base` (default: the
    folder of `path` when it is a file, else the working directory)."""
    try:
        document = yaml.load(text, Loader=SuiteLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if problem.startswith("could not determine a constructor for the tag"):
            problem = f"tag {problem.rsplit(' ', 1)[-1]} refused: suites are plain data, nothing in them runs"
        elif not isinstance(exc, DuplicateKey):
            problem = f"malformed YAML: {problem}"
        raise SuiteError([f"{path}: {where}: {problem}"]) from None
    except RecursionError:
        raise SuiteError([f"{path}: YAML: nested too deeply"]) from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise SuiteError([f"{path}: YAML: value refused: {str(exc).split(';')[0][:120]}"]) from None
    problems = Problems(path)
    base = base or _suite_folder(path)
    suite = _build_suite(document, path, problems, base)
    if problems.lines:
        raise SuiteError(problems.lines)
    assert suite is not None
    return replace(suite, text=text, base=str(base))


class DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping that names a key twice: YAML keeps the last silently, a suite refuses it."""


class SuiteLoader(yaml.SafeLoader):
    """yaml.safe_load's loader (plain data only), refusing a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *defaults' keys may be overridden: that is the point
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: the base loader says so
                continue
            if first is not key_node.start_mark:
                raise DuplicateKey(problem=f"duplicate key '{_label(key)}' (first at line {first.line + 1}); the "
                                           f"last one would silently win", problem_mark=key_node.start_mark)
        return super().construct_mapping(node, deep)


def _suite_folder(path: str) -> Path:
    """The folder a suite's file fields (weights, inputs) are relative to: the suite file's own
    (the working directory for a suite given as text)."""
    file = Path(path)
    return file.resolve().parent if file.is_file() else Path.cwd()


def _unknown_key(problems: Problems, where: str, key: Any, allowed: tuple[str, ...]) -> None:
    problems.add(where, f"unknown field '{_label(key)}'{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")


def _build_suite(document: Any, path: str, problems: Problems, base: Path) -> Suite | None:
    if document is None:
        problems.add("top level", f"the file holds no suite (it is empty, or only comments); a suite is a mapping "
                                  f"with fields {', '.join(TOP_KEYS)}")
        return None
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
    default_keys = tuple(k for k in HARNESS_KEYS if k != "name") + tuple(sorted(set().union(
        *(_op(name).fields for name in registry.ops.names()))))  # each case takes the defaults its op knows
    for key in defaults:
        if key not in default_keys:
            _unknown_key(problems, "field 'defaults'", key, default_keys)
    for key in ("backends", "isa"):  # top-level shorthands for defaults
        if key in document:
            defaults = {**defaults, key: document[key]}
    cpus = _cpus(document.get("cpus"), problems)
    raw_cases = document.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        problems.add("field 'cases'", "must be a non-empty list of cases")
        return None
    expanded: list[SuiteCase] = []
    seen: set[str] = set()
    total = _grid_size(raw_cases, defaults, problems)
    if total is None:
        return None
    checked = [0]  # cases built or refused so far: the count stops where checking stops
    for index, raw in enumerate(raw_cases):
        for suite_case in _expand_case(raw, index, defaults, problems, base, checked):
            if suite_case.case.name in seen:
                problems.add(f"case '{suite_case.case.name}'", "duplicate case name; names must be unique")
            seen.add(suite_case.case.name)
            expanded.append(suite_case)
        if problems.full:
            break
    problems.close(checked[0], total)
    if not expanded and not problems.lines:
        problems.add("field 'cases'", "the grid is empty: some case lists no values")
    return Suite(name, description if isinstance(description, str) else "", path, tuple(expanded), cpus)


def _cpus(value: Any, problems: Problems) -> tuple[int, ...] | None:
    """The top-level `cpus`: CPU numbers to pin the workers to, in the order given."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not items or any(not is_int(c) or not 0 <= c < 1 << 16 for c in items):
        problems.add("field 'cpus'", f"must be a CPU number or a list of them (0, 1, ...), got {brief(value)}")
        return None
    return tuple(dict.fromkeys(items))


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and value.isprintable()


def _op(name: str) -> Op:
    return registry.ops.get(name)


def _grid_keys(merged: dict) -> list:
    op = merged.get("op", DEFAULT_OP)
    single = LIST_VALUED + tuple(_op(op).list_fields if op in registry.ops.names() else ())
    return [k for k, v in merged.items() if isinstance(v, list) and k not in single and k != "name"]


def _grid_size(raw_cases: list, defaults: dict, problems: Problems) -> int | None:
    """How many cases the grid expands to, counted before expanding it; None (a problem) past MAX_CASES."""
    total = 0
    for raw in raw_cases:
        merged = {**defaults, **raw} if isinstance(raw, dict) else {}
        total += math.prod(len(merged[k]) for k in _grid_keys(merged)) if merged else 1
    if total > MAX_CASES:
        problems.add("field 'cases'", f"the grid expands to {total} cases; at most {MAX_CASES} are allowed")
        return None
    return total


def _expand_case(raw: Any, index: int, defaults: dict, problems: Problems, base: Path,
                 checked: list[int]) -> list[SuiteCase]:
    if not isinstance(raw, dict):
        checked[0] += 1
        problems.add(f"case #{index + 1}", f"must be a mapping, got {type(raw).__name__}")
        return []
    label = raw["name"] if isinstance(raw.get("name"), str) else f"#{index + 1}"
    where = f"case '{_label(label)}'"
    if not _is_name(raw.get("name")):
        problems.add(where, f"field 'name': must be a non-empty string without control characters, "
                            f"got {brief(raw.get('name'))}")
    op = raw.get("op", defaults.get("op", DEFAULT_OP))
    known_op = isinstance(op, str) and op in registry.ops.names()
    allowed = HARNESS_KEYS + (tuple(_op(op).fields) if known_op else tuple(raw))  # an unknown op is the problem
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
        if problems.full:
            break
        checked[0] += 1
        point = dict(zip(grid_keys, combo))
        values = {**merged, **point}
        suffix = ",".join(f"{k}={_show(v)}" for k, v in point.items())
        name = f"{label}[{suffix}]" if suffix else str(label)
        built = _build_case(name, values, problems, base)
        if built is not None:
            cases.append(built)
    return cases


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "/".join(f"{v:g}" if isinstance(v, float) else _label(v) for v in value.values())
    return f"{value:g}" if isinstance(value, float) else _label(value)


def _build_case(name: str, values: dict, problems: Problems, base: Path) -> SuiteCase | None:
    f = FieldReader(name, values, problems, base)
    op_name = f.choice("op", tuple(registry.ops.names()), DEFAULT_OP)
    if not f.ok:  # an unknown op: its fields cannot be judged
        return None
    dtype = f.choice("dtype", DTYPES, "float32")
    seed = f.int_("seed", 0)
    timing = TimingSettings(**{key: _timing_value(f, key) for key in TIMING_KEYS})
    threads = _threads(f)
    backends = _backends(f)
    isa = _isa(f)
    cache = _listed(f, "cache", cache_states.STATES) or (cache_states.DEFAULT,)
    pages = _listed(f, "pages", page_modes.MODES)
    op = _op(op_name)
    try:
        spec = op.spec(f)
    except UsageError as exc:  # an op plugin that failed to load
        f.problem(str(exc))
        return None
    if dtype not in op.dtypes:
        f.bad("dtype", f"op {op_name} takes {', '.join(op.dtypes)}")
    for key, message in op.validate(spec, dtype):  # every problem at once, not one per attempt
        f.bad(key, message)
    if f.ok:
        _check_memory(f, op.memory_bytes(spec, dtype) + (timing.between_bytes or 0), op.size_fields)
    case = Case(name, op_name, spec, dtype, seed)
    return SuiteCase(case, timing, threads, backends, isa, cache, pages) if f.ok else None


def _timing_value(f: FieldReader, key: str) -> float | int | None:
    default = getattr(TimingSettings(), key)
    if key in ("samples", "placements"):
        return f.positive_int(key, default)
    if key == "retakes":
        return f.int_(key, default)
    if key == "between_bytes":
        return None if f.get(key) is None else f.positive_int(key)
    return f.positive_number(key, default)


def _listed(f: FieldReader, key: str, allowed: tuple[str, ...]) -> tuple[str, ...] | None:
    """A value of `allowed` or a list of them (each measured), None when the case does not say."""
    value = f.values.get(key)
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not items or any(not isinstance(item, str) or item not in allowed for item in items):
        f.bad(key, f"must be one of {', '.join(allowed)} or a list of them")
        return None
    return tuple(dict.fromkeys(items))


def _threads(f: FieldReader) -> tuple[int, ...]:
    value = f.values.get("threads", [1])
    items = value if isinstance(value, list) else [value]
    if not items or any(not is_int(t) or not 0 < t < INT_LIMIT for t in items):
        f.bad("threads", "must be a positive integer or a list of them")
        return (1,)
    return tuple(dict.fromkeys(items))


def _backends(f: FieldReader) -> tuple[Selection, ...] | None:
    value = f.values.get("backends")
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(b, str) and b.strip() for b in items):
        f.bad("backends", "must be a backend name or a list of names ('name' or 'name:variant')")
        return None
    selections = tuple(dict.fromkeys(parse_selection(item) for item in items))
    known = registry.backends.names()
    for selection in selections:
        if selection.backend not in known:
            f.problem(f"field 'backends': unknown backend '{_label(selection.backend)}'"
                      f"{did_you_mean(selection.backend, known)}; known backends: {', '.join(known)}")
    return selections


def _isa(f: FieldReader) -> str | None:
    value = f.values.get("isa")
    if value is None:
        return None
    try:
        isa_table.parse_spec(value if isinstance(value, str) else "?")
    except UsageError:
        f.bad("isa", f"must be one ISA level (a cap) or a comma list of levels from {', '.join(isa_table.LEVELS)}")
        return None
    return value


def _check_memory(f: FieldReader, needed: int, size_fields: tuple[str, ...]) -> None:
    limit = physical_memory() * MEMORY_SHARE
    if needed > limit:
        where = f"field {'/'.join(repr(name) for name in size_fields)}: " if size_fields else ""
        f.problem(f"{where}buffers need {needed / 2**30:.1f} GiB, more than the "
                  f"{limit / 2**30:.1f} GiB this machine can give a case")




def suite_to_dict(suite: Suite) -> dict:
    """The expanded suite as JSON-ready data: what a run measured, stored for --resume."""
    return {"name": suite.name, "description": suite.description,
            "cpus": None if suite.cpus is None else list(suite.cpus), "cases": [
                {"case": case_to_dict(c.case), "timing": asdict(c.timing), "threads": list(c.threads),
                 "backends": None if c.backends is None else [str(s) for s in c.backends], "isa": c.isa,
                 "cache": list(c.cache), "pages": None if c.pages is None else list(c.pages)}
                for c in suite.cases]}


def suite_json(suite: Suite) -> dict:
    """suite_to_dict as JSON gives it back (lists for tuples): what a results file stores, comparable with it."""
    import json

    return json.loads(json.dumps(suite_to_dict(suite)))


def suite_from_dict(data: dict, path: str) -> Suite:
    defaults = TimingSettings()  # a file of an older version lacks settings added since
    cases = tuple(SuiteCase(case_from_dict(c["case"]), TimingSettings(**{**asdict(defaults), **c["timing"]}),
                            tuple(c["threads"]),
                            None if c["backends"] is None else tuple(parse_selection(s) for s in c["backends"]),
                            c["isa"], tuple(c.get("cache", (cache_states.DEFAULT,))),
                            None if c.get("pages") is None else tuple(c["pages"]))
                  for c in data["cases"])
    cpus = data.get("cpus")
    return Suite(data["name"], data["description"], path, cases, None if cpus is None else tuple(cpus))
