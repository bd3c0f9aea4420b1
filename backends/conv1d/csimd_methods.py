"""csimd's convolution methods (the C is backends/csimd/conv1d.c): direct, streaming GEMV,
Winograd F(m, 3), and im2col followed by csimd's own small-batch GEMM. Every one has a
native loop (`run_native`), so its rows carry the call overhead apart."""

from __future__ import annotations

import ctypes
import math

import numpy as np

from gemmbench.backends.conv1d import native, winograd
from gemmbench.backends.conv1d.prepared import Convolution, Geometry
from gemmbench.backends.csimd import kernels
from gemmbench.ops.conv1d import Conv1dSpec, MethodFacts

TILES_PER_BLOCK = 64  # Winograd tiles transformed at once: alpha x 64 x (c_in + c_out) floats stay in L2


class Native(Convolution):
    """A method whose C entry takes (plan, x, y): the arguments fixed at prepare time in a struct."""

    entry = "gb_conv1d"  # and entry + "_time", its native loop

    def use_plan(self, lib, plan) -> None:
        self.lib, self.plan, self.plan_address = lib, plan, ctypes.addressof(plan)
        self.call, self.loop = getattr(lib, self.entry), getattr(lib, self.entry + "_time")
        self.addresses = native.Addresses()

    def xy(self, x: np.ndarray, out: np.ndarray) -> tuple[int, int]:
        return self.addresses.of(x, self.geometry.x_shape), self.addresses.of(out, self.geometry.out_shape)

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        self.call(self.plan_address, *self.xy(x, out))

    def run_native(self, x: np.ndarray, out: np.ndarray, loops: int) -> int:
        return self.loop(self.plan_address, *self.xy(x, out), loops)


def pack_direct(lib, g: Geometry, weights: np.ndarray) -> np.ndarray:
    """Weights (c_out, c_in, k) in the direct kernel's layout for g's layout."""
    w = np.ascontiguousarray(weights, dtype=np.float32)
    cl = g.channels_last
    packed = native.aligned((lib.gb_conv1d_cl_packed_floats if cl else lib.gb_conv1d_cf_packed_floats)(
        g.c_out, g.c_in, g.k))
    (lib.gb_conv1d_cl_pack if cl else lib.gb_conv1d_cf_pack)(w.ctypes.data, g.c_out, g.c_in, g.k, packed.ctypes.data)
    return packed


class Direct(Native):
    """Register-blocked direct convolution: no workspace, the padding masked in the edge tiles."""

    def __init__(self, level: str, g: Geometry, weights: np.ndarray):
        self.geometry, self.lib = g, native.library(level)
        cl = g.channels_last
        self.packed = pack_direct(self.lib, g, weights)
        self.use_plan(self.lib, native.plan(native.DIRECT, g, self.packed))
        lanes = (f"lanes over output channels, panels of {self.lib.gb_conv1d_cl_panel()}" if cl
                 else f"lanes over frames, {self.lib.gb_conv1d_cf_rows()} output channels per tile")
        self.facts = MethodFacts("direct", weight_bytes=self.packed.nbytes,
                                 note=f"register-blocked ({lanes}); no workspace, padding masked")


