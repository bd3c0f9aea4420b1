"""Fuzzing what `run --resume` reads from a partial run's metadata (the suite it stored, the text it was read
from, the options): whatever the edit, resuming either goes ahead with a suite and options that pass every
check a new run's do, or is refused in one line per problem naming the file, within the promised time."""

import itertools
import json
import os

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultkit import one_line, places, within_promise
from gemmbench.cases.suite import parse_suite, suite_json
from gemmbench.errors import SuiteError, UsageError
from gemmbench.measure.runner import RunOptions, check_options, resume_plan, run_suite

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 40)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SUITE = ("name: resumable\nbackends: ['numpy:matmul']\n"
         "defaults: {warmup: 0.001, min_time: 0.0002, samples: 3, max_time: 0.05}\n"
         "cases:\n  - {name: small, m: 32, k: 16}\n  - {name: batch, op: gemm, m: 32, k: 16, n: [2, 4]}\n")
NAMES = itertools.count()
WORDS = ["", "x", "numpy", "gemv", "m: 0", "samples: 0", "../x", "time", "shared", "float32", "0", "-1"]
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**65, 2**65), st.integers(-3, 40), st.text(max_size=6),
              st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(WORDS)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5) | st.sampled_from(WORDS),
                                                                inner, max_size=3), max_leaves=6)


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    """A real run's file, cut to its first row and marked partial, as an interrupted run leaves it."""
    out = tmp_path_factory.mktemp("partial")
    path = run_suite(parse_suite(SUITE, str(out / "suite.yaml")), RunOptions(out_dir=out, progress=False)).path
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"gemmbench"])
    resume_plan_of(table.slice(0, 1), {**meta, "complete": False}, out / "warm.parquet")  # imports, untimed
    return table.slice(0, 1), {**meta, "complete": False}


def resume_plan_of(table, meta, path):
    pq.write_table(table.replace_schema_metadata({b"gemmbench": json.dumps(meta).encode()}), path)
    return resume_plan(path)


def edited(resume: dict, draw) -> dict:
    resume = json.loads(json.dumps(resume))
    for _ in range(draw(st.integers(1, 3))):
        container, key = draw(st.sampled_from(places(resume, [])))
        action = draw(st.sampled_from(["replace", "replace", "delete", "text"]))
        if action == "replace":
            container[key] = draw(values)
        elif action == "delete":
            del container[key]
        elif isinstance(container[key], str):  # an edit inside a string: the suite text, a path, a name
            text = container[key]
            position = draw(st.integers(0, len(text)))
            container[key] = text[:position] + draw(st.sampled_from(WORDS + ["\n", "{", ": "])) + \
                text[position + draw(st.integers(0, 6)):]
    return resume


@FUZZ
@given(st.data())
def test_edited_resume_metadata(partial, tmp_path, data):
    table, meta = partial
    path = tmp_path / f"{next(NAMES)}.parquet"
    changed = {**meta, "resume": edited(meta["resume"], data.draw)}
    with within_promise(len(json.dumps(changed))):
        try:
            plan = resume_plan_of(table, changed, path)
        except SuiteError as exc:
            for line in exc.problems:
                one_line(line, f"{path}: cannot resume: ")
            return
        except UsageError as exc:
            one_line(str(exc), f"{path}: ")
            return
    # Going ahead: with a suite that is what its stored text validates to, and options a new run would take.
    assert suite_json(plan.suite) == changed["resume"]["suite"]
    check_options(plan.suite, plan.options)
    assert isinstance(plan.options, RunOptions) and plan.suite.cases
