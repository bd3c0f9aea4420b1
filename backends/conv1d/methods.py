"""The convolution methods, each registered for the backend it runs on (entry-point group
`gemmbench.methods` in pyproject.toml), and how a method is built for each mode.

A method's `entries()` are its variants, each with how it builds the method for a plain
convolution geometry; the op's other modes go through the generic lowerings (a transposed layer
as a zero-inserted convolution, a streaming call as a window) unless the entry has its own
(`transpose`, `stream`). The implementations are imported when a method is first built, so
listing a backend's variants loads neither scipy.fft nor csimd's kernels.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Callable

import numpy as np

from gemmbench.backend import Variant
from gemmbench.backends.conv1d.prepared import Convolution, Geometry, Window, conv_geometry
from gemmbench.backends.conv1d.transpose import Col2im, ZeroInsert, zero_inserted_geometry
from gemmbench.machine import isa
from gemmbench.method import Method
from gemmbench.op import Case
from gemmbench.ops.conv1d import Conv1dSpec, Conv1dWorkload


@dataclass(frozen=True)
class Entry:
    variant: Variant
    build: Callable[[Geometry, np.ndarray, Conv1dWorkload], Convolution] | None  # a plain convolution
    transpose: Callable[[Conv1dWorkload], Convolution] | None = None  # its own transposed lowering
    stream: Callable[[Conv1dWorkload], Convolution] | None = None  # its own streaming kernel
    skip: Callable[[Geometry], str] = lambda g: ""  # why it does not apply to a geometry ('' if it does)


def skip_reason(e: Entry, spec: Conv1dSpec) -> str:
    """Why the entry's method does not run this case ('' when it does)."""
    if spec.transposed:
        return "" if e.transpose else e.skip(zero_inserted_geometry(spec))
    if e.build is None:
        return f"{e.variant.name} lowers transposed layers only; this case is mode {spec.mode}"
    if spec.streaming and e.stream:
        return ""
    return e.skip(conv_geometry(spec))


def build(e: Entry, workload: Conv1dWorkload) -> Convolution:
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


class ConvMethod(Method):
    """A convolution method: its variants are its entries, each built for the case's mode."""

    op = "conv1d"

    @abstractmethod
    def entries(self) -> list[Entry]:
        ...

    def variants(self) -> list[Variant]:
        return [e.variant for e in self.entries()]

    def entry(self, variant: Variant) -> Entry:
        for e in self.entries():
            if e.variant.name == variant.name:
                return e
        raise ValueError(f"{self.name} has no variant {variant.name!r}")

    def skip_reason(self, case: Case, variant: Variant) -> str:
        return skip_reason(self.entry(variant), case.spec)

    def prepare(self, workload: Conv1dWorkload, variant: Variant) -> Convolution:
        return build(self.entry(variant), workload)


# ---------------------------------------------------------------- numpy

class NumpyIm2colMethod(ConvMethod):
    backends = frozenset({"numpy"})

    def entries(self) -> list[Entry]:
        from gemmbench.backends.conv1d.im2col import Im2col

        return [Entry(Variant("im2col", detail="im2col copy + one np.matmul (BLAS)"), lambda g, w, wl: Im2col(g, w))]


class NumpyShiftedMethod(ConvMethod):
    backends = frozenset({"numpy"})

    def entries(self) -> list[Entry]:
        from gemmbench.backends.conv1d.shifted import Shifted

        return [Entry(Variant("shifted", detail="one cblas GEMM per tap on x in place, beta = 1"),
                      lambda g, w, wl: Shifted(g, w))]


class NumpyMecMethod(ConvMethod):
    backends = frozenset({"numpy"})

    def entries(self) -> list[Entry]:
        from gemmbench.backends.conv1d import mec

        return [Entry(Variant("mec", detail="1-D MEC: x as the lowered matrix, k cblas GEMMs by t mod k"),
                      lambda g, w, wl: mec.Mec(g, w), skip=mec.skip_reason)]


class NumpyCol2imMethod(ConvMethod):
    backends = frozenset({"numpy"})

    def entries(self) -> list[Entry]:
        return [Entry(Variant("col2im", detail="transposed layers: one GEMM, then col2im adds"), None,
                      transpose=lambda wl: Col2im(wl.spec, wl.weights))]


