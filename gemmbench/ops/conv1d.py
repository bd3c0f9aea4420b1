"""`op: conv1d`: a 1-D convolution of C_in channels x T frames by C_out filters of width K.

Batch 1, stride 1, `dilation`, `padding` (same, valid, causal), `layout` (channels-first:
x is (C_in, T), out is (C_out, T_out); channels-last: x is (T, C_in), out is (T_out, C_out)).
`mode` picks what a call computes:

- `conv`: out[o, t] = sum_{i, k} W[o, i, k] xpad[i, t + k d] (cross-correlation, as torch's conv1d).
  Weights W are (C_out, C_in, K).
- `transpose`: conv_transpose1d, the upsampling layer of HiFi-GAN/MelGAN generators, with its
  upsampling `stride` s: full[o, t s + k d] += sum_i W[i, o, k] x[i, t], W (C_in, C_out, K), cropped
  by `padding`: valid keeps all (T-1) s + (K-1) d + 1 outputs, same keeps T s centred ones
  (HiFi-GAN's padding (K - s) / 2), causal the first T s.
- `streaming`: a vocoder's frame-by-frame convolution. A call gets T new frames (T: 1 is the
  usual) and returns their T causal outputs, keeping the last (K-1) d frames as its state for
  the next call. The state prepare starts from is `history`: the (K-1) d frames that precede x
  in the generated stream, so the first call's output already depends on every tap.

FLOPs are the dense equivalent 2 C_in C_out K T_out (transpose: 2 C_in C_out K T, one product
per input frame and tap); `useful_flops` leaves out the products with padding (or, transposed,
landing outside the crop). A method that computes something else (Winograd's fewer products,
FFT, zero insertion's multiplications by zeros) reports its own count as `method_flops`,
with its workspace and copied bytes, through `MethodFacts` (see `facts_columns`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from gemmbench.measure.verify import TOLERANCE as verify_tolerance
from gemmbench.op import Calls, Case, Column, Counts, Op, Workload
from gemmbench.report.kinds import PlotKind

if TYPE_CHECKING:
    from gemmbench.cases.fields import FieldReader
    from gemmbench.measure.verify import Verdict

PADDINGS = ("same", "valid", "causal")
LAYOUTS = ("channels-first", "channels-last")
MODES = ("conv", "transpose", "streaming")

# Largest relative error each method's arithmetic is judged at (float32 data). Direct, im2col,
# shifted GEMMs, MEC and FFT sum the same products in another order: float32's 1e-4.
# Winograd F(m, 3) adds the rounding of its transforms, whose coefficients grow with m: measured
# on LPCNet's 128-channel conv, relative errors are about 1.5x (F(2,3)), 3x (F(4,3)) and 10-20x
# (F(6,3), points +-1/2 and +-2) the direct kernel's 1e-7; the gate keeps float32's margin over each.
TOLERANCE = {**verify_tolerance, "f32-winograd2": 2e-4, "f32-winograd4": 5e-4, "f32-winograd6": 2e-3}


@dataclass(frozen=True)
class Conv1dSpec:
    c_in: int
    c_out: int
    k: int
    t: int  # input frames per call
    dilation: int = 1
    padding: str = "same"
    layout: str = "channels-first"
    stride: int = 1  # upsampling factor of mode transpose; 1 otherwise
    mode: str = "conv"

    @property
    def span(self) -> int:
        """Frames one output reaches back over: (K-1) d."""
        return (self.k - 1) * self.dilation

    @property
    def channels_last(self) -> bool:
        return self.layout == "channels-last"

    @property
    def transposed(self) -> bool:
        return self.mode == "transpose"

    @property
    def streaming(self) -> bool:
        return self.mode == "streaming"

    @property
    def history(self) -> int:
        """Frames of state a streaming call keeps (0 for the other modes)."""
        return self.span if self.streaming else 0

    @property
    def pads(self) -> tuple[int, int]:
        """Zero frames added before and after x (conv, streaming: the state stands in for the left ones)."""
        if self.transposed or self.streaming or self.padding == "valid":
            return 0, 0
        if self.padding == "causal":
            return self.span, 0
        return self.span // 2, self.span - self.span // 2

    @property
    def full_out(self) -> int:
        """Transposed: outputs before cropping, (T-1) s + (K-1) d + 1."""
        return (self.t - 1) * self.stride + self.span + 1

    @property
    def crop(self) -> int:
        """Transposed: outputs dropped at the start."""
        if self.padding == "same":
            return (self.span + 1 - self.stride) // 2
        return 0

    @property
    def t_out(self) -> int:
        if self.transposed:
            return self.full_out if self.padding == "valid" else self.t * self.stride
        if self.streaming:
            return self.t
        left, right = self.pads
        return self.t + left + right - self.span

    @property
    def weight_shape(self) -> tuple[int, int, int]:
        return (self.c_in, self.c_out, self.k) if self.transposed else (self.c_out, self.c_in, self.k)

    def frames(self, channels: int, t: int) -> tuple[int, int]:
        """Array shape of `t` frames of `channels` channels in this layout."""
        return (t, channels) if self.channels_last else (channels, t)

    @property
    def x_shape(self) -> tuple[int, int]:
        return self.frames(self.c_in, self.t)

    @property
    def out_shape(self) -> tuple[int, int]:
        return self.frames(self.c_out, self.t_out)


@dataclass(frozen=True, eq=False)
class Conv1dWorkload(Workload):
    """x and reference in the case layout; weights as torch holds them (see Conv1dSpec.weight_shape)."""

    weights: np.ndarray = field(default=None, repr=False)
    history: np.ndarray | None = field(default=None, repr=False)  # streaming: the state's first frames

    @property
    def spec(self) -> Conv1dSpec:
        return self.case.spec


@dataclass(frozen=True)
class MethodFacts:
    """What a method costs beside its time, reported by the backend that ran it."""

    method: str  # im2col, shifted, mec, winograd-f4, direct, fft, torch, zero-insert, col2im, ...
    workspace_bytes: int = 0  # scratch the method keeps for its calls, beyond weights, x and out
    copy_bytes: int = 0  # bytes a call writes into that scratch (lowering, transposes, transforms)
    weight_bytes: int = 0  # the weights as the method stores them (transformed, packed, spectra)
    flops: int | None = None  # arithmetic a call performs, when it is not the op's dense count
    first_call_ns: float = math.nan  # a library's first call, when it differs from steady state
    note: str = ""  # what the row should say about the method (a view, not a copy; ...)


# ---------------------------------------------------------------- geometry helpers


def tap_range(spec: Conv1dSpec, k: int) -> tuple[int, int]:
    """Outputs [lo, hi) whose tap k reads a real input frame (conv and streaming, frame = t + k d - left).

    Streaming reads the state before x: its frame index counts from the first history frame."""
    left, _ = spec.pads
    shift = k * spec.dilation - left
    frames = spec.t + spec.history
    lo = max(0, -shift)
    hi = min(spec.t_out, frames - shift)
    return lo, max(lo, hi)


def transposed_tap_range(spec: Conv1dSpec, k: int) -> tuple[int, int]:
    """Input frames [lo, hi) whose product with tap k lands inside the kept outputs."""
    s, offset = spec.stride, k * spec.dilation - spec.crop
    lo = max(0, -(offset // s))  # ceil(-offset / s)
    hi = min(spec.t, (spec.t_out - 1 - offset) // s + 1)
    return lo, max(lo, hi)


def _useful_products(spec: Conv1dSpec) -> int:
    """(output or input frame, tap) pairs that multiply real data into a kept output."""
    ranges = transposed_tap_range if spec.transposed else tap_range
    return sum(hi - lo for lo, hi in (ranges(spec, k) for k in range(spec.k)))


# ---------------------------------------------------------------- data and reference


def to_channels_first(a: np.ndarray, spec: Conv1dSpec) -> np.ndarray:
    return a.T if spec.channels_last else a


def from_channels_first(a: np.ndarray, spec: Conv1dSpec) -> np.ndarray:
    return np.ascontiguousarray(a.T if spec.channels_last else a)


def correlate(x: np.ndarray, w: np.ndarray, dilation: int) -> np.ndarray:
    """float64 valid cross-correlation of channels-first x (C_in, T) by w (C_out, C_in, K)."""
    span = (w.shape[2] - 1) * dilation
    t_out = x.shape[1] - span
    out = np.zeros((w.shape[0], t_out))
    for k in range(w.shape[2]):
        out += w[:, :, k] @ x[:, k * dilation:k * dilation + t_out]
    return out


def _transpose_full(x: np.ndarray, w: np.ndarray, stride: int, dilation: int) -> np.ndarray:
    """float64 conv_transpose1d of channels-first x (C_in, T) by w (C_in, C_out, K), uncropped."""
    c_in, c_out, taps = w.shape
    t = x.shape[1]
    full = np.zeros((c_out, (t - 1) * stride + (taps - 1) * dilation + 1))
    for k in range(taps):
        start = k * dilation
        full[:, start:start + (t - 1) * stride + 1:stride] += w[:, :, k].T @ x
    return full


def reference(spec: Conv1dSpec, x: np.ndarray, w: np.ndarray, history: np.ndarray | None = None) -> np.ndarray:
    """The float64 answer of one call (streaming: the first, from `history`), in the case layout."""
    xc, wd = to_channels_first(x, spec).astype(np.float64), w.astype(np.float64)
    if spec.transposed:
        out = _transpose_full(xc, wd, spec.stride, spec.dilation)[:, spec.crop:spec.crop + spec.t_out]
    else:
        if spec.streaming:
            xc = np.concatenate([to_channels_first(history, spec).astype(np.float64), xc], axis=1)
        left, right = spec.pads
        out = correlate(np.pad(xc, ((0, 0), (left, right))), wd, spec.dilation)
    return from_channels_first(out, spec)


def _stream_reference(workload: Conv1dWorkload, calls: int) -> np.ndarray:
    """float64 outputs of `calls` streaming calls that each get x, concatenated along time."""
    spec = workload.spec
    frames = [to_channels_first(workload.history, spec)] + [to_channels_first(workload.x, spec)] * calls
    sequence = np.concatenate([f.astype(np.float64) for f in frames], axis=1)
    return from_channels_first(correlate(sequence, workload.weights.astype(np.float64), spec.dilation), spec)


def make(case: Case) -> Conv1dWorkload:
    spec: Conv1dSpec = case.spec
    rng = np.random.default_rng(case.seed)
    fan_in = spec.c_in * spec.k
    w = (rng.standard_normal(spec.weight_shape) / math.sqrt(fan_in)).astype(case.dtype)
    x = rng.uniform(-1.0, 1.0, spec.x_shape).astype(case.dtype)
    history = None
    if spec.streaming:
        history = rng.uniform(-1.0, 1.0, spec.frames(spec.c_in, spec.history)).astype(case.dtype)
    return Conv1dWorkload(case, x, reference(spec, x, w, history), weights=w, history=history)


# ---------------------------------------------------------------- the op


def _flops(spec: Conv1dSpec) -> int:
    frames = spec.t if spec.transposed else spec.t_out
    return 2 * spec.c_in * spec.c_out * spec.k * frames


def facts_columns(facts: MethodFacts, spec: Conv1dSpec) -> dict:
    """The op's method columns of a row, from the facts its backend reported."""
    return {"method": facts.method, "workspace_bytes": int(facts.workspace_bytes), "copy_bytes": int(facts.copy_bytes),
            "method_weight_bytes": int(facts.weight_bytes),
            "method_flops": int(_flops(spec) if facts.flops is None else facts.flops),
            "first_call_ns": float(facts.first_call_ns), "method_note": facts.note}


