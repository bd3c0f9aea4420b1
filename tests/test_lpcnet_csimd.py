"""csimd's fused LPCNet step (lpcnet.c), real compiled C on every variant this CPU runs: against the
composed step over numpy and the float64 reference, state carry, native loop, parts, real runs; with
the fast activations, the tree output and sampling too, and refused where the CPU lacks a level."""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest

from gbtest import results_path
from gemmbench.backend import Variant
from gemmbench.backends.csimd import kernels as K
from gemmbench.backends.csimd import lpcnet
from gemmbench.backends.csimd.backend import CSimdBackend
from gemmbench.backends.numpy_blas import NumpyBackend
from gemmbench.cases.suite import load_suite
from gemmbench.cases.workload import make_workload
from gemmbench.data.results import load_results
from gemmbench.machine import native
from gemmbench.measure import verify
from gemmbench.measure.item import Context, Item
from gemmbench.measure.runner import RunOptions, run_suite
from gemmbench.measure.timing import TimingSettings
from gemmbench.op import Case
from gemmbench.ops.lpcnet_step import PARTS, Composed, LpcnetStep, StepSpec, judge_draws
from gemmbench.ops.matrix import Sparsity, matrix_case

pytestmark = [pytest.mark.skipif(native.find_compiler() is None, reason="no C compiler found"), pytest.mark.slow]  # every kernel x variant x shape: .ci/run and `pytest --slow`

BACKEND = CSimdBackend()
LPCNET = dict(hidden_b=16, cond_size=128, levels=256, frame_size=160)
# Sizes that are no multiple of 16 anywhere the step has a vector loop (gates, output, softmax).
RAGGED = dict(hidden_b=8, cond_size=12, levels=40, frame_size=7)
LPCNET_16X1 = Sparsity((0.05, 0.05, 0.2), (16, 1), True)
# GRU-A's kernel per case: (name, k, sparsity, sizes)
GRU_A = {
    "dense": (384, None, LPCNET),
    "dense-ragged": (40, None, RAGGED),
    "16x1": (384, LPCNET_16X1, LPCNET),
    "16x1-ragged": (48, LPCNET_16X1, RAGGED),
    "8x4": (384, Sparsity((0.1,), (8, 4)), LPCNET),
    "8x4-diag-ragged": (40, Sparsity((0.1, 0.1, 0.3), (8, 4), True), RAGGED),
}


def _lacks(variant: Variant):
    return pytest.mark.skipif(bool(native.missing_cpu_flags(variant.isa)), reason=f"CPU lacks {variant.isa}")


def variants(*precisions: str) -> list:
    """The csimd variants of these precisions, as parameters; those this CPU lacks are skipped."""
    chosen = [v for v in BACKEND.variants() if (v.precision or "float32") in precisions
              and BACKEND.runs(v, "lpcnet_step", frozenset({"gemv"}))]
    return [pytest.param(v, id=v.name, marks=_lacks(v)) for v in chosen]


ALL_VARIANTS = variants("float32", "int8", "bf16", "fp16")


def pairs(kinds) -> list:
    """(variant, GRU-A kind) parameters, only where the variant has a kernel for that GRU-A."""
    return [pytest.param(v, kind, id=f"{v.name}-{kind}", marks=_lacks(v)) for v in BACKEND.variants()
            for kind in kinds if BACKEND.runs(v, "lpcnet_step", frozenset({"gemv"}))
            and not BACKEND.skip_reason(step_case(kind, 1), v)]


def step_case(gru_a: str, steps: int, start: int = 0, conditioning: str = "per_frame", **choices) -> Case:
    """choices: activation, output, sampling (a tree needs levels a power of two: 32 for the ragged sizes)."""
    k, sparsity, sizes = GRU_A[gru_a]
    if choices.get("output") == "tree" and sizes["levels"] & (sizes["levels"] - 1):
        sizes = {**sizes, "levels": 32}
    return Case(gru_a, "lpcnet_step", StepSpec(3 * k, k, 1, sparsity, **sizes, steps=steps, start=start,
                                               conditioning=conditioning, **choices))


@functools.lru_cache(maxsize=None)
def workload(case: Case):
    return make_workload(case)


@functools.lru_cache(maxsize=None)
def composed(case: Case) -> np.ndarray:
    backend, wl = Composed(NumpyBackend()), workload(case)
    out = wl.new_output()
    backend.run(backend.prepare(wl, Variant("matmul")), wl.x, out)
    return out


