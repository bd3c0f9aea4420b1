"""lpcnet_step's tree output and sampling: the stated random stream, the tree walk against the float64
reference on a seeded stream, the sequences sampling on and off feed the step, how draws are judged
(flips counted once on the backend's path), and the case fields that choose them."""

from __future__ import annotations

import numpy as np
import pytest

from gbtest import composed_step
from gemmbench.backend import Variant
from gemmbench.backends.numpy_blas import NumpyBackend
from gemmbench.cases.suite import load_suite, parse_suite
from gemmbench.cases.workload import make_workload
from gemmbench.data.results import load_results
from gemmbench.errors import SuiteError
from gemmbench.measure.runner import RunOptions, run_suite
from gemmbench.measure.verify import TOLERANCE
from gemmbench.op import Calls, Case
from gemmbench.ops import lpcnet_sampling as tree
from gemmbench.ops.lpcnet_step import FAST_TOLERANCE, Composed, LpcnetStep, StepSpec, judge_draws, reference_run

SMALL = dict(hidden_b=8, cond_size=16, levels=32, frame_size=10)
OP = LpcnetStep()


def step_case(steps=40, start=0, output="tree", sampling="off", activation="accurate", seed=3, **sizes):
    spec = StepSpec(96, 32, 1, None, **{**SMALL, **sizes}, steps=steps, start=start, output=output,
                    sampling=sampling, activation=activation)
    return Case("tree", "lpcnet_step", spec, "float32", seed)


def verdict_of(workload, out, precision="float32"):
    return judge_draws(workload, out, precision, OP.tolerance(workload.case, precision))


# ---- the stream

def test_the_draws_are_splitmix64_outputs():
    # SplitMix64's published outputs: seed 0 starts e220a8397b1dcdaf, 6e789e6aa1b965f4; seed 1234567
    # starts 6457827717110365317, 3203168211198807973 (the reference implementation's test vector)
    assert [tree.draw_word(0, t) for t in range(2)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]
    assert [tree.draw_word(1234567, t) for t in range(2)] == [6457827717110365317, 3203168211198807973]
    assert tree.draw_key(2**64 - 1) == -1 and tree.draw_key(5) == 5  # the same 64 bits as C's int64


def test_thresholds_are_the_logits_of_the_draw_bytes_midpoints():
    u = 1 / (1 + np.exp(-tree.THRESHOLDS.astype(np.float64)))
    np.testing.assert_allclose(u, (np.arange(256) + 0.5) / 256, rtol=1e-6)
    assert tree.THRESHOLDS.dtype == np.float32 and (np.diff(tree.THRESHOLDS) > 0).all()


def test_a_walk_reads_one_draw_byte_per_level_and_goes_right_above_the_threshold():
    word = 0x00_00_00_00_00_FF_00_80  # level 0: byte 0x80 (u = 0.502), level 1: 0x00, level 2: 0xff
    visited = []

    def logit(node: int) -> float:
        visited.append(node)
        return 0.005  # sigmoid 0.50125: below u = 0.502, above u = 0.002, below u = 0.998

    walk = tree.walk(logit, word, 3)
    assert visited == [1, 2, 5] and walk.sample == 2  # left, right, left: 0b010
    assert walk.margins[0] == pytest.approx(0.005 - float(tree.THRESHOLDS[0x80]))
    assert [tree.depth_of(n) for n in (2, 32, 256, 512, 40, 1)] == [1, 5, 8, None, None, None]


# ---- the tree against the float64 reference

@pytest.mark.parametrize("sampling", ["off", "on"])
def test_the_float32_tree_draws_exactly_what_the_float64_reference_draws(sampling):
    workload, out = composed_step(step_case(steps=60, sampling=sampling))
    dims = workload.case.spec
    np.testing.assert_array_equal(out[dims.state_size:], workload.reference[dims.state_size:])
    verdict = verdict_of(workload, out)
    assert verdict.ok and verdict.columns == {"flipped_samples": 0, "near_tie_flips": 0}
    assert verdict.rel_err < 1e-5  # the state [ha, hb]
    draws = out[dims.state_size:]
    assert len(set(draws.tolist())) > 10  # the draws spread over the levels