class Conv1d(Op):
    name = "conv1d"
    doc = "1-D convolution (batch 1): same/valid/causal padding, dilation, transposed, streaming"
    fields = {
        "c_in": "input channels", "c_out": "output channels (filters)", "k": "filter width (taps)",
        "t": "input frames per call (streaming: new frames per call, usually 1)",
        "dilation": "spacing of the taps (default 1)",
        "padding": f"one of {', '.join(PADDINGS)} (default same; streaming: causal)",
        "layout": f"one of {', '.join(LAYOUTS)} (default channels-first)",
        "stride": "upsampling factor of mode transpose (default 1; a convolution has stride 1)",
        "mode": f"one of {', '.join(MODES)} (default conv)",
    }
    columns = (
        Column("t_out", "int64", "output frames per call"),
        Column("method", "string", "the lowering: direct, im2col, shifted, mec, winograd-f2/f4/f6, fft, torch, "
                                   "zero-insert, col2im, stream-gemv"),
        Column("workspace_bytes", "int64", "scratch the method keeps beyond weights, input and output"),
        Column("copy_bytes", "int64", "bytes a call writes into that scratch (lowering, transposes, transforms)"),
        Column("method_weight_bytes", "int64", "the weights as the method stores them (packed, transformed)"),
        Column("method_flops", "int64", "arithmetic the method performs per call (Winograd: fewer products; "
                                        "zero insertion: products with zeros too)"),
        Column("method_gflops", "float64", "method_flops / median_ns"),
        Column("first_call_ns", "float64", "time of a library's first call, apart from the steady state"),
        Column("method_note", "string", "what the method's figures mean (a zero-copy view, ...)"),
    )
    plots = (PlotKind("conv1d-methods", "Convolution methods: time, workspace, error",
                      "Per conv1d case, every method fastest first: median time per call, the workspace it keeps "
                      "beyond weights, input and output, and its relative error against float64 with the gate.",
                      "gemmbench.ops.conv1d_plot:methods_plot"),)
    size_fields = ("c_in", "c_out", "k", "t")
    dtypes = ("float32", "float64")
    spec_type = Conv1dSpec

    def spec(self, read: "FieldReader") -> Conv1dSpec:
        return Conv1dSpec(
            c_in=read.positive_int("c_in"), c_out=read.positive_int("c_out"), k=read.positive_int("k"),
            t=read.positive_int("t"), dilation=read.positive_int("dilation", 1),
            padding=read.choice("padding", PADDINGS, "causal" if read.get("mode") == "streaming" else "same"),
            layout=read.choice("layout", LAYOUTS, "channels-first"),
            stride=read.positive_int("stride", 1), mode=read.choice("mode", MODES, "conv"))

    def validate(self, spec: Conv1dSpec, dtype: str) -> list[tuple[str, str]]:
        return validate(spec)

    def memory_bytes(self, spec: Conv1dSpec, dtype: str) -> int:
        size = np.dtype(dtype).itemsize
        x = spec.c_in * (spec.t + spec.history)
        out = spec.c_out * max(spec.t_out, spec.full_out if spec.transposed else 0)
        weights = spec.c_in * spec.c_out * spec.k
        lowered = spec.c_in * spec.k * max(spec.t_out, spec.t * spec.stride + spec.span)  # im2col's copy
        return size * (x + weights + 2 * out + lowered) + 8 * out

    def label(self, case: Case) -> str:
        return _shape_label(case.spec)

    def make(self, case: Case) -> Conv1dWorkload:
        return make(case)

    def counts(self, case: Case) -> Counts:
        spec: Conv1dSpec = case.spec
        size = np.dtype(case.dtype).itemsize
        elements = spec.c_in * spec.c_out * spec.k + spec.c_in * spec.t + spec.c_out * spec.t_out
        state = 2 * spec.c_in * spec.history  # a streaming call reads and rewrites its state
        useful = 2 * spec.c_in * spec.c_out * _useful_products(spec)
        return Counts(flops=_flops(spec), bytes=size * (elements + state), useful_flops=useful)

    def case_columns(self, case: Case) -> dict:
        return {"t_out": case.spec.t_out}

    def derive(self, case: Case, row: dict, parts: dict[str, float] | None) -> dict:
        median, flops = row.get("median_ns"), row.get("method_flops")
        if not median or flops is None:
            return {}
        return {"method_gflops": flops / median}

    def tolerance(self, case: Case, precision: str) -> float:
        return TOLERANCE[precision]

    def verify(self, workload: Workload, calls: Calls, precision: str, native: bool = False) -> "Verdict":
        return verify(workload, calls, precision, self.tolerance(workload.case, precision), native)


