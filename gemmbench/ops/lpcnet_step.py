"""LPCNet's sample-rate network as a measured op: `lpcnet_step`, one or T audio samples.

One step (Keras GRU with reset_after, as LPCNet trains it):

    xa = table[0][s] + table[1][p] + table[2][e] + cond_a          per-sample input from tables
    ra = Wa @ ha + ba                                              GRU-A product (dense/sparse/int8)
    z, r = sigmoid(xa_z + ra_z), sigmoid(xa_r + ra_r)
    ha = z * ha + (1 - z) * tanh(xa_h + r * ra_h)                  GRU-A gates
    hb = gru(Wbi @ ha + cond_b, Wbr @ hb + bb)                     GRU-B
    p  = softmax(a1 * tanh(Wo1 @ hb) + a2 * tanh(Wo2 @ hb))        dual output layer

cond_a = Wca @ f and cond_b = Wcb @ f project the frame features: once per frame of 160
samples (`conditioning: per_frame`, LPCNet's precomputation) or every sample (`per_sample`).
The excitation/signal inputs are teacher-forced from a generated sequence, so float64,
float32 and int8 paths see the same inputs and can be compared step for step (sampling
would let one rounding flip send them down different trajectories).

The measured call runs `steps` samples from the initial state in `x` and writes
[ha, hb, p] (the final state and the last distribution) to `out`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
import numpy as np

from gemmbench.backend import Backend
from gemmbench.cases.fields import FieldReader
from gemmbench.op import Case, Column, Counts, Op
from gemmbench.ops.matrix import (MATRIX_COLUMNS, MATRIX_FIELDS, MatrixSpec, MatrixWorkload, file_weights,
                                  generate_activations, generate_weights, matrix_columns, matrix_files,
                                  matrix_label, prune, read_matrix_file, read_shape, read_sparsity, spec_from_dict)
from gemmbench.report.kinds import PlotKind
from gemmbench.measure.timing import Loop, python_loop

PARTS = ("conditioning", "gru_a_product", "gru_a_gates", "gru_b", "output")
CONDITIONING = ("per_frame", "per_sample")


@dataclass(frozen=True)
class StepSpec(MatrixSpec):
    """Sizes of the network; GRU-A's recurrent matrix is m x k (m = 3 k, hidden_a = k)."""

    hidden_b: int = 16
    cond_size: int = 128
    levels: int = 256
    frame_size: int = 160
    steps: int = 1
    start: int = 0  # index of the call's first sample in the sequence (a call continues a sequence)
    sample_rate: int = 16000
    conditioning: str = "per_frame"

    @property
    def hidden_a(self) -> int:
        return self.k

    @property
    def samples(self) -> range:
        return range(self.start, self.start + self.steps)

    @property
    def frames(self) -> int:
        """Frames of features the sequence needs, from its very beginning."""
        return (self.start + self.steps - 1) // self.frame_size + 1

    def projects(self, t: int) -> bool:
        """Whether sample t projects the conditioning (a call's first sample always does)."""
        return self.conditioning == "per_sample" or t % self.frame_size == 0 or t == self.start

    @property
    def state_size(self) -> int:
        return self.hidden_a + self.hidden_b

    @property
    def out_size(self) -> int:
        return self.hidden_a + self.hidden_b + self.levels

    @property
    def projections(self) -> int:
        """Conditioning projections per call."""
        return sum(self.projects(t) for t in self.samples)

    def matrices(self) -> dict[str, tuple[int, int]]:
        na, nb, c = self.hidden_a, self.hidden_b, self.cond_size
        return {"gru_a": (3 * na, na), "cond_a": (3 * na, c), "gru_b_in": (3 * nb, na),
                "gru_b_rec": (3 * nb, nb), "cond_b": (3 * nb, c), "out": (2 * self.levels, nb)}


