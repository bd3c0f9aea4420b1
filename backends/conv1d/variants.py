"""Which backend offers which convolution method, and how a method is built for each mode.

A `Method` entry builds the method for a plain convolution geometry; the op's other modes go
through the generic lowerings (a transposed layer as a zero-inserted convolution, a streaming
call as a window) unless the entry has its own (`transpose`, `stream`).
Each entry is one Variant of its backend with ops = {"conv1d"}, so it has rows on conv1d
cases only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from gemmbench.machine import isa, native
from gemmbench.backend import Variant
from gemmbench.backends.conv1d import csimd_methods, fft, im2col, mec, shifted, torch_conv
from gemmbench.backends.conv1d.method import Geometry, Method, Window, conv_geometry
from gemmbench.backends.conv1d.transpose import Col2im, ZeroInsert, zero_inserted_geometry
from gemmbench.ops.conv1d import Conv1dSpec, Conv1dWorkload

OPS = frozenset({"conv1d"})


@dataclass(frozen=True)
class Entry:
    variant: Variant
    build: Callable[[Geometry, np.ndarray, Conv1dWorkload], Method] | None  # a plain convolution
    transpose: Callable[[Conv1dWorkload], Method] | None = None  # its own transposed lowering
    stream: Callable[[Conv1dWorkload], Method] | None = None  # its own streaming kernel
    skip: Callable[[Geometry], str] = lambda g: ""  # why it does not apply to a geometry ('' if it does)


def _csimd_levels() -> list[isa.IsaLevel]:
    from gemmbench.backends.csimd import kernels

    return [level for level in isa.levels_for() if level.name in kernels.LEVELS and "float32" in level.gains]


def _csimd_entries() -> list[Entry]:
    entries = []
    for level in _csimd_levels():
        name = level.name
        flags = " ".join(native.compile_flags(level))

        def variant(method: str, what: str, precision: str | None = None) -> Variant:
            return Variant(f"{method}-{name}", precision=precision, isa=name, requires=level.cpu_flags, ops=OPS,
                           detail=f"{what}; cc {flags}")
        entries.append(Entry(variant("direct", "direct convolution in C (conv1d.c); streaming: ring GEMV; "
                                               "transposed: polyphase"),
                             lambda g, w, wl, n=name: csimd_methods.Direct(n, g, w),
                             transpose=lambda wl, n=name: csimd_methods.Polyphase(n, wl.spec, wl.weights),
                             stream=lambda wl, n=name: csimd_methods.Stream(n, wl.spec, wl.weights, wl.history)))
        if name == "scalar":
            continue
        for m in (2, 4, 6):
            entries.append(Entry(variant(f"winograd{m}", f"Winograd F({m},3) in C, transforms precomputed",
                                         f"f32-winograd{m}"),
                                 lambda g, w, wl, n=name, m=m: csimd_methods.Winograd(n, m, g, w),
                                 skip=csimd_methods.winograd_skip_reason))
        entries.append(Entry(variant("im2col", "im2col in C + csimd's sgemm"),
                             lambda g, w, wl, n=name: csimd_methods.Im2colGemm(n, g, w)))
    return entries


def _entries(backend: str) -> list[Entry]:
    if backend == "numpy":
        return [
            Entry(Variant("im2col", ops=OPS, detail="im2col copy + one np.matmul (BLAS)"),
                  lambda g, w, wl: im2col.Im2col(g, w)),
            Entry(Variant("shifted", ops=OPS, detail="one cblas GEMM per tap on x in place, beta = 1"),
                  lambda g, w, wl: shifted.Shifted(g, w)),
            Entry(Variant("mec", ops=OPS, detail="1-D MEC: x as the lowered matrix, k cblas GEMMs by t mod k"),
                  lambda g, w, wl: mec.Mec(g, w), skip=mec.skip_reason),
            Entry(Variant("col2im", ops=OPS, detail="transposed layers: one GEMM, then col2im adds"),
                  None, transpose=lambda wl: Col2im(wl.spec, wl.weights)),
        ]
    if backend == "scipy":
        return [Entry(Variant("fft", ops=OPS, detail="scipy.fft overlap-save, one complex GEMM per bin"),
                      lambda g, w, wl: fft.Fft(g, w))]
    if backend == "torch":
        return [Entry(Variant("conv1d", ops=OPS, detail="torch.nn.functional.conv1d"),
                      lambda g, w, wl: torch_conv.TorchConv(g, w, _window_x(g, wl)),
                      transpose=lambda wl: torch_conv.TorchTranspose(wl.spec, wl.weights, wl.x))]
    if backend == "csimd":
        return _csimd_entries()
    return []


def _window_x(g: Geometry, workload: Conv1dWorkload) -> np.ndarray:
    """An input of the geometry's shape for a first call (a streaming window is longer than x)."""
    return workload.x if workload.x.shape == g.x_shape else np.zeros(g.x_shape, dtype=workload.x.dtype)


def variants(backend: str) -> list[Variant]:
    """The conv1d variants a backend adds to its own."""
    return [entry.variant for entry in _entries(backend)]


def entry(backend: str, variant: str) -> Entry:
    for e in _entries(backend):
        if e.variant.name == variant:
            return e
    raise KeyError(f"{backend} has no conv1d variant {variant}")


def skip_reason(e: Entry, spec: Conv1dSpec) -> str:
    """Why the entry's method does not run this case ('' when it does)."""
    if spec.transposed:
        return "" if e.transpose else e.skip(zero_inserted_geometry(spec))
    if e.build is None:
        return f"{e.variant.name} lowers transposed layers only; this case is mode {spec.mode}"
    if spec.streaming and e.stream:
        return ""
    return e.skip(conv_geometry(spec))


def build(e: Entry, workload: Conv1dWorkload) -> Method:
    spec, weights = workload.spec, workload.weights
    if spec.transposed:
        if e.transpose:
            return e.transpose(workload)
        return ZeroInsert(spec, weights, lambda g, w: e.build(g, w, workload))
    if spec.streaming:
        if e.stream:
            return e.stream(workload)
        inner = e.build(conv_geometry(spec), weights, workload)
        return Window(spec, inner, workload.history)
    return e.build(conv_geometry(spec), weights, workload)