def _shape_label(spec: Conv1dSpec) -> str:
    dil = f" d={spec.dilation}" if spec.dilation != 1 else ""
    up = f" s={spec.stride}" if spec.transposed else ""
    return (f"{spec.c_in}->{spec.c_out} k={spec.k}{dil}{up} T={spec.t} {spec.padding} "
            f"{'cl' if spec.channels_last else 'cf'}" + ("" if spec.mode == "conv" else f" {spec.mode}"))


def validate(spec: Conv1dSpec) -> list[tuple[str, str]]:
    """(field, problem) pairs the fields pass one by one but not together."""
    problems = []
    if spec.stride != 1 and not spec.transposed:
        problems.append(("stride", "is the upsampling factor of mode transpose; conv and streaming have stride 1"))
    if spec.streaming and spec.padding != "causal":
        problems.append(("padding", "must be causal in mode streaming (a stream has no future frames to pad with)"))
    if spec.mode == "conv" and spec.padding == "valid" and spec.t_out < 1:
        problems.append(("t", f"padding valid needs t > (k-1) x dilation = {spec.span}"))
    if spec.transposed and spec.padding != "valid" and spec.span + 1 < spec.stride:
        problems.append(("stride", f"padding {spec.padding} of mode transpose needs stride <= (k-1) x dilation + 1 "
                                   f"= {spec.span + 1} (else outputs no tap reaches)"))
    return problems