def _flops(dims: StepSpec, gru_a_weights: int) -> int:
    shapes = dims.matrices()
    per_step = sum(2 * m * k for name, (m, k) in shapes.items() if name not in ("gru_a", "cond_a", "cond_b"))
    per_projection = 2 * (shapes["cond_a"][0] + shapes["cond_b"][0]) * dims.cond_size
    return dims.steps * (per_step + 2 * gru_a_weights) + dims.projections * per_projection


def step_bytes(dims: StepSpec, itemsize: int) -> int:
    """Weights read once per call (they stay cache-resident across steps) plus state in and out."""
    weights = sum(m * k for m, k in dims.matrices().values())
    tables = 3 * dims.levels * 3 * dims.hidden_a
    return itemsize * (weights + tables + dims.state_size + dims.out_size)


def between_products_bytes(dims: StepSpec, itemsize: int) -> int:
    """Bytes a step reads between two GRU-A products on a sample that starts no frame: GRU-B's two
    matrices, the dual output layer, and the three embedding rows GRU-A's gates gather (the frame
    conditioning runs once per frame, so most pairs of products have none of it between them)."""
    shapes = dims.matrices()
    weights = sum(m * k for name, (m, k) in shapes.items() if name in ("gru_b_in", "gru_b_rec", "out"))
    return itemsize * (weights + 3 * 3 * dims.hidden_a)


# ---------------------------------------------------------------- data and reference

@dataclass(frozen=True, eq=False)
class StepWorkload(MatrixWorkload):
    """GRU-A's matrix as a MatrixWorkload (weights, block_mask, diagonal), with every other array in `extra`."""

    extra: dict = None


def make_step(case: Case) -> StepWorkload:
    dims: StepSpec = case.spec
    # Separate streams, so a sequence's first samples and frames do not depend on its length.
    rng, inputs_rng, features_rng, state_rng = (np.random.default_rng([case.seed, i]) for i in range(4))
    mats = {name: generate_weights(rng, m, k) for name, (m, k) in dims.matrices().items()}
    mats["gru_a"] = file_weights(dims, rng) if dims.weights is not None else mats["gru_a"]
    mask = diagonal = None
    if dims.sparsity is not None:
        mats["gru_a"], mask, diagonal = prune(mats["gru_a"], dims.sparsity)
    extra = {name: np.ascontiguousarray(w, dtype=case.dtype) for name, w in mats.items()}
    extra.update(
        bias_a=rng.normal(0, 0.1, 3 * dims.hidden_a).astype(case.dtype),
        bias_b=rng.normal(0, 0.1, 3 * dims.hidden_b).astype(case.dtype),
        tables=(0.3 * rng.standard_normal((3, dims.levels, 3 * dims.hidden_a))).astype(case.dtype),
        out_gain=rng.uniform(0.5, 1.5, (2, dims.levels)).astype(case.dtype),
        features=generate_activations(features_rng, (dims.frames, dims.cond_size)).astype(case.dtype),
        inputs=inputs_rng.integers(0, dims.levels, size=(dims.start + dims.steps, 3)).astype(np.int32),
    )
    state = (0.5 * generate_activations(state_rng, (dims.state_size,))).astype(case.dtype)
    reference = run_reference(dims, extra, state)
    if diagonal is not None:
        diagonal = diagonal.astype(case.dtype)
    return StepWorkload(case, state, reference, extra["gru_a"], mask, diagonal, extra=extra)


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def _gru(h: np.ndarray, x: np.ndarray, r: np.ndarray) -> np.ndarray:
    n = h.size
    z = _sigmoid(x[:n] + r[:n])
    reset = _sigmoid(x[n:2 * n] + r[n:2 * n])
    return z * h + (1 - z) * np.tanh(x[2 * n:] + reset * r[2 * n:])


def _softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max())
    return e / e.sum()


