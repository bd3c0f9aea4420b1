"""torch.nn.functional.conv1d / conv_transpose1d on the CPU (oneDNN or torch's own kernels).

Tensors share memory with the harness's arrays (torch.from_numpy); torch's functional
convolutions have no `out=`, so each call allocates its result, which is copied into out.
Asymmetric padding (causal, odd spans) is torch's F.pad before the call, another allocation.
A transposed layer runs uncropped and the kept outputs are copied. The very first call
(oneDNN picks and builds its kernel then) is timed in prepare and reported apart
(first_call_ns); the rows' medians are the steady state."""

from __future__ import annotations

import time

import numpy as np

from gemmbench.backends.conv1d.prepared import Convolution, Geometry
from gemmbench.ops.conv1d import Conv1dSpec, MethodFacts


class Tensors:
    """torch views of the harness's arrays, made once per array object (from_numpy costs a
    microsecond or two, a visible share of a T = 1 call): x as (1, c_in, t), out as (c_out, t_out)."""

    def __init__(self, channels_last: bool):
        self.channels_last, self.cache = channels_last, {}

    def of(self, a: np.ndarray, batch: bool):
        import torch

        hit = self.cache.get((id(a), batch))
        if hit is not None and hit[0] is a:
            return hit[1]
        if len(self.cache) >= 8:
            self.cache.clear()
        t = torch.from_numpy(a.T if self.channels_last else a)
        self.cache[(id(a), batch)] = (a, t[None] if batch else t)
        return self.cache[(id(a), batch)][1]


def _threads() -> int:
    from gemmbench.backends.torch_backend import set_threads

    return set_threads()


class TorchConv(Convolution):
    def __init__(self, g: Geometry, weights: np.ndarray, x: np.ndarray):
        import torch
        import torch.nn.functional as F

        self.geometry, self.threads = g, _threads()
        self.tensors = Tensors(g.channels_last)
        # torch's conv1d on the transposed view of channels-last x takes a slow path (about 4x at
        # T = 1 here); a copy into a contiguous channels-first tensor is cheaper than that.
        self.staged = torch.empty((1, g.c_in, g.t_in), dtype=self._dtype(weights)) if g.channels_last else None
        self.weight = torch.from_numpy(np.ascontiguousarray(weights))
        right = max(0, g.t_out + g.span - g.left - g.t_in)
        symmetric = g.left == right
        pad, d = (g.left, right), g.dilation

        def conv(xt):
            if symmetric:
                return F.conv1d(xt, self.weight, padding=g.left, dilation=d)
            return F.conv1d(F.pad(xt, pad), self.weight, dilation=d)
        self.conv = conv
        staged = 0 if self.staged is None else g.c_in * g.t_in * weights.itemsize
        self.facts = MethodFacts("torch", workspace_bytes=staged, copy_bytes=staged, weight_bytes=weights.nbytes,
                                 first_call_ns=self._first(x),
                                 note=f"F.conv1d, {self.threads} thread(s); allocates its result per call"
                                      + ("" if symmetric else " and the padded input (F.pad)")
                                      + ("; channels-last x copied channels-first first" if staged else ""))

    def _first(self, x: np.ndarray) -> float:
        out = np.empty(self.geometry.out_shape, dtype=x.dtype)
        start = time.perf_counter_ns()
        self.run(x, out)
        return float(time.perf_counter_ns() - start)

    @staticmethod
    def _dtype(weights: np.ndarray):
        import torch

        return torch.from_numpy(weights[:0]).dtype

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        xt = self.tensors.of(x, True)
        if self.staged is not None:
            xt = self.staged.copy_(xt)
        y = self.conv(xt)[0]
        self.tensors.of(out, False).copy_(y[:, :self.geometry.t_out])


class TorchTranspose(Convolution):
    def __init__(self, spec: Conv1dSpec, weights: np.ndarray, x: np.ndarray):
        import torch
        import torch.nn.functional as F

        self.spec, self.threads = spec, _threads()
        self.tensors = Tensors(spec.channels_last)
        self.geometry = Geometry(spec.c_in, spec.c_out, spec.k, spec.dilation, 0, spec.t, spec.t_out,
                                 spec.channels_last)
        self.weight = torch.from_numpy(np.ascontiguousarray(weights))
        self.conv = lambda xt: F.conv_transpose1d(xt, self.weight, stride=spec.stride, dilation=spec.dilation)
        out = np.empty(spec.out_shape, dtype=x.dtype)
        start = time.perf_counter_ns()
        self.run(x, out)
        first = float(time.perf_counter_ns() - start)
        self.facts = MethodFacts("torch", weight_bytes=weights.nbytes, first_call_ns=first,
                                 note=f"F.conv_transpose1d uncropped, {self.threads} thread(s); allocates its result")

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        y = self.conv(self.tensors.of(x, True))[0, :, self.spec.crop:self.spec.crop + self.spec.t_out]
        self.tensors.of(out, False).copy_(y)
