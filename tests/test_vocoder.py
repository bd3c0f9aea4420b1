"""lpcnet_step: the composed step against the float64 reference, state carry, RTF and parts."""

import numpy as np
import pytest

from gbtest import composed_step
from gemmbench.backend import Backend, Variant
from gemmbench.cases.suite import load_suite, parse_suite
from gemmbench.cases.workload import counts, make_workload
from gemmbench.data.results import load_results
from gemmbench.errors import SuiteError
from gemmbench.measure import verify
from gemmbench.measure.runner import RunOptions, run_suite
from gemmbench.op import Case
from gemmbench.ops.lpcnet_step import Composed, StepSpec, derived_columns, part_columns, reference_run
from gemmbench.ops.matrix import Sparsity

SMALL = dict(hidden_b=8, cond_size=16, levels=32, frame_size=10)


def step_case(steps=1, start=0, dtype="float32", conditioning="per_frame", sparsity=None, k=32, seed=0):
    spec = StepSpec(3 * k, k, 1, sparsity, **SMALL, steps=steps, start=start, conditioning=conditioning)
    return Case("step", "lpcnet_step", spec, dtype, seed)


@pytest.mark.parametrize("dtype, precision", [("float32", "float32"), ("float64", "float64")])
@pytest.mark.parametrize("sparsity", [None, Sparsity((0.05, 0.05, 0.2), (16, 1), True)])
@pytest.mark.parametrize("conditioning", ["per_frame", "per_sample"])
def test_composed_step_matches_the_float64_reference(dtype, precision, sparsity, conditioning):
    case = step_case(steps=25, dtype=dtype, conditioning=conditioning, sparsity=sparsity, k=48)
    workload, out = composed_step(case)
    verdict = verify.check(out, workload.reference, precision)
    assert verdict.ok, verdict.message
    probabilities = out[-SMALL["levels"]:]
    assert probabilities.sum() == pytest.approx(1.0, rel=1e-5) and (probabilities > 0).all()


def test_two_runs_of_half_the_sequence_equal_one_run():
    whole = make_workload(step_case(steps=30))
    first_half = make_workload(step_case(steps=15))
    dims = whole.case.spec
    mid_state = first_half.reference[:dims.state_size]
    second = make_workload(step_case(steps=15, start=15))
    assert np.array_equal(second.x, whole.x)  # the initial state does not depend on the length
    continued = reference_run(second.case.spec, second.extra, mid_state, 0).out
    np.testing.assert_array_equal(continued, whole.reference)
    # the composed backend carries state the same way
    _, out_first = composed_step(step_case(steps=15))
    _, out_second = composed_step(step_case(steps=15, start=15), state=out_first[:dims.state_size])
    _, out_whole = composed_step(step_case(steps=30))
    np.testing.assert_allclose(out_second, out_whole, rtol=0, atol=1e-6)


def test_precomputation_saves_the_conditioning_flops():
    per_frame = step_case(steps=40, conditioning="per_frame")
    per_sample = step_case(steps=40, conditioning="per_sample")
    dims = per_frame.spec
    projection = 2 * (3 * dims.hidden_a + 3 * dims.hidden_b) * dims.cond_size
    assert per_frame.spec.projections == 4 and per_sample.spec.projections == 40
    assert counts(per_sample).flops - counts(per_frame).flops == (40 - 4) * projection


def test_sparse_step_counts_useful_flops_of_gru_a_only():
    dense = step_case(steps=2)
    sparse = step_case(steps=2, sparsity=Sparsity((0.25,), (16, 1)))
    assert counts(dense).flops == counts(sparse).flops
    spec = sparse.spec
    assert counts(dense).flops - counts(sparse).useful == 2 * 2 * (spec.m * spec.k - spec.nonzeros)