def fused(case: Case, variant: Variant, state: np.ndarray | None = None):
    """(prepared kernel, output of one run from `state` or the workload's x)."""
    wl = workload(case)
    prepared = BACKEND.prepare(wl, variant)
    out = np.full(wl.reference.shape, np.nan, np.float32)
    BACKEND.run(prepared, wl.x if state is None else state, out)
    return prepared, out


@pytest.mark.parametrize("variant, gru_a", pairs(GRU_A))
@pytest.mark.parametrize("conditioning", ["per_frame", "per_sample"])
@pytest.mark.parametrize("steps", [1, 320])
def test_fused_step_matches_the_composed_step_and_the_reference(variant, gru_a, conditioning, steps):
    case = step_case(gru_a, steps, conditioning=conditioning)
    precision = variant.precision or "float32"
    _, out = fused(case, variant)
    against_reference = verify.check(out, workload(case).reference, precision)
    assert against_reference.ok, against_reference.message
    against_composed = verify.check(out, composed(case).astype(np.float64), precision)
    assert against_composed.ok, against_composed.message
    if precision == "float32":  # the float32 step is as close as the numpy composition, not just within 1e-4
        assert against_reference.rel_err < 2e-6
    levels = case.spec.levels
    assert np.sum(out[-levels:], dtype=np.float64) == pytest.approx(1.0, rel=1e-5) and (out[-levels:] > 0).all()


@pytest.mark.parametrize("variant, gru_a", pairs(["dense-ragged", "16x1", "8x4", "8x4-diag-ragged"]))
@pytest.mark.parametrize("sampling", ["off", "on"])
@pytest.mark.parametrize("activation", ["accurate", "fast"])
def test_the_tree_draws_what_the_float64_reference_draws(variant, gru_a, sampling, activation):
    case = step_case(gru_a, 320, output="tree", sampling=sampling, activation=activation)
    precision = variant.precision or "float32"
    _, out = fused(case, variant)
    verdict = judge_draws(workload(case), out, precision, LpcnetStep().tolerance(case, precision))
    assert verdict.ok, verdict.message
    if precision == "float32" and activation == "accurate":  # exact: no draw leaves the reference's walk
        n = case.spec.state_size
        np.testing.assert_array_equal(out[n:], workload(case).reference[n:])
        assert verdict.columns == {"flipped_samples": 0, "near_tie_flips": 0} and verdict.rel_err < 2e-6


@pytest.mark.parametrize("variant", variants("float32"))
@pytest.mark.parametrize("levels", [2, 8, 64])  # depths 1, 3, 6: the walk's last round stops short of ROUND levels
def test_a_tree_of_any_depth_draws_exactly_what_the_reference_draws(variant, levels):
    k, sparsity, sizes = GRU_A["dense-ragged"]
    case = Case(f"tree-{levels}", "lpcnet_step", StepSpec(3 * k, k, 1, sparsity, **{**sizes, "levels": levels}, steps=40,
                                                          output="tree", sampling="on"))
    _, out = fused(case, variant)
    n = case.spec.state_size
    np.testing.assert_array_equal(out[n:], workload(case).reference[n:])


@pytest.mark.parametrize("variant", variants("float32"))
@pytest.mark.parametrize("output", ["full", "tree"])
def test_fast_activations_cost_what_their_bound_says(variant, output):
    choices = dict(output=output, sampling="on" if output == "tree" else "off")
    case = step_case("16x1", 320, activation="fast", **choices)
    _, out = fused(case, variant)
    n = case.spec.state_size
    to_reference = verify.check(out[:n], workload(case).reference[:n], "float32", 1.0).rel_err
    _, accurate = fused(step_case("16x1", 320, **choices), variant)
    accurate_error = verify.check(accurate[:n], workload(case).reference[:n], "float32", 1.0).rel_err
    assert 10 * accurate_error < to_reference <= LpcnetStep().tolerance(case, "float32")  # the approximation shows
    if variant.isa == "scalar":  # it divides: numpy's rational function, to float32 rounding
        assert verify.check(out, composed(case).astype(np.float64), "float32", 1e-5).ok


