"""Every convolution method, on the backend it is registered for, against the float64 reference:
odd shapes (T shorter than the span, channels not a multiple of the vector width, every padding
and layout, dilation), transposed layers, streaming sequences, Winograd's error, native loops."""

from __future__ import annotations

import numpy as np
import pytest

from gemmbench import registry
from gemmbench.machine import fingerprint as machine
from gemmbench.measure.verify import check
from gemmbench.method import MethodBackend
from gemmbench.op import Calls, Case
from gemmbench.ops import conv1d as op
from gemmbench.ops.conv1d import Conv1dSpec

pytestmark = pytest.mark.slow  # every kernel x variant x shape: .ci/run and `pytest --slow`

CONV = op.Conv1d()
FLAGS = machine.cpu_flags()


def conv1d_variants(name: str) -> list:
    return [v for v in registry.variants_of(registry.backends.get(name)) if v.ops == {"conv1d"}]


def method_backend(name: str, variant_name: str):
    """The backend a method variant's row runs on, as the worker makes it, and the variant."""
    variant = next(v for v in conv1d_variants(name) if v.name == variant_name)
    return MethodBackend(registry.backends.get(name), registry.methods.get(variant.method)), variant


def rows(backends=("numpy", "scipy", "csimd", "torch")):
    """(backend, variant) of every conv1d variant."""
    return [(b, v.name) for b in backends for v in conv1d_variants(b)]


def run_once(backend_name: str, variant_name: str, case: Case):
    """prepare + one call as the harness does; None when the variant skips the case."""
    if backend_name == "torch":
        pytest.importorskip("torch")
    backend, variant = method_backend(backend_name, variant_name)
    ok, reason = backend.available()
    if not ok:
        pytest.skip(reason)
    ok, reason = backend.variant_available(variant, FLAGS)
    if not ok:
        pytest.skip(reason)
    if backend.skip_reason(case, variant):
        return None
    workload = CONV.make(case)
    prepared = backend.prepare(workload, variant)
    out = np.full(workload.reference.shape, np.nan, dtype=case.dtype)
    x = workload.x.copy()
    backend.run(prepared, x, out)
    return backend, prepared, workload, x, out, variant


def precision(variant) -> str:
    return variant.precision or "float32"


ODD = [  # (c_in, c_out, k, t, dilation)
    (3, 5, 3, 2, 1),  # T shorter than the kernel
    (17, 33, 3, 40, 1),  # channels past one vector, not a multiple of 16
    (5, 19, 3, 7, 3),  # dilated: T shorter than the span 6
    (2, 7, 4, 61, 2),  # even kernel: same padding is asymmetric
    (40, 3, 1, 13, 1),  # one tap
    (9, 20, 3, 401, 3),  # past the direct kernels' blocks of 192 frames
]


