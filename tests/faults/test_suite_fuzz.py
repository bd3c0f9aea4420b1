"""Fuzzing the suite loader: whatever the document, it yields a valid suite or raises its own
validation error (UsageError, SuiteError) with one line per problem, never anything else, within
the promised time."""

import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultkit import places, within_promise
from gemmbench import registry
from gemmbench.cases.suite import HARNESS_KEYS, TOP_KEYS, parse_suite, shipped_suites, suite_from_dict, suite_to_dict
from gemmbench.errors import SuiteError, UsageError
from gemmbench.measure.runner import RunOptions, check_selections

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PATH = "fuzz.yaml"
WORDS = ["gemv", "gemm", "float32", "float64", "int8", "16x1", "8x4", "3x3", "numpy", "numpy:matmul", "os:system",
         "avx2", "scalar,avx512", "../../etc/x", "", " ", "a\nb", "x" * 300, "name", "cases", "defaults"]
OP_KEYS = sorted({key for name in registry.ops.names() for key in registry.ops.get(name).fields})
KEYS = list(TOP_KEYS) + list(HARNESS_KEYS) + OP_KEYS + ["bogus", "sampels"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70), st.integers(min_value=-4, max_value=5000),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10), st.sampled_from(WORDS))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) |
                      st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4), max_leaves=10)
case_like = st.dictionaries(st.sampled_from(KEYS), values, max_size=9) | values
documents = st.one_of(
    values,
    st.fixed_dictionaries({"name": st.sampled_from(WORDS) | values},
                          optional={"description": values, "backends": values, "isa": values,
                                    "defaults": st.dictionaries(st.sampled_from(KEYS), values, max_size=5),
                                    "cases": st.lists(case_like, max_size=4) | values, "bogus": values}))


def load_checked(text: str) -> None:
    """The contract every input must meet."""
    try:
        with within_promise(len(text.encode())):
            suite = parse_suite(text, PATH)
            check_selections(suite, RunOptions())
    except SuiteError as exc:
        assert exc.problems and all(line.startswith(f"{PATH}: ") and "\n" not in line for line in exc.problems)
        return
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    assert suite.cases and all(c.case.name.isprintable() for c in suite.cases)
    data = json.loads(json.dumps(suite_to_dict(suite)))  # what a worker receives, and --resume stores
    assert suite_from_dict(data, PATH) == suite


@FUZZ
@given(documents)
def test_arbitrary_documents(document):
    load_checked(yaml.safe_dump(document))


SHIPPED = {name: path.read_text() for name, path in sorted(shipped_suites().items())}


@FUZZ
@given(st.sampled_from(sorted(SHIPPED)), st.data())
def test_mutated_shipped_suites(name, data):
    document = yaml.safe_load(SHIPPED[name])
    for _ in range(data.draw(st.integers(1, 4))):
        container, key = data.draw(st.sampled_from(places(document, [])))
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            container[key] = data.draw(values)
        elif action == "delete":
            del container[key]
        elif isinstance(container, dict):
            container[data.draw(st.sampled_from(KEYS))] = data.draw(values)
        else:
            container.append(data.draw(values))
    load_checked(yaml.safe_dump(document))


@FUZZ
@given(st.sampled_from(["", *SHIPPED.values()]),
       st.lists(st.tuples(st.integers(0, 10**5), st.integers(0, 6),
                          st.text(alphabet=" :-[]{}#&*!|>'\"\n\t,.0123456789exy%@`", max_size=6)), max_size=5))
def test_edited_suite_text(text, edits):
    for position, cut, insert in edits:
        position %= len(text) + 1
        text = text[:position] + insert + text[position + cut:]
    load_checked(text)