def test_rtf_arithmetic_on_a_synthetic_row():
    case = step_case(steps=1600)
    row = {"median_ns": 1600 * 50_000.0, "native_median_ns": 1600 * 2_000.0}
    columns = derived_columns(case.spec, row)
    assert columns["time_per_sample_ns"] == 50_000.0 and columns["rtf"] == pytest.approx(0.8)
    assert columns["native_time_per_sample_ns"] == 2_000.0 and columns["native_rtf"] == pytest.approx(0.032)
    assert columns["steps"] == 1600 and columns["sample_rate"] == 16000


def test_part_shares_sum_to_one_and_a_mismatch_warns():
    parts = {"conditioning": 1.0, "gru_a_product": 60.0, "gru_a_gates": 20.0, "gru_b": 10.0, "output": 9.0}
    fits = part_columns(parts, whole_step_ns=104.0)
    assert sum(fits[f"share_{name}"] for name in parts) == pytest.approx(1.0)
    assert fits["share_gru_a_product"] == pytest.approx(0.6) and fits["part_gru_b_ns"] == 10.0
    assert not fits["parts_warning"] and fits["parts_ratio"] == pytest.approx(100 / 104)
    assert part_columns(parts, whole_step_ns=125.0)["parts_warning"]  # parts explain only 80%
    assert part_columns(parts, whole_step_ns=85.0)["parts_warning"]  # parts exceed the whole


def test_composition_needs_gemv():
    class MatrixOnly(Backend):
        name = "gemm-only"
        ops = frozenset({"gemm"})

        def prepare(self, workload, variant):
            return workload.weights

        def run(self, prepared, x, out):
            np.matmul(prepared, x, out=out)

    reason = Composed(MatrixOnly()).skip_reason(step_case(), Variant("default"))
    assert "neither lpcnet_step nor the gemv products" in reason


def test_suite_validation_of_step_fields():
    with pytest.raises(SuiteError) as info:
        parse_suite("name: t\ncases:\n  - {name: s, op: lpcnet_step, m: 100, k: 384, conditioning: sometimes, "
                    "steps: 0}\n", "v.yaml")
    text = "\n".join(info.value.problems)
    assert "field 'm': lpcnet_step needs m = 3 k" in text
    assert "field 'conditioning': must be one of per_frame, per_sample" in text
    assert "field 'steps': must be a positive integer" in text
    with pytest.raises(SuiteError, match="unknown field 'steps'"):
        parse_suite("name: t\ncases: [{name: g, m: 4, k: 4, steps: 3}]\n", "v.yaml")


def test_a_real_run_stores_rtf_and_parts(write_suite, tmp_path):
    suite = load_suite(write_suite("""
name: voc
backends: [numpy]
cases:
  - name: step
    op: lpcnet_step
    m: 96
    k: 32
    hidden_b: 8
    cond_size: 16
    levels: 32
    frame_size: 10
    steps: 20
"""))
    outcome = run_suite(suite, RunOptions(out_dir=tmp_path, progress=False))
    (row,) = load_results(outcome.path).itertuples()
    assert row.status == "ok", row.message
    assert row.steps == 20 and row.time_per_sample_ns == pytest.approx(row.median_ns / 20)
    assert row.rtf == pytest.approx(row.time_per_sample_ns * 16000e-9)
    shares = [row.share_conditioning, row.share_gru_a_product, row.share_gru_a_gates, row.share_gru_b,
              row.share_output]
    assert sum(shares) == pytest.approx(1.0) and min(shares) > 0
    assert row.parts_ratio > 0 and row.detail.startswith("composed in numpy over numpy gemv")


def test_a_fresh_process_finds_lpcnet_step_through_the_op_registry_without_import_side_effects():
    import subprocess
    import sys

    code = ("import sys, gemmbench.cases.workload, gemmbench.cases.suite, gemmbench.data.results\n"
            "assert 'gemmbench.ops.lpcnet_step' not in sys.modules\n"  # nothing registers itself on import
            "from gemmbench import registry\n"
            "assert registry.ops.get('lpcnet_step').name == 'lpcnet_step'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