def test_fast_activations_are_judged_at_their_own_tolerance():
    case = step_case(activation="fast")
    assert OP.tolerance(case, "float32") == pytest.approx(TOLERANCE["float32"] + FAST_TOLERANCE)
    assert OP.tolerance(step_case(), "float32") == TOLERANCE["float32"]
    workload, out = composed_step(case)
    verdict = verdict_of(workload, out)
    assert verdict.ok and 1e-5 < verdict.rel_err <= FAST_TOLERANCE  # the approximation shows, within its allowance


# ---- sampling on and off

def test_fed_inputs_follow_the_stated_rule():
    inputs = np.array([[5, 6, 7], [10, 200, 30], [200, 250, 90]], np.int32)
    assert tree.fed_inputs(inputs, 1, 0, 256, None) == (10, 200, 30)  # teacher-forced: the sequence
    assert tree.fed_inputs(inputs, 0, 0, 256, 99) == (5, 6, 7)  # a call's first sample: the sequence
    assert tree.fed_inputs(inputs, 1, 0, 256, 140) == (6 + 140 - 128, 200, 140)  # prediction of t-1 + draw
    assert tree.fed_inputs(inputs, 2, 0, 256, 255) == (255, 250, 255)  # 200 + 255 - 128, clamped
    assert tree.fed_inputs(inputs, 1, 0, 256, 0) == (0, 200, 0)  # 6 + 0 - 128, clamped


def test_sampling_on_feeds_the_step_its_own_draws():
    workload_off, out_off = composed_step(step_case(sampling="off"))
    workload_on, out_on = composed_step(step_case(sampling="on"))
    n = workload_on.case.spec.state_size
    assert not np.array_equal(out_on[:n], out_off[:n])  # other inputs, another trajectory
    draws = workload_on.reference[n:].astype(np.int64)
    # the reference replaying its own draws is itself; teacher-forced with those inputs it is too
    replay = reference_run(workload_on.case.spec, workload_on.extra, workload_on.x, 3, draws)
    np.testing.assert_array_equal(replay.out, workload_on.reference)
    forced = dict(workload_on.extra)
    inputs = forced["inputs"].copy()
    for t in range(1, len(draws)):
        inputs[t] = tree.fed_inputs(workload_on.extra["inputs"], t, 0, SMALL["levels"], int(draws[t - 1]))
    forced["inputs"] = inputs
    off_spec = step_case(sampling="off").spec
    np.testing.assert_array_equal(reference_run(off_spec, forced, workload_on.x, 3).out, workload_on.reference)


def test_two_calls_continue_one_sequence_of_draws():
    whole = make_workload(step_case(steps=30))
    first = make_workload(step_case(steps=15))
    second_case = step_case(steps=15, start=15)
    continued = reference_run(second_case.spec, make_workload(second_case).extra, first.reference[:40], 3).out
    np.testing.assert_array_equal(np.concatenate([first.reference[40:], continued[40:]]), whole.reference[40:])


# ---- judging draws

def _doctored(workload, out, t: int):
    """The output with draw t moved to the other child at its last level (a flip of one decision)."""
    changed = out.copy()
    at = workload.case.spec.state_size + t
    changed[at] = float(int(changed[at]) ^ 1)
    return changed


@pytest.mark.parametrize("sampling", ["off", "on"])
def test_one_flipped_draw_counts_once_even_when_it_is_fed_back(sampling):
    workload, out = composed_step(step_case(steps=40, sampling=sampling))
    flipped = _doctored(workload, out, 10)
    as_int8 = verdict_of(workload, flipped, "int8")  # int8 may flip 4%: 1 of 40 is within
    as_float32 = verdict_of(workload, flipped, "float32")
    assert as_int8.columns["flipped_samples"] == 1 == as_float32.columns["flipped_samples"]
    assert as_int8.ok and not as_float32.ok
    assert "1 of 40 draws took the other branch" in as_float32.message and "float32 accurate allowance of 0" in as_float32.message