@pytest.mark.parametrize("backend,variant", rows())
@pytest.mark.parametrize("shape", ODD, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("padding", op.PADDINGS)
@pytest.mark.parametrize("layout", op.LAYOUTS)
def test_method_matches_reference(backend, variant, shape, padding, layout):
    spec = Conv1dSpec(*shape, padding=padding, layout=layout)
    if op.validate(spec):
        pytest.skip("invalid case")
    got = run_once(backend, variant, Case("odd", "conv1d", spec, "float32", 7))
    if got is None:
        pytest.skip("the variant skips this case")
    _, _, workload, _, out, v = got
    verdict = check(out, workload.reference, precision(v), CONV.tolerance(workload.case, precision(v)))
    assert verdict.ok, verdict.message


@pytest.mark.parametrize("backend,variant", rows())
@pytest.mark.parametrize("shape", [(4, 6, 4, 5, 1, 2), (3, 17, 16, 3, 1, 8), (5, 2, 3, 4, 2, 3),
                                   (3, 5, 3, 70, 2, 2)],  # dilation 2, stride 2: odd phases get no tap
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("padding", op.PADDINGS)
@pytest.mark.parametrize("layout", op.LAYOUTS)
def test_transposed_method_matches_reference(backend, variant, shape, padding, layout):
    c_in, c_out, k, t, d, s = shape
    spec = Conv1dSpec(c_in, c_out, k, t, d, padding, layout, s, "transpose")
    got = run_once(backend, variant, Case("up", "conv1d", spec, "float32", 3))
    if got is None:
        pytest.skip("the variant skips this case")
    _, prepared, workload, _, out, v = got
    verdict = check(out, workload.reference, precision(v), CONV.tolerance(workload.case, precision(v)))
    assert verdict.ok, f"{prepared.facts.method}: {verdict.message}"


def test_every_mode_has_rows_beyond_the_skips():
    """Skips are the exception: each variant runs most of the odd cases."""
    runs = {}
    for b, v in rows(("numpy", "scipy", "csimd")):
        backend, variant = method_backend(b, v)
        cases = [Case("odd", "conv1d", Conv1dSpec(*s, padding="same", layout="channels-last")) for s in ODD]
        runs[v] = sum(not backend.skip_reason(case, variant) for case in cases)
    assert runs["direct-scalar"] == len(ODD) and runs["im2col"] == len(ODD)
    assert runs["mec"] == 3  # channels-last, dilation 1 only (three of the odd shapes)
    assert runs["col2im"] == 0  # transposed layers only


@pytest.mark.parametrize("backend,variant", rows())
@pytest.mark.parametrize("t", [1, 3])
@pytest.mark.parametrize("layout", op.LAYOUTS)
def test_streaming_sequence_equals_whole_sequence(backend, variant, t, layout):
    """Distinct frames fed call by call give the causal convolution of the whole stream."""
    spec = Conv1dSpec(19, 21, 3, t, 2, "causal", layout, mode="streaming")
    got = run_once(backend, variant, Case("stream", "conv1d", spec, "float32", 11))
    if got is None:
        pytest.skip("the variant skips this case")
    b, prepared, workload, x, out, v = got
    b.reset(prepared)
    calls = 5
    stream = np.random.default_rng(0).uniform(-1, 1, spec.frames(spec.c_in, t * calls)).astype(np.float32)
    outputs = []
    for i in range(calls):
        x[...] = stream[i * t:(i + 1) * t] if spec.channels_last else stream[:, i * t:(i + 1) * t]
        b.run(prepared, x, out)
        outputs.append(op.to_channels_first(out, spec).copy())
    sequence = np.concatenate([op.to_channels_first(workload.history, spec), op.to_channels_first(stream, spec)],
                              axis=1).astype(np.float64)
    expected = op.correlate(sequence, workload.weights.astype(np.float64), spec.dilation)
    verdict = check(np.concatenate(outputs, axis=1), expected, precision(v), CONV.tolerance(workload.case, precision(v)))
    assert verdict.ok, verdict.message
    # and the op's own check, with the harness's Calls
    calls_ = Calls(out, lambda: b.run(prepared, x, out), None, lambda: b.reset(prepared))
    x[...] = workload.x
    assert CONV.verify(workload, calls_, precision(v)).ok


WINOGRAD = [(b, v) for b, v in rows(("csimd",)) if v.startswith("winograd")]


@pytest.mark.parametrize("backend,variant", WINOGRAD)
def test_winograd_error_within_its_tolerance_and_growing_with_m(backend, variant):
    spec = Conv1dSpec(128, 128, 3, 300, 1, "same", "channels-last")
    case = Case("lpcnet", "conv1d", spec, "float32", 1)
    _, prepared, workload, x, out, v = run_once(backend, variant, case)
    direct = run_once(backend, variant.replace(variant.split("-")[0], "direct"), case)[-2]
    err = check(out, workload.reference, "float32").rel_err
    direct_err = check(direct, workload.reference, "float32").rel_err
    assert err <= CONV.tolerance(case, v.precision)
    m = int(variant.split("-")[0][-1])
    assert prepared.facts.flops < workload.reference.size * 2 * 128 * 3  # fewer products than dense
    if m == 6:  # F(6,3)'s points +-1/2 and +-2: its error is above the direct kernel's
        assert err > direct_err


@pytest.mark.parametrize("backend,variant", [r for r in rows(("csimd",))])
def test_native_loop_gives_the_same_output(backend, variant):
    spec = Conv1dSpec(9, 20, 3, 30, 1, "same", "channels-first")
    b, prepared, workload, x, out, v = run_once(backend, variant, Case("n", "conv1d", spec, "float32", 2))
    assert b.offers("run_native")
    native = np.full_like(out, np.nan)
    assert b.run_native(prepared, x, native, 3) > 0
    np.testing.assert_array_equal(native, out)


def test_facts_columns_report_workspace():
    spec = Conv1dSpec(16, 8, 3, 50, 1, "same", "channels-last")
    case = Case("f", "conv1d", spec, "float32", 2)
    cols = {}
    for b, v in (("numpy", "im2col"), ("numpy", "mec"), ("numpy", "shifted"), ("csimd", "direct-scalar")):
        backend, prepared, *_ = run_once(b, v, case)
        cols[v] = backend.facts(prepared, case)
    assert cols["im2col"]["workspace_bytes"] == 4 * 3 * 16 * 50
    assert cols["direct-scalar"]["workspace_bytes"] == cols["shifted"]["workspace_bytes"] == 0
    assert cols["mec"]["workspace_bytes"] == 4 * 2 * 3 * 16  # the two padded windows only
    assert cols["im2col"]["method_flops"] == 2 * 16 * 8 * 3 * 50


@pytest.mark.parametrize("backend,variant", rows(("numpy", "scipy")))
@pytest.mark.parametrize("mode", ["conv", "streaming", "transpose"])
def test_numpy_methods_run_float64_at_its_tolerance(backend, variant, mode):
    spec = Conv1dSpec(6, 9, 3, 11, 1, "causal", "channels-last", 2 if mode == "transpose" else 1, mode)
    got = run_once(backend, variant, Case("f64", "conv1d", spec, "float64", 4))
    if got is None:
        pytest.skip("the variant skips this case")
    _, _, workload, _, out, _ = got
    assert out.dtype == np.float64
    verdict = check(out, workload.reference, "float64", CONV.tolerance(workload.case, "float64"))
    assert verdict.ok, verdict.message


def test_polyphase_transposed_layer_multiplies_no_inserted_zero():
    spec = Conv1dSpec(16, 8, 16, 40, 1, "same", "channels-last", 8, "transpose")
    case = Case("hifigan", "conv1d", spec, "float32", 5)
    polyphase, prepared, workload, _, out, _ = run_once("csimd", "direct-scalar", case)
    im2col, zero_insert, *_ = run_once("numpy", "im2col", case)
    assert prepared.facts.method == "polyphase" and prepared.facts.workspace_bytes == 0
    assert zero_insert.facts.method == "zero-insert+im2col"
    # every phase product is one of the layer's own (dense count, less the products cropped away)
    assert prepared.facts.flops <= CONV.counts(case).flops < zero_insert.facts.flops / 4
    assert check(out, workload.reference, "float32").ok
