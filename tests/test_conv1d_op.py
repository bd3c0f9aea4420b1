"""op conv1d: its geometry, float64 reference (against independent computations), counts,
case validation and the streaming check of its verify."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.signal

from gemmbench.op import Calls, Case
from gemmbench.ops import conv1d as op
from gemmbench.ops.conv1d import Conv1dSpec


def case(**fields) -> Case:
    return Case("c", "conv1d", Conv1dSpec(**fields), fields.pop("dtype", "float32"), 3)


def scipy_reference(spec: Conv1dSpec, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per channel pair with scipy.signal.correlate on the explicitly padded, dilated kernel."""
    xc = (x.T if spec.channels_last else x).astype(np.float64)
    left, right = spec.pads
    xp = np.pad(xc, ((0, 0), (left, right)))
    dilated = np.zeros(w.shape[:2] + (spec.span + 1,))
    dilated[:, :, ::spec.dilation] = w
    out = np.array([[scipy.signal.correlate(xp[i], dilated[o, i], mode="valid") for i in range(spec.c_in)]
                    for o in range(spec.c_out)]).sum(axis=1)
    return out.T if spec.channels_last else out


def naive_transpose(spec: Conv1dSpec, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Element by element: full[o, t s + k d] += w[i, o, k] x[i, t], then the crop."""
    xc = (x.T if spec.channels_last else x).astype(np.float64)
    full = np.zeros((spec.c_out, spec.full_out))
    for i, o, k, t in itertools.product(range(spec.c_in), range(spec.c_out), range(spec.k), range(spec.t)):
        full[o, t * spec.stride + k * spec.dilation] += w[i, o, k] * xc[i, t]
    out = full[:, spec.crop:spec.crop + spec.t_out]
    return out.T if spec.channels_last else out


SHAPES = [dict(c_in=3, c_out=5, k=3, t=2), dict(c_in=4, c_out=2, k=4, t=9, dilation=2),
          dict(c_in=2, c_out=3, k=5, t=7, dilation=3), dict(c_in=6, c_out=17, k=1, t=4)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("padding", op.PADDINGS)
@pytest.mark.parametrize("layout", op.LAYOUTS)
def test_reference_matches_scipy_correlate(shape, padding, layout):
    spec = Conv1dSpec(**shape, padding=padding, layout=layout)
    if op.validate(spec):
        pytest.skip(f"not a valid case: {op.validate(spec)}")
    w = op.make(Case("c", "conv1d", spec, "float32", 1))
    assert w.reference.shape == spec.out_shape
    np.testing.assert_allclose(w.reference, scipy_reference(spec, w.x, w.weights), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k,stride,dilation", [(4, 2, 1), (16, 8, 1), (3, 3, 1), (5, 2, 2), (2, 2, 1)])
@pytest.mark.parametrize("padding", op.PADDINGS)
def test_transposed_reference_matches_naive_loops(k, stride, dilation, padding):
    spec = Conv1dSpec(3, 2, k, 5, dilation, padding, "channels-last", stride, "transpose")
    w = op.make(Case("c", "conv1d", spec, "float32", 1))
    np.testing.assert_allclose(w.reference, naive_transpose(spec, w.x, w.weights), rtol=1e-12, atol=1e-12)


def test_transposed_same_is_hifigan_padding():
    """HiFi-GAN's ConvTranspose1d(k=2u, stride=u, padding=(k-u)/2) keeps T x u outputs from offset (k-u)/2."""
    for u in (2, 4, 8):
        spec = Conv1dSpec(4, 2, 2 * u, 10, padding="same", stride=u, mode="transpose")
        assert (spec.t_out, spec.crop) == (10 * u, u // 2)


def test_reference_matches_torch_when_installed():
    torch = pytest.importorskip("torch")
    spec = Conv1dSpec(5, 7, 16, 6, 1, "same", "channels-first", 8, "transpose")
    w = op.make(Case("c", "conv1d", spec, "float64", 2))
    got = torch.nn.functional.conv_transpose1d(torch.from_numpy(w.x)[None], torch.from_numpy(w.weights),
                                               stride=8, padding=4)[0].numpy()
    np.testing.assert_allclose(w.reference, got, rtol=1e-10, atol=1e-12)
    spec = Conv1dSpec(5, 7, 3, 11, 2, "same")
    w = op.make(Case("c", "conv1d", spec, "float64", 2))
    got = torch.nn.functional.conv1d(torch.from_numpy(w.x)[None], torch.from_numpy(w.weights), padding="same",
                                     dilation=2)[0].numpy()
    np.testing.assert_allclose(w.reference, got, rtol=1e-10, atol=1e-12)


def brute_force_useful(spec: Conv1dSpec) -> int:
    left, _ = spec.pads
    if spec.transposed:
        return sum(0 <= t * spec.stride + k * spec.dilation - spec.crop < spec.t_out
                   for t in range(spec.t) for k in range(spec.k))
    frames = spec.t + spec.history
    return sum(0 <= t + k * spec.dilation - left < frames for t in range(spec.t_out) for k in range(spec.k))


@pytest.mark.parametrize("spec", [
    Conv1dSpec(2, 3, 3, 2, 2, "same"), Conv1dSpec(2, 3, 5, 40, 3, "causal", "channels-last"),
    Conv1dSpec(2, 3, 4, 9, 1, "valid"), Conv1dSpec(2, 3, 3, 1, 2, "causal", mode="streaming"),
    Conv1dSpec(2, 3, 16, 5, 1, "same", stride=8, mode="transpose"),
    Conv1dSpec(2, 3, 3, 5, 2, "causal", stride=3, mode="transpose"),
    Conv1dSpec(2, 3, 4, 5, 1, "valid", stride=2, mode="transpose")])
def test_counts(spec):
    counts = op.Conv1d().counts(Case("c", "conv1d", spec))
    frames = spec.t if spec.transposed else spec.t_out
    assert counts.flops == 2 * spec.c_in * spec.c_out * spec.k * frames
    assert counts.useful == 2 * spec.c_in * spec.c_out * brute_force_useful(spec)
    assert counts.useful <= counts.flops


@pytest.mark.parametrize("fields,field,words", [
    (dict(c_in=2, c_out=2, k=3, t=2, padding="valid"), "t", "t > (k-1) x dilation"),
    (dict(c_in=2, c_out=2, k=3, t=9, stride=2), "stride", "upsampling factor of mode transpose"),
    (dict(c_in=2, c_out=2, k=3, t=1, padding="same", mode="streaming"), "padding", "must be causal"),
    (dict(c_in=2, c_out=2, k=2, t=4, stride=4, mode="transpose"), "stride", "stride <= (k-1) x dilation + 1"),
])
def test_validate_refuses_inconsistent_fields(fields, field, words):
    problems = op.validate(Conv1dSpec(**fields))
    assert [f for f, _ in problems] == [field]
    assert words in problems[0][1]


def test_spec_reads_fields_and_names_allowed_values():
    from gemmbench.cases.fields import FieldReader, Problems

    problems = Problems("suite.yaml")
    read = FieldReader("c", {"c_in": 4, "c_out": 8, "k": 3, "t": 1, "mode": "streaming", "layout": "rows"}, problems)
    spec = op.Conv1d().spec(read)
    assert (spec.padding, spec.mode) == ("causal", "streaming")  # streaming's default padding
    assert problems.lines == ["suite.yaml: case 'c': field 'layout': must be one of channels-first, "
                              "channels-last, got 'rows'"]


# ---------------------------------------------------------------- the streaming check


class Ring:
    """A plain streaming convolution in numpy: the state the op's verify must see carried."""

    def __init__(self, workload, forget: bool = False):
        self.w, self.forget = workload, forget
        self.reset()

    def reset(self):
        spec = self.w.spec
        self.state = op.to_channels_first(self.w.history, spec).astype(np.float64)

    def call(self, x, out):
        spec = self.w.spec
        window = np.concatenate([self.state, op.to_channels_first(x, spec)], axis=1)
        out[...] = op.from_channels_first(op.correlate(window, self.w.weights.astype(np.float64), spec.dilation), spec)
        if not self.forget:
            self.state = window[:, window.shape[1] - spec.history:]


@pytest.mark.parametrize("layout", op.LAYOUTS)
@pytest.mark.parametrize("t", [1, 2, 5])
def test_streaming_verify_accepts_a_carried_state_and_refuses_a_forgotten_one(layout, t):
    spec = Conv1dSpec(3, 4, 3, t, 2, "causal", layout, mode="streaming")
    w = op.make(Case("s", "conv1d", spec, "float64", 5))
    for forget, ok in ((False, True), (True, False)):
        ring = Ring(w, forget)
        out = w.new_output()
        calls = Calls(out, lambda: ring.call(w.x, out), None, ring.reset)
        verdict = op.Conv1d().verify(w, calls, "float64")
        assert verdict.ok is ok, verdict.message
        if not ok:
            assert verdict.message.startswith("streaming:")


def test_streaming_calls_flush_the_history():
    spec = Conv1dSpec(3, 4, 5, 1, 3, "causal", mode="streaming")
    assert spec.history == 12 and op.streaming_calls(spec) == 14
