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
float32 (gb_vmath.h: its exp is within 2 ulp).

The C step reads and writes only buffers owned by the prepared object (never the harness's
arrays, except x at the first sample and out at the last), so every call starts again from x,
and one prepared step must not run in two threads at once.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np

from gemmbench.backends.csimd import kernels as K
from gemmbench.op import Workload
from gemmbench.ops.lpcnet_step import PARTS, StepSpec
from gemmbench.measure.timing import Loop

# GRU-B (48x384, 48x16) and the output layer (512x16) in the variant's precision too. In int8
# they run faster (GRU-B several times, and so the whole step), and the step's error stays far inside the 5%
# int8 tolerance; bf16 gains little (its kernels are in-core bound, docs/csimd.md) for an error
# still far inside bf16's 1%. The figures: docs/journal/2026-11-22-dense-gemv-on-zen5.md and
# docs/journal/2026-11-29-half-precision.md.
SMALL_PRODUCTS_TOO = True
ACTIVATIONS = {"exp": 0, "sigmoid": 1, "tanh": 2}  # gb_activation's fn codes
PRODUCTS = ("gru_a", "cond_a", "gru_b_in", "gru_b_rec", "cond_b", "out")
INPUTS = ("bias_a", "bias_b", "tables", "out_gain", "features", "inputs")
BUFFERS = ("ha", "hb", "ra", "cond_a_out", "xb", "rb", "cond_b_out", "o", "p")
_I = ctypes.c_int64


class _Net(ctypes.Structure):
    """gb_lpcnet, field for field."""

    _fields_ = ([(name, _I) for name in ("hidden_a", "hidden_b", "cond_size", "levels", "frame_size",
                                             "per_sample", "start", "steps")]
                + [(name, K.Product) for name in PRODUCTS]
                + [(name, ctypes.c_void_p) for name in INPUTS + BUFFERS])


@functools.lru_cache(maxsize=None)
def _check_layout(kernels: K.Kernels) -> None:
    K.check_layout(kernels, "gb_lpcnet", _Net)


def _buffers(dims: StepSpec) -> dict[str, np.ndarray]:
    na, nb, levels = dims.hidden_a, dims.hidden_b, dims.levels
    sizes = {"ha": na, "hb": nb, "ra": 3 * na, "cond_a_out": 3 * na, "xb": 3 * nb, "rb": 3 * nb,
             "cond_b_out": 3 * nb, "o": 2 * levels, "p": levels}
    buffers = {name: K.aligned_empty(size, np.float32) for name, size in sizes.items()}
    for buffer in buffers.values():
        buffer[:] = 0
    return buffers


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
    net = _Net(dims.hidden_a, dims.hidden_b, dims.cond_size, dims.levels, dims.frame_size,
               dims.conditioning == "per_sample", dims.start, dims.steps,
               *(products[name].product for name in PRODUCTS),
               *(arrays[name].ctypes.data for name in INPUTS + BUFFERS))
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
    return (f"lpcnet_step fused in C ({step.kernels.variant}): GRU-A {step.products['gru_a'].kernel}; "
            f"GRU-B and output {step.small_precision} dense; conditioning float32 dense; gates, tanh and "
            f"softmax float32 (Cephes exp)")


def activation(kernels: K.Kernels, name: str, x: np.ndarray) -> np.ndarray:
    """The step's float32 exp, sigmoid or tanh over x (for checking their error)."""
    xc = np.ascontiguousarray(x, dtype=np.float32)
    y = np.empty_like(xc)
    kernels.lib.gb_activation(ACTIVATIONS[name], xc.ctypes.data, xc.size, y.ctypes.data)
    return y
