"""LPCNet's sample-rate network fused in C (lpcnet.c): prepare its products and buffers, call, time.

    step = prepare_step(kern, workload, "int8")   # untimed: packing, quantization, buffers
    run(step, x, out)                  # steps samples from state x, one ctypes call per sample
    ns = run_time(step, x, out, loops)  # the whole sequence, `loops` times inside C
    part_loops(step, x)                # {part: (native loop, calls per sample)}

Kernels: GRU-A's recurrent product runs the kernel csimd runs for the case as a GEMV
(`kernels.prepare_gemv`: 16x1 float32, bf16 or fp16, 8x4 int8 when sparse, dense otherwise). In
int8, bf16 and fp16 variants GRU-B's two products and the output layer are dense in that precision
too (`SMALL_PRODUCTS_TOO`: see there); the conditioning projections are float32 dense in every
variant, as LPCNet's frame-rate side is. Gates, the table gather, tanh and the softmax are
float32 (gb_vmath.h: accurate or fast sigmoid and tanh, as the case says; the softmax's exp is
within 2 ulp). The tree output (`output: tree`) walks float32 weights in every variant: a
level reads 2 x hidden_b weights, nothing an int8 kernel would speed up; `tree_blocks` packs
them for lpcnet.c's rounds of three levels.

The C step reads and writes only buffers owned by the prepared object (never the harness's
arrays, except x at the first sample and out at the last), so every call starts again from x,
and one prepared step must not run in two threads at once.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np

from gemmbench.backends.csimd import kernels as K
from gemmbench.measure.timing import Loop
from gemmbench.op import Workload
from gemmbench.ops import lpcnet_sampling as sampler
from gemmbench.ops.lpcnet_step import PARTS, StepSpec

# GRU-B (48x384, 48x16) and the output layer (512x16) in the variant's precision too. In int8
# they run faster (GRU-B several times, and so the whole step), and the step's error stays far inside the 5%
# int8 tolerance; bf16 gains little (its kernels are in-core bound, docs/csimd.md) for an error
# still far inside bf16's 1%. The figures: docs/journal/2026-11-22-dense-gemv-on-zen5.md and
# docs/journal/2026-11-29-half-precision.md.
SMALL_PRODUCTS_TOO = True
# gb_activation's fn codes (GB_FN_*): (name, activation variant)
FUNCTIONS = {("exp", "accurate"): 0, ("sigmoid", "accurate"): 1, ("tanh", "accurate"): 2,
             ("sigmoid", "fast"): 3, ("tanh", "fast"): 4}
ACTIVATION_CODES = {"accurate": 0, "fast": 1}  # GB_ACTIVATION_*
OUTPUT_CODES = {"full": 0, "tree": 1}  # GB_OUTPUT_*
ROUND = 4  # tree levels one round of lpcnet.c's walk computes at once (its ROUND)
PRODUCTS = ("gru_a", "cond_a", "gru_b_in", "gru_b_rec", "cond_b", "out")
INPUTS = ("bias_a", "bias_b", "tables", "out_gain", "features", "inputs")
BUFFERS = ("ha", "hb", "ra", "cond_a_out", "xb", "rb", "cond_b_out", "o", "p", "gates")
TREE = ("tree", "thresholds", "samples")
_I = ctypes.c_int64


class _Net(ctypes.Structure):
    """gb_lpcnet, field for field."""

    _fields_ = ([(name, _I) for name in ("hidden_a", "hidden_b", "cond_size", "levels", "frame_size",
                                             "per_sample", "start", "steps")]
                + [(name, K.Product) for name in PRODUCTS]
                + [(name, ctypes.c_void_p) for name in INPUTS + BUFFERS]
                + [(name, _I) for name in ("activation", "output", "sampling", "depth", "draw_key")]
                + [(name, ctypes.c_void_p) for name in TREE])


@functools.lru_cache(maxsize=None)
def _check_layout(kernels: K.Kernels) -> None:
    K.check_layout(kernels, "gb_lpcnet", _Net)


def _padded(n: int) -> int:
    return (n + 15) // 16 * 16


def _buffers(dims: StepSpec) -> dict[str, np.ndarray]:
    na, nb, levels = dims.hidden_a, dims.hidden_b, dims.levels
    sizes = {"ha": na, "hb": _padded(nb), "ra": 3 * na, "cond_a_out": 3 * na, "xb": 3 * nb, "rb": 3 * nb,
             "cond_b_out": 3 * nb, "o": 2 * levels, "p": levels, "gates": 2 * _padded(na)}
    # hb: the tree reads whole vectors of it; gates: GRU-A's gate passes write whole vectors
    buffers = {name: K.aligned_empty(size, np.float32) for name, size in sizes.items()}
    for buffer in buffers.values():
        buffer[:] = 0
    return buffers


def tree_blocks(out: np.ndarray, gain: np.ndarray, depth: int) -> np.ndarray:
    """The dual FC as lpcnet.c's walk reads it: per round root (rounds of ROUND levels, roots in order),
    a block of hidden_b (padded to 16) rows of 2 x 16 lanes, then a row of 2 x 16 gains. Lane q holds node
    q of the round (root n; 2n, 2n + 1; 4n .. 4n + 3; ...): channel 1 in the row's first 16 lanes,
    channel 2 in its last 16."""
    levels, hidden_b = gain.shape[1], out.shape[1]
    cols = _padded(hidden_b)
    blocks = []
    for first in range(0, depth, ROUND):
        span = min(ROUND, depth - first)
        for root in range(1 << first, 2 << first):
            block = np.zeros((cols + 1, 2, 16), np.float32)
            nodes = [node for level in range(span) for node in range(root << level, (root + 1) << level)]
            for lane, node in enumerate(nodes):
                block[:hidden_b, 0, lane], block[:hidden_b, 1, lane] = out[node], out[levels + node]
                block[cols, :, lane] = gain[:, node]
            blocks.append(block)
    return K.aligned_copy(np.concatenate(blocks).ravel(), np.float32)


def _tree_arrays(dims: StepSpec, extra: dict) -> dict[str, np.ndarray]:
    if dims.output != "tree":
        return {}
    return {"tree": tree_blocks(extra["out"], extra["out_gain"], dims.depth),
            "thresholds": K.aligned_copy(sampler.THRESHOLDS, np.float32),
            "samples": K.aligned_copy(np.zeros(dims.steps), np.int32)}


class LpcnetStep:
    """A prepared fused step: the C struct, every array its pointers point into, and (as
    kernels.Call does) the x and out it is bound to, so `fn(arg)` runs the call."""

    __slots__ = ("kernels", "dims", "net", "products", "arrays", "state", "addresses", "_from", "_to")

    def __init__(self, kernels: K.Kernels, dims: StepSpec, net: _Net, products: dict, arrays: dict):
        self.kernels, self.dims, self.net = kernels, dims, net
        self.products = products  # name -> prepared operand (owns the weights)
        self.arrays = arrays  # inputs and buffers, kept alive for the C pointers
        self._from = self._to = None
        self.state = (_run_samples, self, None, None)  # as kernels.Call's: (fn, arg, x, out)
        self.addresses = K.AddressBook()

    @property
    def address(self) -> int:
        return ctypes.addressof(self.net)

    @property
    def precision(self) -> str:
        return self.products["gru_a"].precision

    @property
    def small_precision(self) -> str:
        return self.products["out"].precision

    def bind(self, x: np.ndarray, out: np.ndarray) -> None:
        x_at = self.addresses.of(x, (self.dims.state_size,), "x")
        out_at = self.addresses.of(out, (self.dims.out_size,), "out")
        self._from, self._to, self.state = x_at, out_at, (_run_samples, self, x, out)  # only once both are checked


def prepare_step(kernels: K.Kernels, workload: Workload, precision: str = "float32",
                 small_products_too: bool = SMALL_PRODUCTS_TOO) -> LpcnetStep:
    """Pack every matrix for the C step: GRU-A in `precision`, and with small_products_too GRU-B
    and the output layer as well; the conditioning in float32."""
    _check_layout(kernels)
    dims, extra = workload.case.spec, workload.extra
    mask = workload.block_mask if workload.case.spec.sparsity is not None else None
    products = {"gru_a": K.prepare_gemv(kernels, extra["gru_a"], precision, mask, workload.diagonal)}
    for name in ("cond_a", "cond_b"):
        products[name] = K.prepare_gemv(kernels, extra[name])
    for name in ("gru_b_in", "gru_b_rec", "out"):
        products[name] = K.prepare_gemv(kernels, extra[name], precision if small_products_too else "float32")
    arrays = {name: K.aligned_copy(np.ascontiguousarray(extra[name]), np.int32 if name == "inputs" else np.float32)
              for name in INPUTS}
    arrays.update(_buffers(dims))
    arrays.update(_tree_arrays(dims, extra))
    net = _Net(dims.hidden_a, dims.hidden_b, dims.cond_size, dims.levels, dims.frame_size,
               dims.conditioning == "per_sample", dims.start, dims.steps,
               *(products[name].product for name in PRODUCTS),
               *(arrays[name].ctypes.data for name in INPUTS + BUFFERS),
               ACTIVATION_CODES[dims.activation], OUTPUT_CODES[dims.output], dims.sampling == "on", dims.depth or 0,
               sampler.draw_key(workload.case.seed),
               *(arrays[name].ctypes.data if name in arrays else None for name in TREE))
    return LpcnetStep(kernels, dims, net, products, arrays)


def _run_samples(step: LpcnetStep) -> None:
    """`steps` samples from the bound x, one Python -> C call per sample; [ha, hb, p] into out."""
    call, net = step.kernels.lib.gb_lpcnet_step, step.address
    first, last = step.dims.start, step.dims.start + step.dims.steps - 1
    if first == last:
        call(net, first, step._from, step._to)
        return
    call(net, first, step._from, None)
    for t in range(first + 1, last):
        call(net, t, None, None)
    call(net, last, None, step._to)


def run(step: LpcnetStep, x: np.ndarray, out: np.ndarray) -> None:
    """The whole call from x into out (binding them first when they are new)."""
    if x is not step.state[2] or out is not step.state[3]:
        step.bind(x, out)
    _run_samples(step)


def run_time(step: LpcnetStep, x: np.ndarray, out: np.ndarray, loops: int) -> int:
    """The whole call (all `steps` samples from x) `loops` times inside C; elapsed ns."""
    if x is not step.state[2] or out is not step.state[3]:
        step.bind(x, out)
    return step.kernels.lib.gb_lpcnet_run_time(step.address, step._from, step._to, loops)


def part_loops(step: LpcnetStep, x: np.ndarray) -> dict[str, tuple[Loop, float]]:
    """Each part as a native loop, with how many of its calls one sample costs.

    One step from x first, so every buffer a part reads holds a real step's values.
    """
    lib, dims = step.kernels.lib, step.dims
    lib.gb_lpcnet_step(step.address, dims.start, step.addresses.of(x, (dims.state_size,), "x"), None)
    weight = {"conditioning": dims.projections / dims.steps}  # amortised over the frame
    return {name: (functools.partial(lib.gb_lpcnet_part_time, step.address, part), weight.get(name, 1.0))
            for part, name in enumerate(PARTS)}


def describe(step: LpcnetStep) -> str:
    dims = step.dims
    how = {"accurate": "accurate (Cephes exp)", "fast": "fast (rational)"}[dims.activation]
    output = (f"output a tree draw (float32, {ROUND} levels a round), sampling {dims.sampling}"
              if dims.output == "tree" else f"output {step.small_precision} dense and softmax")
    return (f"lpcnet_step fused in C ({step.kernels.variant}): GRU-A {step.products['gru_a'].kernel}; "
            f"GRU-B {step.small_precision} dense; {output}; conditioning float32 dense; sigmoid and tanh "
            f"float32 {how}")


def activation(kernels: K.Kernels, name: str, x: np.ndarray, variant: str = "accurate") -> np.ndarray:
    """The step's float32 exp, sigmoid or tanh over x, the named variant (for checking their error)."""
    xc = np.ascontiguousarray(x, dtype=np.float32)
    y = np.empty_like(xc)
    kernels.lib.gb_activation(FUNCTIONS[name, variant], xc.ctypes.data, xc.size, y.ctypes.data)
    return y