def test_a_flip_at_a_near_tie_is_excused_and_one_beyond_is_not():
    got, want = np.array([3, 5, 6, 7]), np.array([3, 4, 6, 6])
    margins = np.full((4, 3), 0.5)
    margins[1, 2] = 5e-5  # sample 1 differs at its last level (4 ^ 5 = 1): a near tie
    flips = tree.count_flips(got, want, margins, 3, allowed=0)
    assert (flips.differing, flips.near_ties, flips.beyond_ties, flips.ok) == (2, 1, 1, False)
    assert tree.count_flips(got, want, margins, 3, allowed=1).ok


def test_draws_that_are_not_levels_are_wrong():
    workload, out = composed_step(step_case(steps=10))
    bad = out.copy()
    bad[-1] = 2.5
    verdict = verdict_of(workload, bad)
    assert not verdict.ok and "1 draws are not levels 0 .. 31 (first: 2.5)" in verdict.message


def test_verify_runs_the_call_and_judges_the_draws():
    workload = make_workload(step_case(steps=12, sampling="on"))
    backend = Composed(NumpyBackend())
    prepared = backend.prepare(workload, Variant("matmul"))
    out = workload.new_output()
    verdict = OP.verify(workload, Calls(out, lambda: backend.run(prepared, workload.x, out), None, lambda: None), "float32")
    assert verdict.ok and verdict.columns["flipped_samples"] == 0 and np.isfinite(out).all()


# ---- the fields

def test_suite_fields_choose_the_variants_and_bad_ones_are_one_line_each():
    suite = parse_suite("name: t\ncases:\n  - {name: s, op: lpcnet_step, m: 96, k: 32, levels: 32, output: tree, "
                        "sampling: on, activation: fast}\n", "v.yaml")
    spec = suite.cases[0].case.spec
    assert (spec.output, spec.sampling, spec.activation) == ("tree", "on", "fast")  # YAML's bare on is true
    with pytest.raises(SuiteError) as info:
        parse_suite("name: t\ncases:\n  - {name: s, op: lpcnet_step, m: 96, k: 32, levels: 40, output: tree}\n"
                    "  - {name: u, op: lpcnet_step, m: 96, k: 32, sampling: on}\n"
                    "  - {name: v, op: lpcnet_step, m: 96, k: 32, sampling: sometimes, activation: quick, "
                    "output: half}\n", "v.yaml")
    lines = info.value.problems
    assert any("field 'levels': output: tree draws down a binary tree" in line and "got 40" in line for line in lines)
    assert any("field 'sampling': sampling: on feeds back the tree's draws: it needs output: tree" in line
               for line in lines)
    assert any("field 'sampling': must be on or off, got 'sometimes'" in line for line in lines)
    assert any("field 'activation': must be one of accurate, fast" in line for line in lines)
    assert any("field 'output': must be one of full, tree" in line for line in lines)
    assert all("\n" not in line for line in lines)


def test_a_real_run_records_the_choices_in_each_row(write_suite, tmp_path):
    suite = load_suite(write_suite("""
name: tree
backends: [numpy]
cases:
  - {name: step, op: lpcnet_step, m: 96, k: 32, hidden_b: 8, cond_size: 16, levels: 32, frame_size: 10, steps: 20,
     output: tree, sampling: on, activation: [accurate, fast]}
"""))
    outcome = run_suite(suite, RunOptions(out_dir=tmp_path, progress=False))
    rows = {r.activation: r for r in load_results(outcome.path).itertuples()}
    for activation, row in rows.items():
        assert row.status == "ok", row.message
        assert (row.output, row.sampling, row.flipped_samples, row.near_tie_flips) == ("tree", "on", 0, 0)
        assert row.share_output > 0 and row.tolerance == OP.tolerance(step_case(activation=activation), "float32")
    assert rows["fast"].activation_max_abs_err == pytest.approx(4.5622e-4, rel=1e-4)  # 9.0e-5 + 1.5 x 2^-12
    assert rows["accurate"].activation_max_abs_err == 2.5e-7