def run_reference(dims: StepSpec, extra: dict, state: np.ndarray) -> np.ndarray:
    """The float64 answer: T steps from `state`, all arithmetic in float64."""
    w = {k: v.astype(np.float64) for k, v in extra.items() if k != "inputs"}
    ha = state[:dims.hidden_a].astype(np.float64)
    hb = state[dims.hidden_a:].astype(np.float64)
    p = np.zeros(dims.levels)
    for t in dims.samples:
        if dims.projects(t):
            feature = w["features"][t // dims.frame_size]
            cond_a, cond_b = w["cond_a"] @ feature, w["cond_b"] @ feature
        s, pr, e = extra["inputs"][t]
        xa = w["tables"][0, s] + w["tables"][1, pr] + w["tables"][2, e] + cond_a
        ha = _gru(ha, xa, w["gru_a"] @ ha + w["bias_a"])
        hb = _gru(hb, w["gru_b_in"] @ ha + cond_b, w["gru_b_rec"] @ hb + w["bias_b"])
        o = w["out"] @ hb
        p = _softmax(w["out_gain"][0] * np.tanh(o[:dims.levels]) + w["out_gain"][1] * np.tanh(o[dims.levels:]))
    return np.concatenate([ha, hb, p])


# ---------------------------------------------------------------- derived columns

def derived_columns(dims: StepSpec, row: dict, part_ns: dict[str, float] | None = None) -> dict:
    """Time per audio sample, real-time factor (time per sample x sample rate) and part shares.

    Parts are compared with the native per-sample time where the step has a native loop
    (its parts are then native loops too), else with the Python-call time.
    """
    columns = {"steps": dims.steps, "sample_rate": dims.sample_rate}
    for prefix in ("", "native_"):
        median = row.get(f"{prefix}median_ns")
        if median is not None and not math.isnan(median):
            per_sample = median / dims.steps
            columns[f"{prefix}time_per_sample_ns"] = per_sample
            columns[f"{prefix}rtf"] = per_sample * 1e-9 * dims.sample_rate
    if part_ns:
        whole = columns.get("native_time_per_sample_ns", columns.get("time_per_sample_ns"))
        columns.update(part_columns(part_ns, whole))
    return columns


PARTS_TOLERANCE = 0.10  # parts that add up further than this from the whole step get a warning


def part_columns(part_ns: dict[str, float], whole_step_ns: float) -> dict:
    """Per-part time per step, shares of their sum, and how the sum compares with the whole."""
    total = sum(part_ns.values())
    columns = {f"part_{name}_ns": part_ns.get(name, 0.0) for name in PARTS}
    columns.update({f"share_{name}": part_ns.get(name, 0.0) / total for name in PARTS})
    ratio = total / whole_step_ns
    columns["parts_ratio"] = ratio
    columns["parts_warning"] = abs(ratio - 1.0) > PARTS_TOLERANCE
    return columns


# ---------------------------------------------------------------- composition over GEMV primitives

def _sub_case(case: Case, name: str) -> Case:
    """One of the step's matrices as a gemv case; only GRU-A's recurrent matrix is sparse."""
    m, k = case.spec.matrices()[name]
    sparsity = case.spec.sparsity if name == "gru_a" else None
    return Case(f"{case.name}/{name}", "gemv", MatrixSpec(m, k, 1, sparsity), case.dtype, case.seed)


def _sub_workload(step: StepWorkload, name: str) -> MatrixWorkload:
    """A step's matrix as a gemv workload a backend can prepare (x and reference unused)."""
    sub = _sub_case(step.case, name)
    x, reference = np.zeros(sub.spec.k, dtype=sub.dtype), np.zeros(sub.spec.m)
    if name == "gru_a":
        return MatrixWorkload(sub, x, reference, step.extra[name], step.block_mask, step.diagonal)
    return MatrixWorkload(sub, x, reference, step.extra[name])


class _Buffers:
    """Every array a composed step writes, allocated once in prepare."""

    def __init__(self, dims: StepSpec, dtype: str):
        na, nb, levels = dims.hidden_a, dims.hidden_b, dims.levels
        zeros = lambda n: np.zeros(n, dtype=dtype)  # noqa: E731
        self.ha, self.hb = zeros(na), zeros(nb)
        self.xa, self.ra, self.cond_a = zeros(3 * na), zeros(3 * na), zeros(3 * na)
        self.xb, self.rb, self.cond_b = zeros(3 * nb), zeros(3 * nb), zeros(3 * nb)
        self.ta, self.tb = zeros(3 * na), zeros(3 * nb)
        self.o, self.logits, self.tmp = zeros(2 * levels), zeros(levels), zeros(levels)
        self.feature = zeros(dims.cond_size)


def _sigmoid_into(v: np.ndarray) -> None:
    np.negative(v, out=v)
    np.exp(v, out=v)
    v += 1
    np.reciprocal(v, out=v)


def _gru_into(h: np.ndarray, x: np.ndarray, r: np.ndarray, t: np.ndarray) -> None:
    """h <- GRU update from input part x and recurrent part r, using t as scratch; no allocation."""
    n = h.size
    np.add(x[:2 * n], r[:2 * n], out=t[:2 * n])
    _sigmoid_into(t[:2 * n])  # t[:n] = z, t[n:2n] = reset gate
    np.multiply(t[n:2 * n], r[2 * n:], out=t[2 * n:])
    t[2 * n:] += x[2 * n:]
    np.tanh(t[2 * n:], out=t[2 * n:])
    h -= t[2 * n:]  # h = z h + (1 - z) c  ==  c + z (h - c)
    h *= t[:n]
    h += t[2 * n:]


@dataclass
class ComposedStep:
    """A backend's prepared GEMVs plus the buffers the step's element-wise work needs."""

    dims: StepSpec
    extra: dict
    prepared: dict
    buffers: _Buffers


# Each product's input and output buffer (attributes of _Buffers): fixed, so backends may bind to them.
PRODUCT_BUFFERS = {"gru_a": ("ha", "ra"), "cond_a": ("feature", "cond_a"), "gru_b_in": ("ha", "xb"),
            "gru_b_rec": ("hb", "rb"), "cond_b": ("feature", "cond_b"), "out": ("hb", "o")}


class Composed(Backend):
    """Runs `lpcnet_step` on any backend that offers gemv: the harness does the rest in numpy."""

    ops = frozenset({"lpcnet_step"})

    def __init__(self, inner: Backend):
        self.inner = inner
        self.name = inner.name
        self.dtypes = inner.dtypes

    def variant_available(self, variant, cpu_flags):
        return self.inner.variant_available(variant, cpu_flags)

    def skip_reason(self, case: Case, variant) -> str:
        if "gemv" not in self.inner.ops:
            return f"{self.name} offers neither lpcnet_step nor the gemv products to compose it from"
        for name in case.spec.matrices():
            reason = self.inner.skip_reason(_sub_case(case, name), variant)
            if reason:
                return f"composing lpcnet_step: the {name} product: {reason}"
        return ""

    def prepare(self, workload: StepWorkload, variant) -> ComposedStep:
        dims = workload.case.spec
        buffers = _Buffers(dims, workload.case.dtype)
        prepared = {}
        for name, (x, out) in PRODUCT_BUFFERS.items():
            product = self.inner.prepare(_sub_workload(workload, name), variant)
            prepared[name] = self.inner.bind(product, getattr(buffers, x), getattr(buffers, out))
        return ComposedStep(dims, workload.extra, prepared, buffers)

    def describe(self, prepared: ComposedStep, variant) -> str:
        return f"composed in numpy over {self.name} gemv: {self.inner.describe(prepared.prepared['gru_a'], variant)}"

    def _gemv(self, step: ComposedStep, name: str) -> None:
        x, out = PRODUCT_BUFFERS[name]
        self.inner.run(step.prepared[name], getattr(step.buffers, x), getattr(step.buffers, out))

    def project(self, step: ComposedStep, frame: int) -> None:
        step.buffers.feature[:] = step.extra["features"][frame]
        self._gemv(step, "cond_a")
        self._gemv(step, "cond_b")

    def gru_a_product(self, step: ComposedStep) -> None:
        self._gemv(step, "gru_a")
        step.buffers.ra += step.extra["bias_a"]

    def gru_a_gates(self, step: ComposedStep, t: int) -> None:
        b, tables = step.buffers, step.extra["tables"]
        s, p, e = step.extra["inputs"][t]
        np.add(tables[0, s], tables[1, p], out=b.xa)
        b.xa += tables[2, e]
        b.xa += b.cond_a
        _gru_into(b.ha, b.xa, b.ra, b.ta)

    def gru_b(self, step: ComposedStep) -> None:
        b = step.buffers
        self._gemv(step, "gru_b_in")
        b.xb += b.cond_b
        self._gemv(step, "gru_b_rec")
        b.rb += step.extra["bias_b"]
        _gru_into(b.hb, b.xb, b.rb, b.tb)

    def output(self, step: ComposedStep) -> None:
        b, gain, levels = step.buffers, step.extra["out_gain"], step.dims.levels
        self._gemv(step, "out")
        np.tanh(b.o, out=b.o)
        np.multiply(gain[0], b.o[:levels], out=b.logits)
        np.multiply(gain[1], b.o[levels:], out=b.tmp)
        b.logits += b.tmp
        b.logits -= b.logits.max()
        np.exp(b.logits, out=b.logits)
        b.logits /= b.logits.sum()

    def run(self, step: ComposedStep, x: np.ndarray, out: np.ndarray) -> None:
        dims, b = step.dims, step.buffers
        b.ha[:] = x[:dims.hidden_a]
        b.hb[:] = x[dims.hidden_a:]
        for t in dims.samples:
            if dims.projects(t):
                self.project(step, t // dims.frame_size)
            self.gru_a_product(step)
            self.gru_a_gates(step, t)
            self.gru_b(step)
            self.output(step)
        out[:dims.hidden_a] = b.ha
        out[dims.hidden_a:dims.state_size] = b.hb
        out[dims.state_size:] = b.logits

    def parts(self, step: ComposedStep, x: np.ndarray) -> dict[str, tuple[Loop, float]]:
        """Each part of a step as a timing loop, with how many of its calls one sample costs."""
        dims, b = step.dims, step.buffers
        b.ha[:] = x[:dims.hidden_a]
        b.hb[:] = x[dims.hidden_a:]
        first = dims.start
        self.project(step, first // dims.frame_size)
        calls = {
            "conditioning": lambda: self.project(step, first // dims.frame_size),
            "gru_a_product": lambda: self.gru_a_product(step),
            "gru_a_gates": lambda: self.gru_a_gates(step, first),
            "gru_b": lambda: self.gru_b(step),
            "output": lambda: self.output(step),
        }
        weight = {"conditioning": dims.projections / dims.steps}  # amortised over the frame
        return {name: (python_loop(call), weight.get(name, 1.0)) for name, call in calls.items()}


# ---------------------------------------------------------------- the op

STEP_FIELDS = {
    "hidden_b": "GRU-B units (LPCNet: 16)", "cond_size": "frame-feature length the conditioning projects (128)",
    "levels": "output levels of the dual softmax (256, mu-law)", "frame_size": "samples per feature frame (160)",
    "steps": "audio samples one measured call computes", "start": "index of the call's first sample in the sequence",
    "sample_rate": "audio sample rate the real-time factor refers to, Hz (16000)",
    "conditioning": f"project the frame features {' or '.join(CONDITIONING)}",
}
PART_DOCS = {"conditioning": "the frame-conditioning projection (amortised)",
             "gru_a_product": "GRU-A's recurrent matrix product", "gru_a_gates": "GRU-A's input gather and gates",
             "gru_b": "GRU-B (products and gates)", "output": "the dual output layer and softmax"}
STEP_COLUMNS = (
    Column("steps", "int64", "audio samples one call computes"),
    Column("sample_rate", "int64", "audio sample rate the real-time factor refers to, Hz"),
    Column("time_per_sample_ns", "float64", "median_ns / steps"),
    Column("rtf", "float64", "real-time factor: time_per_sample_ns x sample_rate (below 1 is faster than real time)"),
    Column("native_time_per_sample_ns", "float64", "native_median_ns / steps"),
    Column("native_rtf", "float64", "real-time factor of the native loop"),
    *(Column(f"part_{name}_ns", "float64", f"time per sample of {doc}") for name, doc in PART_DOCS.items()),
    *(Column(f"share_{name}", "float64", f"part_{name}_ns over the sum of the parts") for name in PART_DOCS),
    Column("parts_ratio", "float64", "sum of the parts over the whole step's time per sample"),
    Column("parts_warning", "bool", "parts_ratio more than 10% away from 1: the parts do not explain the whole"),
)


class LpcnetStep(Op):
    name = "lpcnet_step"
    doc = "LPCNet's sample-rate network: GRU-A, GRU-B and the dual softmax, one or many audio samples per call"
    fields = {**MATRIX_FIELDS, **STEP_FIELDS}
    columns = (*MATRIX_COLUMNS, *STEP_COLUMNS)
    spec_type = StepSpec
    composed_from = frozenset({"gemv"})

    def spec(self, read: FieldReader) -> StepSpec:
        source = read_matrix_file(read)  # GRU-A's recurrent matrix from a file
        m, k = read_shape(read, source)
        defaults = StepSpec(m, k)
        sizes = {key: read.positive_int(key, getattr(defaults, key))
                 for key in ("hidden_b", "cond_size", "levels", "frame_size", "steps", "sample_rate")}
        return StepSpec(m, k, 1, read_sparsity(read, m, k, source), source.ref if source else None,
                        structure=source.structure.text() if source else "", **sizes, start=read.int_("start", 0),
                        conditioning=read.choice("conditioning", CONDITIONING, "per_frame"))

    def spec_from_dict(self, data: dict) -> StepSpec:
        return spec_from_dict(StepSpec, data)

    def files(self, spec: StepSpec) -> tuple:
        return matrix_files(spec)

    def validate(self, spec: StepSpec, dtype: str) -> list[tuple[str, str]]:
        if spec.m != 3 * spec.k:
            return [("m", f"lpcnet_step needs m = 3 k (three gates of GRU-A), k = {spec.k} gives m = {3 * spec.k}")]
        return []

    def memory_bytes(self, spec: StepSpec, dtype: str) -> int:
        weights = sum(m * k for m, k in spec.matrices().values())
        return 8 * 3 * (weights + spec.frames * spec.cond_size + 3 * spec.levels * 3 * spec.hidden_a)

    def label(self, case: Case) -> str:
        return f"{matrix_label(case.spec)} x{case.spec.steps}"

    def counts(self, case: Case) -> Counts:
        spec: StepSpec = case.spec
        return Counts(flops=_flops(spec, spec.m * spec.k), useful_flops=_flops(spec, spec.nonzeros),
                      bytes=step_bytes(spec, np.dtype(case.dtype).itemsize))

    def make(self, case: Case) -> StepWorkload:
        return make_step(case)

    def case_columns(self, case: Case) -> dict:
        return {**matrix_columns(case.spec), "steps": case.spec.steps, "sample_rate": case.spec.sample_rate}

    def derive(self, case: Case, row: dict, parts: dict[str, float] | None) -> dict:
        return derived_columns(case.spec, row, parts)

    def compose(self, backend: Backend) -> Backend:
        return Composed(backend)

    plots = (
        PlotKind("rtf", "Vocoder real-time factor",
                 "Time per audio sample × sample rate for each vocoder step; the red line is real time. Bars: "
                 "the whole sequence looped in native code where measured; ticks: one Python call per sample.",
                 "gemmbench.report.vocoder_plots:rtf_plot"),
        PlotKind("parts", "Where a vocoder sample's time goes",
                 "Each part of a step timed alone (frame conditioning amortised, GRU-A product, GRU-A gates, "
                 "GRU-B, output layer), stacked, against the whole step's time per sample.",
                 "gemmbench.report.vocoder_plots:parts_plot"),
    )