def streaming_calls(spec: Conv1dSpec) -> int:
    """Calls the streaming check makes: enough to flush the history out of the state, and two more."""
    return -(-spec.history // spec.t) + 2


def verify(workload: Workload, calls: Calls, precision: str, tolerance: float, native: bool = False) -> "Verdict":
    """One call against the reference; streaming also: a sequence of calls equals the whole-sequence result.

    Every call of the harness gets the same x, so the sequence checked is history, x, x, ... x:
    the first calls mix history and x in the taps (a wrong tap order or a state not shifted
    shows there), the later ones the steady state."""
    from gemmbench.measure.verify import check

    run = calls.run_native if native and calls.run_native else calls.run
    calls.reset()
    calls.out.fill(math.nan)
    run()
    first = check(calls.out, workload.reference, precision, tolerance)
    spec: Conv1dSpec = workload.case.spec
    if not first.ok or not spec.streaming:
        return first
    calls.reset()
    outputs = []
    for _ in range(streaming_calls(spec)):
        calls.out.fill(math.nan)
        run()
        outputs.append(to_channels_first(calls.out, spec).copy())
    got = from_channels_first(np.concatenate(outputs, axis=1), spec)
    verdict = check(got, _stream_reference(workload, len(outputs)), precision, tolerance)
    calls.reset()
    if verdict.ok:
        return verdict
    from gemmbench.measure.verify import Verdict
    return Verdict(False, verdict.max_abs_err, verdict.rel_err, verdict.snr_db, tolerance,
                   f"streaming: {len(outputs)} calls differ from the whole sequence: {verdict.message}")