@pytest.mark.parametrize("variant", variants("int8", "bf16", "fp16"))
def test_gru_a_alone_in_int8_bf16_or_fp16_passes_too(variant):
    case = step_case("8x4" if variant.precision == "int8" else "16x1", 320)
    step = lpcnet.prepare_step(K.load_kernels(variant.isa), workload(case), variant.precision, small_products_too=False)
    out = workload(case).new_output()
    lpcnet.run(step, workload(case).x, out)
    assert step.precision == variant.precision and step.small_precision == "float32"
    assert "GRU-B float32 dense; output float32 dense and softmax" in lpcnet.describe(step)
    assert "sigmoid and tanh float32 accurate (Cephes exp)" in lpcnet.describe(step)
    assert verify.check(out, workload(case).reference, variant.precision).ok


@pytest.mark.parametrize("variant, gru_a", pairs(["dense-ragged", "16x1-ragged", "8x4-diag-ragged"]))
@pytest.mark.parametrize("output", ["full", "tree"])
def test_two_runs_of_half_the_sequence_equal_one_run(variant, gru_a, output):
    choices = dict(output=output, activation="fast" if output == "tree" else "accurate")
    whole = step_case(gru_a, 30, **choices)
    state_size = whole.spec.state_size
    _, first = fused(step_case(gru_a, 15, **choices), variant)
    _, second = fused(step_case(gru_a, 15, start=15, **choices), variant, state=first[:state_size].copy())
    _, one_run = fused(whole, variant)
    if output == "tree":  # the second call draws the sequence's next 15 samples
        np.testing.assert_array_equal(np.concatenate([first[state_size:], second[state_size:]]), one_run[state_size:])
        second, one_run = second[:state_size], one_run[:state_size]
    np.testing.assert_array_equal(second, one_run)  # the same arithmetic on the same values


@pytest.mark.parametrize("variant, gru_a", pairs(["dense-ragged", "16x1-ragged", "8x4-diag-ragged"]))
@pytest.mark.parametrize("choices", [{}, {"output": "tree", "sampling": "on", "activation": "fast"}], ids=["full", "tree"])
def test_python_and_native_loops_agree_and_every_call_starts_again_from_x(variant, gru_a, choices):
    case = step_case(gru_a, 25, conditioning="per_sample", **choices)
    prepared, out = fused(case, variant)
    x = workload(case).x.copy()
    native_out = np.full_like(out, np.nan)
    assert BACKEND.run_native(prepared, x, native_out, 3) > 0
    np.testing.assert_array_equal(native_out, out)
    again = np.full_like(out, np.nan)
    BACKEND.run(prepared, x, again)
    np.testing.assert_array_equal(again, out)
    np.testing.assert_array_equal(x, workload(case).x)  # x is read, never written


@pytest.mark.parametrize("variant", ALL_VARIANTS)
@pytest.mark.parametrize("output", ["full", "tree"])
def test_parts_are_native_loops_that_leave_the_step_right(variant, output):
    case = step_case("8x4-diag-ragged" if variant.precision == "int8" else "16x1-ragged", 20, output=output,
                     sampling="on" if output == "tree" else "off")
    prepared, out = fused(case, variant)
    parts = BACKEND.parts(prepared, workload(case).x)
    assert tuple(parts) == PARTS
    assert parts["conditioning"][1] == pytest.approx(case.spec.projections / 20)
    for name, (loop, weight) in parts.items():
        assert loop(50) > 0 and (weight == 1.0 or name == "conditioning")
    again = np.full_like(out, np.nan)
    BACKEND.run(prepared, workload(case).x, again)
    np.testing.assert_array_equal(again, out)


def test_gemv_kernels_have_no_parts():
    case = matrix_case("g", 32, 16)
    prepared = BACKEND.prepare(make_workload(case), Variant("scalar", isa="scalar"))
    assert BACKEND.parts(prepared, np.zeros(16, np.float32)) == {}


def test_an_isa_the_cpu_lacks_is_an_unavailable_row_not_a_composition():
    case = step_case("8x4", 1)
    vnni = next(v for v in BACKEND.variants() if v.name == "avx512vnni-int8")
    ctx = Context(TimingSettings(), 100.0, frozenset({"avx2", "fma", "f16c"}))  # an AVX2 machine
    row = Item(LpcnetStep(), BACKEND, vnni, workload(case), ctx).start()
    assert row["status"] == "unavailable" and "CPU lacks avx512f" in row["message"]