class Stream(Native):
    """Streaming: a GEMV of W2 (c_out, k c_in) over the taps' frames, read in place from a doubled ring."""

    def __init__(self, level: str, spec: Conv1dSpec, weights: np.ndarray, history: np.ndarray):
        self.spec, self.lib = spec, native.library(level)
        self.geometry = Geometry(spec.c_in, spec.c_out, spec.k, spec.dilation, 0, spec.t, spec.t,
                                 spec.channels_last)
        kern = kernels.load_kernels(level)
        w2 = np.ascontiguousarray(weights.transpose(0, 2, 1).reshape(spec.c_out, spec.k * spec.c_in),
                                  dtype=np.float32)
        self.dense = kernels.pack_dense(kern, w2)
        self.history = np.ascontiguousarray(history, dtype=np.float32)
        self.ring = native.aligned((2 * (spec.span + 1), spec.c_in))  # every frame twice: see conv1d.c
        self.use_plan(self.lib, native.plan(native.STREAM, self.geometry, self.dense.packed, ring=self.ring))
        self.facts = MethodFacts("stream-gemv", weight_bytes=self.dense.packed.nbytes,
                                 note=f"GEMV of [{spec.c_out}, {spec.k}x{spec.c_in}] over the last {spec.span + 1} frames, "
                                      f"contiguous in a doubled ring (each new frame written twice)")
        self.reset()

    def reset(self) -> None:
        """Slot 0 (and its twin) takes the next frame; slots 1..span and their twins hold the history."""
        frames = self.history if self.spec.channels_last else self.history.T
        slots = self.spec.span + 1
        self.ring[1:slots] = self.ring[slots + 1:] = frames
        self.plan.head = 0


