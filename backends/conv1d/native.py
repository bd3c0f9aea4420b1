"""ctypes of backends/csimd/conv1d.c: the direct, streaming, Winograd and im2col+GEMM kernels.

The functions are compiled into csimd's library (kernels.load_kernels builds every *.c beside
it); their signatures are declared here, once per loaded library, not in kernels.py.
Each prepared kernel fixes its C arguments at prepare time and caches the x/y addresses per
array object (numpy's `.ctypes.data` costs about a microsecond).
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass, field

import numpy as np

from gemmbench.backends.csimd import kernels

_P, _I, _I64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
SIGNATURES: dict[str, tuple[object, tuple[object, ...]]] = {
    "gb_conv1d_cl_panel": (_I, ()),
    "gb_conv1d_cl_packed_floats": (_I64, (_I, _I, _I)),
    "gb_conv1d_cl_pack": (None, (_P, _I, _I, _I, _P)),
    "gb_conv1d_cf_rows": (_I, ()),
    "gb_conv1d_cf_packed_floats": (_I64, (_I, _I, _I)),
    "gb_conv1d_cf_pack": (None, (_P, _I, _I, _I, _P)),
    "gb_conv1d_plan_size": (_I64, ()),
    "gb_conv1d": (None, (_P, _P, _P)),
    "gb_conv1d_time": (_I64, (_P, _P, _P, _I64)),
    "gb_conv1d_plans_size": (_I64, ()),
    "gb_conv1d_group": (None, (_P, _P, _P)),
    "gb_conv1d_group_time": (_I64, (_P, _P, _P, _I64)),
    "gb_winograd_struct_size": (_I64, ()),
    "gb_winograd_max_alpha": (_I, ()),
    "gb_winograd": (None, (_P, _P, _P)),
    "gb_winograd_time": (_I64, (_P, _P, _P, _I64)),
}
DIRECT, STREAM, IM2COL = 0, 1, 2  # gb_conv1d_plan.method


class ConvPlan(ctypes.Structure):
    """Mirror of gb_conv1d_plan in conv1d.c (its size is checked against the library's)."""

    _fields_ = [(name, ctypes.c_int32) for name in
                ("method", "c_in", "c_out", "k", "dilation", "left", "t_in", "t_out", "channels_last", "head")] + [
        (name, ctypes.c_int64) for name in ("y_frame", "y_channel", "y_offset")] + [
        (name, ctypes.c_void_p) for name in ("packed", "ring", "lowered", "scratch")]


class PlanGroup(ctypes.Structure):
    """Mirror of gb_conv1d_plans: plans run one after the other (a transposed layer's phases)."""

    _fields_ = [("count", ctypes.c_int32), ("unused", ctypes.c_int32), ("plans", ctypes.c_void_p)]


class WinogradPlan(ctypes.Structure):
    """Mirror of gb_winograd_plan in conv1d.c (its size is checked against the library's)."""

    _fields_ = [(name, ctypes.c_int32) for name in
                ("m", "alpha", "c_in", "c_out", "left", "t_in", "t_out", "tiles_per_block")] + [
        (name, ctypes.c_int64) for name in ("x_frame", "x_channel", "y_frame", "y_channel")] + [
        ("bt", ctypes.c_void_p), ("at", ctypes.c_void_p), ("u", ctypes.c_void_p), ("u_floats", ctypes.c_int64),
        ("v", ctypes.c_void_p), ("mprod", ctypes.c_void_p)]


@functools.lru_cache(maxsize=None)
def library(level: str) -> ctypes.CDLL:
    """csimd's library for the ISA level, with conv1d's functions declared."""
    lib = kernels.load_kernels(level).lib
    for name, (restype, argtypes) in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, list(argtypes)
    for size, struct in ((lib.gb_winograd_struct_size(), WinogradPlan), (lib.gb_conv1d_plan_size(), ConvPlan),
                         (lib.gb_conv1d_plans_size(), PlanGroup)):
        if size != ctypes.sizeof(struct):
            raise RuntimeError(f"{struct.__name__} is {size} bytes in C, {ctypes.sizeof(struct)} in ctypes")
    return lib


@dataclass(eq=False)
class Addresses:
    """Data addresses of the arrays a kernel is called with, remembered per array object."""

    cache: dict = field(default_factory=dict)

    def of(self, a: np.ndarray, shape: tuple[int, ...]) -> int:
        hit = self.cache.get(id(a))
        if hit is not None and hit[0] is a:
            return hit[1]
        if a.shape != shape or a.dtype != np.float32 or not a.flags.c_contiguous:
            raise ValueError(f"expected C-contiguous float32 {shape}, got {a.dtype} {a.shape}")
        if len(self.cache) >= 8:
            self.cache.clear()
        self.cache[id(a)] = (a, a.ctypes.data)
        return a.ctypes.data


def plan(method: int, geometry, packed: np.ndarray, output: tuple[int, int, int] | None = None,
         **buffers: np.ndarray) -> ConvPlan:
    """A plan for `geometry`; `output` = (frame stride, channel stride, offset) of y when it is not
    the geometry's own layout (a phase of a transposed layer writes every s-th frame)."""
    g = geometry
    if output is None:
        output = (g.c_out, 1, 0) if g.channels_last else (1, g.t_out, 0)
    y_frame, y_channel, y_offset = output
    return ConvPlan(method=method, c_in=g.c_in, c_out=g.c_out, k=g.k, dilation=g.dilation, left=g.left,
                    t_in=g.t_in, t_out=g.t_out, channels_last=int(g.channels_last), head=0, y_frame=y_frame,
                    y_channel=y_channel, y_offset=y_offset, packed=packed.ctypes.data,
                    **{name: a.ctypes.data for name, a in buffers.items()})


def aligned(shape: int | tuple[int, ...]) -> np.ndarray:
    a = kernels.aligned_empty(shape, np.float32)
    a[...] = 0
    return a