def test_a_real_run_times_the_fused_step_and_its_parts(write_suite, tmp_path):
    suite = load_suite(write_suite("""
name: fused
backends: [csimd]
cases:
  - {name: s8x4, op: lpcnet_step, m: 120, k: 40, hidden_b: 8, cond_size: 12, levels: 40, frame_size: 7,
     steps: 30, density: 0.2, block: 8x4}
  - {name: s16x1, op: lpcnet_step, m: 144, k: 48, hidden_b: 8, cond_size: 12, levels: 40, frame_size: 7,
     steps: 30, density: {u: 0.1, r: 0.1, s: 0.3}, block: 16x1, keep_diagonal: true}
  - {name: s8x4-tree, op: lpcnet_step, m: 120, k: 40, hidden_b: 8, cond_size: 12, levels: 32, frame_size: 7,
     steps: 30, density: 0.2, block: 8x4, output: tree, sampling: on, activation: fast}
"""))
    outcome = run_suite(suite, RunOptions(out_dir=tmp_path, progress=False))
    rows = {(r.case, r.variant): r for r in load_results(outcome.path).itertuples()}
    lacking = {isa for isa in K.LEVELS if native.missing_cpu_flags(isa)}
    for (case, variant), row in rows.items():
        if variant in ("amx-int8", "amx-bf16"):  # tiles run batched GEMM only
            assert row.status == "unavailable" or "dense batched GEMM only" in row.message
            continue
        if variant.split("-")[0] in lacking:  # the CPU is asked first: a level it lacks never reaches the case
            assert row.status == "unavailable"
            continue
        int8 = variant.endswith("-int8")
        if case.startswith("s8x4") != int8:
            assert row.status == "skipped" and "sparse kernel takes" in row.message
            continue
        assert row.status == "ok", row.message
        assert row.detail.startswith("lpcnet_step fused in C") and "cc -O" in row.detail
        tree = case == "s8x4-tree"
        assert (row.output, row.sampling, row.activation) == (("tree", "on", "fast") if tree else ("full", "off", "accurate"))
        assert ("output a tree draw" in row.detail and "fast (rational)" in row.detail) == tree
        assert (row.flipped_samples >= 0) if tree else np.isnan(row.flipped_samples)
        half = variant.split("-")[-1] if variant.endswith(("-bf16", "-fp16")) else None
        gru_a = "sparse8x4_int8_gemv" if int8 else f"sparse16_{half}_gemv" if half else "sparse16_sgemv"
        assert f"GRU-A {gru_a}" in row.detail
        assert row.native_median_ns > 0 and row.native_rtf == pytest.approx(row.native_median_ns / 30 * 16000e-9)
        assert row.median_ns > 0 and row.rtf == pytest.approx(row.median_ns / 30 * 16000e-9)
        shares = [getattr(row, f"share_{name}") for name in PARTS]
        assert sum(shares) == pytest.approx(1.0) and min(shares) > 0 and row.parts_ratio > 0


def test_each_new_variant_is_refused_in_one_line_where_the_cpu_lacks_its_level(write_suite, tmp_path, cli):
    """A real run on a simulated AVX2 machine: the tree, fast and sampling rows of the AVX-512 levels are
    unavailable with the reason, the AVX2 ones run."""
    suite = write_suite("""
name: lacking
backends: ["csimd:avx2-int8", "csimd:avx512vnni-int8", "csimd:avx2", "csimd:avx512"]
cases:
  - {name: s8x4, op: lpcnet_step, m: 120, k: 40, hidden_b: 8, cond_size: 12, levels: 32, frame_size: 7, steps: 20,
     density: 0.2, block: 8x4, output: tree, sampling: [off, on], activation: fast}
  - {name: s16x1, op: lpcnet_step, m: 144, k: 48, hidden_b: 8, cond_size: 12, levels: 32, frame_size: 7, steps: 20,
     density: {u: 0.1, r: 0.1, s: 0.3}, block: 16x1, output: [full, tree], activation: [accurate, fast]}
""")
    if native.missing_cpu_flags("avx2"):
        pytest.skip("CPU lacks avx2")
    result = cli("run", suite, "-o", tmp_path, "--no-check", "--no-progress",
                 env={**os.environ, "GEMMBENCH_CPU_FLAGS": "-avx512f"})
    assert result.returncode == 0, result.stderr
    rows = load_results(results_path(result.stdout))
    assert len(rows) == 6 * 4  # 2 + 4 cases on 4 variants
    for row in rows.itertuples():
        if row.variant.startswith("avx512"):  # availability is decided before the case is looked at
            assert row.status == "unavailable" and row.message.startswith("CPU lacks ") and "avx512f" in row.message
            assert "\n" not in row.message
        elif row.case.startswith("s8x4") == row.variant.endswith("-int8"):
            assert row.status == "ok", row.message
        else:
            assert row.status == "skipped"
