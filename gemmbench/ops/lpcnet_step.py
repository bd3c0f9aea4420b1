"""LPCNet's sample-rate network as a measured op: `lpcnet_step`, one or T audio samples.

One step (Keras GRU with reset_after, as LPCNet trains it):

    xa = table[0][s] + table[1][p] + table[2][e] + cond_a          per-sample input from tables
    ra = Wa @ ha + ba                                              GRU-A product (dense/sparse/int8)
    z, r = sigmoid(xa_z + ra_z), sigmoid(xa_r + ra_r)
    ha = z * ha + (1 - z) * tanh(xa_h + r * ra_h)                  GRU-A gates
    hb = gru(Wbi @ ha + cond_b, Wbr @ hb + bb)                     GRU-B
    p  = softmax(a1 * tanh(Wo1 @ hb) + a2 * tanh(Wo2 @ hb))        dual output layer (output: full)
    s  = the tree's draw, one node's dual FC per level              (output: tree)

cond_a = Wca @ f and cond_b = Wcb @ f project the frame features: once per frame of 160
samples (`conditioning: per_frame`, LPCNet's precomputation) or every sample (`per_sample`).

Three stated choices (case fields, each recorded in the row):
- `activation: accurate | fast`: sigmoid and tanh through exp, or a rational function with a
  stated error bound (lpcnet_activations.py). The float64 reference is always the true
  function, so a fast step is judged at its precision's tolerance plus FAST_TOLERANCE.
- `output: full | tree`: the whole dual FC and a softmax, or LPCNet's hierarchical sampler
  drawing one sample down a binary tree from a stated random stream (lpcnet_sampling.py).
- `sampling: off | on` (tree only): the inputs are teacher-forced from a generated sequence,
  so every path sees the same inputs and can be compared step for step; or each draw is fed
  back as the next sample's input, as a vocoder runs. A sampled sequence is verified on the
  backend's own path (lpcnet_sampling.py says how).

The measured call runs `steps` samples from the initial state in `x` and writes [ha, hb, p]
(the final state and the last distribution), or [ha, hb, draws] with the tree, to `out`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from gemmbench.backend import Backend
from gemmbench.cases.fields import FieldReader
from gemmbench.measure.timing import Loop, python_loop
from gemmbench.measure.verify import Verdict, check
from gemmbench.op import Calls, Case, Column, Counts, Op
from gemmbench.ops import lpcnet_activations as act
from gemmbench.ops import lpcnet_sampling as tree
from gemmbench.ops.matrix import (
    MATRIX_COLUMNS,
    MATRIX_FIELDS,
    MatrixSpec,
    MatrixWorkload,
    file_weights,
    generate_activations,
    generate_weights,
    matrix_columns,
    matrix_files,
    matrix_label,
    prune,
    read_matrix_file,
    read_shape,
    read_sparsity,
    spec_from_dict,
)
from gemmbench.report.kinds import PlotKind

PARTS = ("conditioning", "gru_a_product", "gru_a_gates", "gru_b", "output")
CONDITIONING = ("per_frame", "per_sample")
OUTPUTS = ("full", "tree")
# Relative error the fast activations add to a step's output: about 3x the worst seen. On
# LPCNet's sizes (1600 samples; dense, 16x1 and 8x4 GRU-A; both conditionings; full and tree
# output; 3-4 seeds) they added 1.0e-4 (the rational function alone) to 1.6e-4 (with AVX2's
# reciprocal estimate) over the accurate step's error, in float32 and int8 alike.
FAST_TOLERANCE = 5e-4


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
    activation: str = "accurate"
    output: str = "full"
    sampling: str = "off"

    @property
    def hidden_a(self) -> int:
        return self.k

    @property
    def depth(self) -> int | None:
        """Levels of the tree (log2 of the output levels) when they are a power of two it can draw."""
        return tree.depth_of(self.levels)

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
        """[ha, hb] and the last distribution (full) or every draw of the call (tree)."""
        return self.hidden_a + self.hidden_b + (self.steps if self.output == "tree" else self.levels)

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
    if dims.output == "tree":  # the visited node's two channels at each level
        shapes["out"] = (2 * (dims.depth or 0), dims.hidden_b)
    per_step = sum(2 * m * k for name, (m, k) in shapes.items() if name not in ("gru_a", "cond_a", "cond_b"))
    per_projection = 2 * (shapes["cond_a"][0] + shapes["cond_b"][0]) * dims.cond_size
    return dims.steps * (per_step + 2 * gru_a_weights) + dims.projections * per_projection


def _step_bytes(dims: StepSpec, itemsize: int) -> int:
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
    """GRU-A's matrix as a MatrixWorkload (weights, block_mask, diagonal), with every other array in `extra`,
    and with the tree the reference's logit margins at each draw's decisions."""

    extra: dict = None
    margins: np.ndarray | None = None  # tree: (steps, depth) float64 logit - threshold along the reference's walk


def _make_step(case: Case) -> StepWorkload:
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
    reference = reference_run(dims, extra, state, case.seed)
    if diagonal is not None:
        diagonal = diagonal.astype(case.dtype)
    return StepWorkload(case, state, reference.out, extra["gru_a"], mask, diagonal, extra=extra,
                        margins=reference.margins)


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


@dataclass(frozen=True)
class Reference:
    out: np.ndarray  # what the call writes: [ha, hb, p] or [ha, hb, draws]
    margins: np.ndarray | None  # tree: (steps, depth) logit - threshold at each decision of the walk


def reference_run(dims: StepSpec, extra: dict, state: np.ndarray, seed: int,
                  path: np.ndarray | None = None) -> Reference:
    """The float64 answer: T steps from `state`, all arithmetic (and every activation) in float64.

    With sampling, `path` (a backend's draws) replaces the reference's own draws as what is fed
    back, so the reference replays the backend's path; its own draws are still what it returns."""
    w = {k: v.astype(np.float64) for k, v in extra.items() if k != "inputs"}
    ha = state[:dims.hidden_a].astype(np.float64)
    hb = state[dims.hidden_a:].astype(np.float64)
    levels, out_rows = dims.levels, w["out"]
    p, draws, margins = np.zeros(levels), [], []
    a1, a2 = w["out_gain"]

    def logit(node: int) -> float:
        return a1[node] * math.tanh(out_rows[node] @ hb) + a2[node] * math.tanh(out_rows[levels + node] @ hb)

    for t in dims.samples:
        if dims.projects(t):
            feature = w["features"][t // dims.frame_size]
            cond_a, cond_b = w["cond_a"] @ feature, w["cond_b"] @ feature
        fed = None if dims.sampling == "off" or not draws else int((draws if path is None else path)[t - 1 - dims.start])
        s, pr, e = tree.fed_inputs(extra["inputs"], t, dims.start, levels, fed)
        xa = w["tables"][0, s] + w["tables"][1, pr] + w["tables"][2, e] + cond_a
        ha = _gru(ha, xa, w["gru_a"] @ ha + w["bias_a"])
        hb = _gru(hb, w["gru_b_in"] @ ha + cond_b, w["gru_b_rec"] @ hb + w["bias_b"])
        if dims.output == "tree":
            drawn = tree.walk(logit, tree.draw_word(seed, t), dims.depth)
            draws.append(drawn.sample)
            margins.append(drawn.margins)
        else:
            o = out_rows @ hb
            p = _softmax(a1 * np.tanh(o[:levels]) + a2 * np.tanh(o[levels:]))
    if dims.output == "tree":
        return Reference(np.concatenate([ha, hb, np.array(draws, np.float64)]), np.array(margins, np.float64))
    return Reference(np.concatenate([ha, hb, p]), None)


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
        self.scratch = np.zeros((3, max(2 * na, 2 * levels)), dtype=dtype)  # the fast activations' temporaries
        self.draws = np.zeros(dims.steps, dtype=np.int64)
        self.pair, self.pair_scratch = zeros(2), np.zeros((3, 2), dtype=dtype)  # a tree node's two channels


def _gru_into(h: np.ndarray, x: np.ndarray, r: np.ndarray, t: np.ndarray, activation: str,
              scratch: np.ndarray) -> None:
    """h <- GRU update from input part x and recurrent part r, using t and scratch; no allocation."""
    n = h.size
    np.add(x[:2 * n], r[:2 * n], out=t[:2 * n])
    act.sigmoid_into(t[:2 * n], activation, scratch)  # t[:n] = z, t[n:2n] = reset gate
    np.multiply(t[n:2 * n], r[2 * n:], out=t[2 * n:])
    t[2 * n:] += x[2 * n:]
    act.tanh_into(t[2 * n:], activation, scratch)
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
    seed: int


# Each product's input and output buffer (attributes of _Buffers): fixed, so backends may bind to them.
PRODUCT_BUFFERS = {"gru_a": ("ha", "ra"), "cond_a": ("feature", "cond_a"), "gru_b_in": ("ha", "xb"),
            "gru_b_rec": ("hb", "rb"), "cond_b": ("feature", "cond_b"), "out": ("hb", "o")}


def _products(dims: StepSpec) -> dict[str, tuple[str, str]]:
    """The products a composed step runs on the inner backend: the tree walks its nodes in numpy."""
    return {name: io for name, io in PRODUCT_BUFFERS.items() if name != "out" or dims.output == "full"}


class Composed(Backend):
    """Runs `lpcnet_step` on any backend that offers gemv: the harness does the rest in numpy
    (the tree's nodes too, in the case's dtype: one node's 2 x hidden_b weights a level)."""

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
        for name in _products(case.spec):
            reason = self.inner.skip_reason(_sub_case(case, name), variant)
            if reason:
                return f"composing lpcnet_step: the {name} product: {reason}"
        return ""

    def prepare(self, workload: StepWorkload, variant) -> ComposedStep:
        dims = workload.case.spec
        buffers = _Buffers(dims, workload.case.dtype)
        prepared = {}
        for name, (x, out) in _products(dims).items():
            product = self.inner.prepare(_sub_workload(workload, name), variant)
            prepared[name] = self.inner.bind(product, getattr(buffers, x), getattr(buffers, out))
        return ComposedStep(dims, workload.extra, prepared, buffers, workload.case.seed)

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
        b, tables, dims = step.buffers, step.extra["tables"], step.dims
        fed = int(b.draws[t - 1 - dims.start]) if dims.sampling == "on" and t > dims.start else None
        s, p, e = tree.fed_inputs(step.extra["inputs"], t, dims.start, dims.levels, fed)
        np.add(tables[0, s], tables[1, p], out=b.xa)
        b.xa += tables[2, e]
        b.xa += b.cond_a
        _gru_into(b.ha, b.xa, b.ra, b.ta, dims.activation, b.scratch)

    def gru_b(self, step: ComposedStep) -> None:
        b = step.buffers
        self._gemv(step, "gru_b_in")
        b.xb += b.cond_b
        self._gemv(step, "gru_b_rec")
        b.rb += step.extra["bias_b"]
        _gru_into(b.hb, b.xb, b.rb, b.tb, step.dims.activation, b.scratch)

    def output(self, step: ComposedStep, t: int) -> None:
        if step.dims.output == "tree":
            self.draw(step, t)
            return
        b, gain, levels = step.buffers, step.extra["out_gain"], step.dims.levels
        self._gemv(step, "out")
        act.tanh_into(b.o, step.dims.activation, b.scratch)
        np.multiply(gain[0], b.o[:levels], out=b.logits)
        np.multiply(gain[1], b.o[levels:], out=b.tmp)
        b.logits += b.tmp
        b.logits -= b.logits.max()
        np.exp(b.logits, out=b.logits)
        b.logits /= b.logits.sum()

    def draw(self, step: ComposedStep, t: int) -> None:
        dims, b, rows, (a1, a2) = step.dims, step.buffers, step.extra["out"], step.extra["out_gain"]
        levels = dims.levels

        def logit(node: int) -> float:
            b.pair[0] = rows[node] @ b.hb
            b.pair[1] = rows[levels + node] @ b.hb
            act.tanh_into(b.pair, dims.activation, b.pair_scratch)
            return a1[node] * b.pair[0] + a2[node] * b.pair[1]

        b.draws[t - dims.start] = tree.walk(logit, tree.draw_word(step.seed, t), dims.depth).sample

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
            self.output(step, t)
        out[:dims.hidden_a] = b.ha
        out[dims.hidden_a:dims.state_size] = b.hb
        out[dims.state_size:] = b.draws if dims.output == "tree" else b.logits

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
            "output": lambda: self.output(step, first),
        }
        weight = {"conditioning": dims.projections / dims.steps}  # amortised over the frame
        return {name: (python_loop(call), weight.get(name, 1.0)) for name, call in calls.items()}


# ---------------------------------------------------------------- judging the tree's draws

@functools.lru_cache(maxsize=4)
def _replay(workload: StepWorkload, path: bytes) -> Reference:
    """The float64 reference fed back the backend's draws (sampling on), cached for the repeated checks."""
    draws = np.frombuffer(path, dtype=np.int64)
    return reference_run(workload.case.spec, workload.extra, workload.x, workload.case.seed, draws)


def judge_draws(workload: StepWorkload, out: np.ndarray, precision: str, tolerance: float) -> Verdict:
    """[ha, hb] within `tolerance` of the reference, and the draws within the flips lpcnet_sampling allows;
    with sampling, both against the reference replayed on the backend's own draws."""
    dims: StepSpec = workload.case.spec
    n, got = dims.state_size, out[dims.state_size:].astype(np.float64)
    if not (np.isfinite(got).all() and (got == np.round(got)).all() and (got >= 0).all() and (got < dims.levels).all()):
        bad = got[~(np.isfinite(got) & (got == np.round(got)) & (got >= 0) & (got < dims.levels))]
        return Verdict(False, math.inf, math.inf, -math.inf, tolerance,
                       f"{bad.size} draws are not levels 0 .. {dims.levels - 1} (first: {float(bad[0])!r})")
    reference = Reference(workload.reference, workload.margins)
    if dims.sampling == "on" and not np.array_equal(got, reference.out[n:]):
        reference = _replay(workload, got.astype(np.int64).tobytes())
    flips = tree.count_flips(got, reference.out[n:], reference.margins, dims.depth,
                             tree.allowed_flips(precision, dims.activation, dims.steps))
    columns = {"flipped_samples": flips.differing, "near_tie_flips": flips.near_ties}
    state = check(out[:n], reference.out[:n], precision, tolerance)
    if not state.ok:
        return Verdict(False, state.max_abs_err, state.rel_err, state.snr_db, tolerance, f"the state [ha, hb]: "
                       f"{state.message}", columns)
    if not flips.ok:
        return Verdict(False, state.max_abs_err, state.rel_err, state.snr_db, tolerance,
                       tree.describe(flips, precision, dims.activation), columns)
    return Verdict(True, state.max_abs_err, state.rel_err, state.snr_db, tolerance, "", columns)


def _read_sampling(read: FieldReader) -> str:
    """on | off; YAML reads a bare on/off as true/false, so those are taken too."""
    value = read.get("sampling", "off")
    spelled = {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value
    if spelled not in tree.SAMPLING:
        read.bad("sampling", "must be on or off")
        return "off"
    return spelled


# ---------------------------------------------------------------- the op

STEP_FIELDS = {
    "hidden_b": "GRU-B units (LPCNet: 16)", "cond_size": "frame-feature length the conditioning projects (128)",
    "levels": "output levels of the dual softmax (256, mu-law)", "frame_size": "samples per feature frame (160)",
    "steps": "audio samples one measured call computes", "start": "index of the call's first sample in the sequence",
    "sample_rate": "audio sample rate the real-time factor refers to, Hz (16000)",
    "conditioning": f"project the frame features {' or '.join(CONDITIONING)}",
    "activation": "sigmoid and tanh: accurate (through exp) or fast (a rational function, stated error)",
    "output": "full (the whole dual FC and a softmax) or tree (a sample drawn down the tree, levels a power of two "
              "up to 256)",
    "sampling": "on (tree only: each draw fed back as the next sample's input) or off (teacher-forced)",
}
PART_DOCS = {"conditioning": "the frame-conditioning projection (amortised)",
             "gru_a_product": "GRU-A's recurrent matrix product", "gru_a_gates": "GRU-A's input gather and gates",
             "gru_b": "GRU-B (products and gates)",
             "output": "the dual output layer and softmax, or the tree's draw with its random stream"}
STEP_COLUMNS = (
    Column("activation", "string", "the step's sigmoid and tanh: accurate or fast"),
    Column("activation_max_abs_err", "float64", "the activation variant's stated largest absolute error against "
           "float64 (the larger of sigmoid's and tanh's)"),
    Column("output", "string", "full (distribution) or tree (a drawn sample)"),
    Column("sampling", "string", "on: each draw fed back as the next input; off: teacher-forced"),
    Column("flipped_samples", "int64", "tree: draws that took another branch than the float64 reference on the "
           "backend's own path"),
    Column("near_tie_flips", "int64", "tree: of flipped_samples, those at a decision within the near-tie margin"),
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
                        conditioning=read.choice("conditioning", CONDITIONING, "per_frame"),
                        activation=read.choice("activation", act.ACTIVATIONS, "accurate"),
                        output=read.choice("output", OUTPUTS, "full"), sampling=_read_sampling(read))

    def spec_from_dict(self, data: dict) -> StepSpec:
        return spec_from_dict(StepSpec, data)

    def files(self, spec: StepSpec) -> tuple:
        return matrix_files(spec)

    def validate(self, spec: StepSpec, dtype: str) -> list[tuple[str, str]]:
        problems = []
        if spec.m != 3 * spec.k:
            problems.append(("m", f"lpcnet_step needs m = 3 k (three gates of GRU-A), k = {spec.k} gives m = {3 * spec.k}"))
        if spec.output == "tree" and spec.depth is None:
            problems.append(("levels", f"output: tree draws down a binary tree, one byte of draw per level: levels "
                                       f"must be a power of two from 2 to {1 << tree.MAX_DEPTH}, got {spec.levels}"))
        if spec.sampling == "on" and spec.output != "tree":
            problems.append(("sampling", "sampling: on feeds back the tree's draws: it needs output: tree"))
        return problems

    def memory_bytes(self, spec: StepSpec, dtype: str) -> int:
        weights = sum(m * k for m, k in spec.matrices().values())
        return 8 * 3 * (weights + spec.frames * spec.cond_size + 3 * spec.levels * 3 * spec.hidden_a)

    def label(self, case: Case) -> str:
        return f"{matrix_label(case.spec)} x{case.spec.steps}"

    def counts(self, case: Case) -> Counts:
        spec: StepSpec = case.spec
        return Counts(flops=_flops(spec, spec.m * spec.k), useful_flops=_flops(spec, spec.nonzeros),
                      bytes=_step_bytes(spec, np.dtype(case.dtype).itemsize))

    def make(self, case: Case) -> StepWorkload:
        return _make_step(case)

    def case_columns(self, case: Case) -> dict:
        spec: StepSpec = case.spec
        return {**matrix_columns(spec), "steps": spec.steps, "sample_rate": spec.sample_rate,
                "activation": spec.activation, "activation_max_abs_err": act.max_abs_error(spec.activation),
                "output": spec.output, "sampling": spec.sampling}

    def tolerance(self, case: Case, precision: str) -> float:
        """The precision's tolerance, plus FAST_TOLERANCE where the activations are the fast ones."""
        return super().tolerance(case, precision) + (FAST_TOLERANCE if case.spec.activation == "fast" else 0.0)

    def verify(self, workload: StepWorkload, calls: Calls, precision: str, native: bool = False) -> Verdict:
        """The full output as any op's; the tree's draws counted against the reference on the backend's path."""
        if workload.case.spec.output != "tree":
            return super().verify(workload, calls, precision, native)
        calls.reset()
        calls.out.fill(math.nan)
        (calls.run_native if native and calls.run_native else calls.run)()
        return judge_draws(workload, calls.out, precision, self.tolerance(workload.case, precision))

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