# ---------------------------------------------------------------- scipy and torch

def _fft(g: Geometry, weights: np.ndarray, workload: Conv1dWorkload) -> Convolution:
    from gemmbench.backends.conv1d.fft import Fft

    return Fft(g, weights)


class ScipyFftMethod(ConvMethod):
    backends = frozenset({"scipy"})

    def entries(self) -> list[Entry]:
        return [Entry(Variant("fft", detail="scipy.fft overlap-save, one complex GEMM per bin"), _fft)]


def _window_x(g: Geometry, workload: Conv1dWorkload) -> np.ndarray:
    """An input of the geometry's shape for a first call (a streaming window is longer than x)."""
    return workload.x if workload.x.shape == g.x_shape else np.zeros(g.x_shape, dtype=workload.x.dtype)


class TorchConv1dMethod(ConvMethod):
    backends = frozenset({"torch"})
    dtypes = frozenset({"float32"})

    def entries(self) -> list[Entry]:
        from gemmbench.backends.conv1d import torch_conv

        return [Entry(Variant("conv1d", detail="torch.nn.functional.conv1d"),
                      lambda g, w, wl: torch_conv.TorchConv(g, w, _window_x(g, wl)),
                      transpose=lambda wl: torch_conv.TorchTranspose(wl.spec, wl.weights, wl.x))]


# ---------------------------------------------------------------- csimd: per ISA level

def _csimd_variant(level: isa.IsaLevel, method: str, what: str, precision: str | None = None) -> Variant:
    from gemmbench.machine import native

    return Variant(f"{method}-{level.name}", precision=precision, isa=level.name, requires=level.cpu_flags,
                   detail=f"{what}; cc {' '.join(native.compile_flags(level))}")


def _csimd_levels(vector_only: bool = False) -> list[isa.IsaLevel]:
    """csimd's float32 levels on this architecture (`vector_only`: without scalar C)."""
    from gemmbench.backends.csimd import kernels

    return [level for level in kernels.float32_levels() if not (vector_only and level.name == "scalar")]


class CsimdDirectMethod(ConvMethod):
    """Register-blocked direct convolution in C, with its own streaming and transposed kernels."""

    backends = frozenset({"csimd"})
    dtypes = frozenset({"float32"})

    def entries(self) -> list[Entry]:
        from gemmbench.backends.conv1d import csimd_methods as c

        return [Entry(_csimd_variant(level, "direct", "direct convolution in C (conv1d.c); streaming: ring GEMV; "
                                                      "transposed: polyphase"),
                      lambda g, w, wl, n=level.name: c.Direct(n, g, w),
                      transpose=lambda wl, n=level.name: c.Polyphase(n, wl.spec, wl.weights),
                      stream=lambda wl, n=level.name: c.Stream(n, wl.spec, wl.weights, wl.history))
                for level in _csimd_levels()]


class CsimdWinogradMethod(ConvMethod):
    backends = frozenset({"csimd"})
    dtypes = frozenset({"float32"})

    def entries(self) -> list[Entry]:
        from gemmbench.backends.conv1d import csimd_methods as c
        from gemmbench.backends.conv1d import winograd

        return [Entry(_csimd_variant(level, f"winograd{m}", f"Winograd F({m},3) in C, transforms precomputed",
                                     f"f32-winograd{m}"),
                      lambda g, w, wl, n=level.name, m=m: c.Winograd(n, m, g, w), skip=winograd.skip_reason)
                for level in _csimd_levels(vector_only=True) for m in winograd.POINTS]


class CsimdIm2colMethod(ConvMethod):
    backends = frozenset({"csimd"})
    dtypes = frozenset({"float32"})

    def entries(self) -> list[Entry]:
        from gemmbench.backends.conv1d import csimd_methods as c

        return [Entry(_csimd_variant(level, "im2col", "im2col in C + csimd's sgemm"),
                      lambda g, w, wl, n=level.name: c.Im2colGemm(n, g, w))
                for level in _csimd_levels(vector_only=True)]
