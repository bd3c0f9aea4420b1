"""LPCNet's sample-rate network fused in C (lpcnet.c): prepare its products and buffers, call, time.

    step = prepare_step(kern, workload, int8=True)   # untimed: packing, quantization, buffers
    run(step, x, out)                  # steps samples from state x, one ctypes call per sample
    ns = run_time(step, x, out, loops)  # the whole sequence, `loops` times inside C
    part_loops(step, x)                # {part: (native loop, calls per sample)}

Kernels: GRU-A's recurrent product runs the kernel csimd runs for the case as a GEMV
(`kernels.prepare_gemv`: 16x1 float32 or 8x4 int8 when sparse, dense float32 or int8
otherwise). In int8 variants GRU-B's two products and the output layer are int8 dense as
well (`SMALL_INT8`: see there); the conditioning projections are float32 dense in every
variant, as LPCNet's frame-rate side is. Gates, the table gather, tanh and the softmax are
float32 (gb_vmath.h: its exp is within 2 ulp).

The C step reads and writes only buffers owned by the prepared object (never the harness's
arrays, except x at the first sample and out at the last), so every call starts again from x,
and one prepared step must not run in two threads at once.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass, field

import numpy as np

from gemmbench.backends.csimd import kernels as K
from gemmbench.timing import Loop
from gemmbench.ops.lpcnet_step import PARTS, StepSpec
from gemmbench.op import Workload

# GRU-B (48x384, 48x16) and the output layer (512x16) in int8 too, in int8 variants. It pays:
# on the development machine (Zen 5, 10%-sparse 8x4 GRU-A, 1600 samples, part loops pinned to
# one CPU) GRU-B took 155 ns instead of 500 and the output layer 265 instead of 335, the whole
# step 1.6 us instead of 2.05 (avx512vnni-int8; avx512-int8 alike, avx2-int8 2.3 us instead of
# 2.7); the error against float64 grew from 0.09% to 0.13% (w127 weights) and from 0.17% to
# 0.28% (w63), far inside the 5% int8 tolerance.
SMALL_INT8 = True
ACTIVATIONS = {"exp": 0, "sigmoid": 1, "tanh": 2}  # gb_activation's fn codes
KINDS = {K.DenseF32: 0, K.Sparse16F32: 1, K.DenseInt8: 2, K.Sparse8x4Int8: 3}  # GB_DENSE_F32 ...

_P = ctypes.c_void_p
_I32 = ctypes.c_int32


class _Product(ctypes.Structure):
    _fields_ = [("kind", _I32), ("m", _I32), ("k", _I32), ("unused", _I32), ("w", _P), ("idx", _P),
                ("diag", _P), ("scale", _P), ("corr", _P), ("xq", _P)]


PRODUCTS = ("gru_a", "cond_a", "gru_b_in", "gru_b_rec", "cond_b", "out")
INPUTS = ("bias_a", "bias_b", "tables", "out_gain", "features", "inputs")
BUFFERS = ("ha", "hb", "ra", "cond_a_out", "xb", "rb", "cond_b_out", "o", "p")


class _Net(ctypes.Structure):
    """gb_lpcnet, field for field."""

    _fields_ = ([(name, _I32) for name in ("hidden_a", "hidden_b", "cond_size", "levels", "frame_size",
                                             "per_sample", "start", "steps")]
                + [(name, _Product) for name in PRODUCTS]
                + [(name, _P) for name in INPUTS + BUFFERS])


@functools.lru_cache(maxsize=None)
def _check_layout(kernels: K.Kernels) -> None:
    size = kernels.lib.gb_lpcnet_struct_size()
    if size != ctypes.sizeof(_Net):
        raise RuntimeError(f"gb_lpcnet is {size} bytes in {kernels.path.name} but {ctypes.sizeof(_Net)} in "
                           f"the ctypes mirror: gb_kernels.h and lpcnet.py disagree")


def _product(p: K.DenseF32 | K.Sparse16F32 | K.DenseInt8 | K.Sparse8x4Int8) -> _Product:
    arrays = getattr(p, "arrays", None)
    weights = p.packed if hasattr(p, "packed") else p.weights
    return _Product(KINDS[type(p)], p.m, p.k, 0, weights.ctypes.data, K._ptr(getattr(p, "index", None)),
                    K._ptr(getattr(p, "diagonal", None)), K._ptr(arrays and arrays.scale),
                    K._ptr(arrays and arrays.corr), K._ptr(arrays and arrays.xq))


def _buffers(dims: StepSpec) -> dict[str, np.ndarray]:
    na, nb, levels = dims.hidden_a, dims.hidden_b, dims.levels
    sizes = {"ha": na, "hb": nb, "ra": 3 * na, "cond_a_out": 3 * na, "xb": 3 * nb, "rb": 3 * nb,
             "cond_b_out": 3 * nb, "o": 2 * levels, "p": levels}
    buffers = {name: K.aligned_empty(size, np.float32) for name, size in sizes.items()}
    for buffer in buffers.values():
        buffer[:] = 0
    return buffers


@dataclass(frozen=True, eq=False)
class LpcnetStep:
    """A prepared fused step: the C struct, and every array its pointers point into."""

    kernels: K.Kernels
    dims: StepSpec
    net: _Net = field(repr=False)
    products: dict = field(repr=False)  # name -> prepared kernel (owns the weights)
    arrays: dict = field(repr=False)  # inputs and buffers, kept alive for the C pointers
    addresses: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def address(self) -> int:
        return ctypes.addressof(self.net)

    @property
    def small_int8(self) -> bool:
        return isinstance(self.products["out"], K.DenseInt8)

    def x_out(self, x: np.ndarray, out: np.ndarray) -> tuple[int, int]:
        return (K._address(self.addresses, x, (self.dims.state_size,), "x"),
                K._address(self.addresses, out, (self.dims.out_size,), "out"))


def prepare_step(kernels: K.Kernels, workload: Workload, int8: bool, small_int8: bool = SMALL_INT8) -> LpcnetStep:
    """Pack every matrix for the C step; int8 selects the variant's int8 kernels for GRU-A
    and, with small_int8, for GRU-B and the output layer."""
    _check_layout(kernels)
    dims, extra = workload.case.spec, workload.extra
    mask = workload.block_mask if workload.case.spec.sparsity is not None else None
    products = {"gru_a": K.prepare_gemv(kernels, extra["gru_a"], int8, mask, workload.diagonal)}
    for name in ("cond_a", "cond_b"):
        products[name] = K.prepare_gemv(kernels, extra[name], False)
    for name in ("gru_b_in", "gru_b_rec", "out"):
        products[name] = K.prepare_gemv(kernels, extra[name], int8 and small_int8)
    arrays = {name: K.aligned_copy(np.ascontiguousarray(extra[name]), np.int32 if name == "inputs" else np.float32)
              for name in INPUTS}
    arrays.update(_buffers(dims))
    net = _Net(dims.hidden_a, dims.hidden_b, dims.cond_size, dims.levels, dims.frame_size,
               dims.conditioning == "per_sample", dims.start, dims.steps,
               *(_product(products[name]) for name in PRODUCTS),
               *(arrays[name].ctypes.data for name in INPUTS + BUFFERS))
    return LpcnetStep(kernels, dims, net, products, arrays)


def run(step: LpcnetStep, x: np.ndarray, out: np.ndarray) -> None:
    """`steps` samples from the state in x, one Python -> C call per sample; [ha, hb, p] into out."""
    x_at, out_at = step.x_out(x, out)
    call, net = step.kernels.lib.gb_lpcnet_step, step.address
    first, last = step.dims.start, step.dims.start + step.dims.steps - 1
    if first == last:
        call(net, first, x_at, out_at)
        return
    call(net, first, x_at, None)
    for t in range(first + 1, last):
        call(net, t, None, None)
    call(net, last, None, out_at)


def run_time(step: LpcnetStep, x: np.ndarray, out: np.ndarray, loops: int) -> int:
    """The whole call (all `steps` samples from x) `loops` times inside C; elapsed ns."""
    return step.kernels.lib.gb_lpcnet_run_time(step.address, *step.x_out(x, out), loops)


def part_loops(step: LpcnetStep, x: np.ndarray) -> dict[str, tuple[Loop, float]]:
    """Each part as a native loop, with how many of its calls one sample costs.

    One step from x first, so every buffer a part reads holds a real step's values.
    """
    lib, dims = step.kernels.lib, step.dims
    lib.gb_lpcnet_step(step.address, dims.start, K._address(step.addresses, x, (dims.state_size,), "x"), None)
    weight = {"conditioning": dims.projections / dims.steps}  # amortised over the frame
    return {name: (functools.partial(lib.gb_lpcnet_part_time, step.address, part), weight.get(name, 1.0))
            for part, name in enumerate(PARTS)}


def describe(step: LpcnetStep) -> str:
    small = "int8 dense" if step.small_int8 else "float32 dense"
    return (f"lpcnet_step fused in C ({step.kernels.variant}): GRU-A {step.products['gru_a'].kernel}; "
            f"GRU-B and output {small}; conditioning float32 dense; gates, tanh and softmax float32 "
            f"(Cephes exp)")


def activation(kernels: K.Kernels, name: str, x: np.ndarray) -> np.ndarray:
    """The step's float32 exp, sigmoid or tanh over x (for checking their error)."""
    xc = np.ascontiguousarray(x, dtype=np.float32)
    y = np.empty_like(xc)
    kernels.lib.gb_activation(ACTIVATIONS[name], xc.ctypes.data, xc.size, y.ctypes.data)
    return y