class Winograd(Native):
    entry = "gb_winograd"

    def __init__(self, level: str, m: int, g: Geometry, weights: np.ndarray):
        self.geometry, self.lib = g, native.library(level)
        t = self.transforms = winograd.transforms(m)
        alpha = t.alpha
        u = winograd.transform_weights(t, weights).astype(np.float32)  # (alpha, c_out, c_in)
        per = self.lib.gb_conv1d_cl_packed_floats(g.c_out, g.c_in, 1)
        self.u = native.aligned((alpha, per))
        for xi in range(alpha):
            wxi = np.ascontiguousarray(u[xi][:, :, None])
            self.lib.gb_conv1d_cl_pack(wxi.ctypes.data, g.c_out, g.c_in, 1, self.u[xi].ctypes.data)
        self.bt = np.ascontiguousarray(t.bt, dtype=np.float32)
        self.at = np.ascontiguousarray(t.at, dtype=np.float32)
        tiles = min(TILES_PER_BLOCK, -(-g.t_out // m))
        self.v = native.aligned((alpha, tiles, g.c_in))
        self.mprod = native.aligned((alpha, tiles, g.c_out))
        cl = g.channels_last
        plan = native.WinogradPlan(
            m=m, alpha=alpha, c_in=g.c_in, c_out=g.c_out, left=g.left, t_in=g.t_in, t_out=g.t_out,
            tiles_per_block=tiles, x_frame=g.c_in if cl else 1, x_channel=1 if cl else g.t_in,
            y_frame=g.c_out if cl else 1, y_channel=1 if cl else g.t_out, bt=self.bt.ctypes.data,
            at=self.at.ctypes.data, u=self.u.ctypes.data, u_floats=per, v=self.v.ctypes.data,
            mprod=self.mprod.ctypes.data)
        self.use_plan(self.lib, plan)
        flops = 2 * t.products(g.c_in, g.c_out, g.t_out) + t.transform_flops(g.c_in, g.c_out, g.t_out)
        all_tiles = -(-g.t_out // m)
        self.facts = MethodFacts(
            f"winograd-f{m}", workspace_bytes=self.v.nbytes + self.mprod.nbytes,
            copy_bytes=4 * alpha * all_tiles * (g.c_in + g.c_out), weight_bytes=self.u.nbytes, flops=flops,
            note=f"F({m},3): {alpha} products per {m} outputs ({3 * m / alpha:.2f}x fewer); tiles in blocks of "
                 f"{tiles}" + ("" if cl else "; channels-first transforms gather and scatter across channels"))


class Im2colGemm(Native):
    """im2col in C, then csimd's GEMM (16-row panels, tuned for few columns) over t_out columns."""

    def __init__(self, level: str, g: Geometry, weights: np.ndarray):
        self.geometry, self.lib = g, native.library(level)
        kern = kernels.load_kernels(level)
        w2 = np.ascontiguousarray(weights.reshape(g.c_out, g.c_in * g.k), dtype=np.float32)
        self.dense = kernels.pack_dense(kern, w2)
        self.lowered = native.aligned((g.c_in * g.k, g.t_out))
        self.scratch = native.aligned((g.c_out, g.t_out) if g.channels_last else 1)
        self.use_plan(self.lib, native.plan(native.IM2COL, g, self.dense.packed, lowered=self.lowered,
                                        scratch=self.scratch))
        transpose = g.c_out * g.t_out * 4 if g.channels_last else 0
        self.facts = MethodFacts("im2col", workspace_bytes=self.lowered.nbytes + (transpose and self.scratch.nbytes),
                                 copy_bytes=self.lowered.nbytes + transpose, weight_bytes=self.dense.packed.nbytes,
                                 note="lowered in C, csimd's sgemm" + ("; its (c_out, t) product transposed into out"
                                                                       if g.channels_last else ""))


def phases(spec: Conv1dSpec, weights: np.ndarray) -> list[tuple[Geometry, np.ndarray, int]]:
    """A transposed layer as `stride` direct convolutions, one per output phase r (frames q s + r).

    Output q s + r takes tap k from input frame q + (r + crop - k d) / s where that divides: the taps
    of a phase are k_max, k_max - s', ... (s' = s / gcd(s, d)), reading frames d / gcd(s, d) apart,
    so each phase is a plain convolution of x with its taps reversed. A phase no tap reaches is a
    one-tap convolution by zeros. Returns (geometry, weights (c_out, c_in, taps), r) per phase."""
    s, d, crop = spec.stride, spec.dilation, spec.crop
    step = math.gcd(s, d)
    out = []
    for r in range(s):
        frames = -(-(spec.t_out - r) // s)
        if frames <= 0:
            continue
        taps = sorted((k for k in range(spec.k) if (r + crop - k * d) % s == 0), reverse=True)
        if taps:
            first = (r + crop - taps[0] * d) // s
            w = np.ascontiguousarray(weights[:, :, taps].transpose(1, 0, 2))
            g = Geometry(spec.c_in, spec.c_out, len(taps), d // step, -first, spec.t, frames, spec.channels_last)
        else:
            w = np.zeros((spec.c_out, spec.c_in, 1), dtype=weights.dtype)
            g = Geometry(spec.c_in, spec.c_out, 1, 1, 0, spec.t, frames, spec.channels_last)
        out.append((g, w, r))
    return out


class Polyphase(Native):
    """A transposed layer without zero insertion: each output phase a direct convolution over x with
    its share of the taps, writing every s-th output frame in place (no workspace, no product with
    an inserted zero)."""

    entry = "gb_conv1d_group"

    def __init__(self, level: str, spec: Conv1dSpec, weights: np.ndarray):
        self.spec, self.lib = spec, native.library(level)
        self.geometry = Geometry(spec.c_in, spec.c_out, spec.k, spec.dilation, 0, spec.t, spec.t_out,
                                 spec.channels_last)
        parts = phases(spec, weights)
        self.packed = [pack_direct(self.lib, g, w) for g, w, _ in parts]
        s, cl = spec.stride, spec.channels_last
        outputs = [(s * spec.c_out, 1, r * spec.c_out) if cl else (s, spec.t_out, r) for _, _, r in parts]
        self.plans = (native.ConvPlan * len(parts))(*[native.plan(native.DIRECT, g, p, o) for (g, _, _), p, o
                                                      in zip(parts, self.packed, outputs)])
        self.use_plan(self.lib, native.PlanGroup(count=len(parts), plans=ctypes.addressof(self.plans)))
        products = sum(g.k * g.t_out for g, w, _ in parts if w.any())
        self.facts = MethodFacts("polyphase", weight_bytes=sum(p.nbytes for p in self.packed),
                                 flops=2 * spec.c_in * spec.c_out * products,
                                 note=f"{len(parts)} phases, each a direct convolution with its share of the "
                                      f"{spec.k} taps writing every {s}th frame; no workspace")
