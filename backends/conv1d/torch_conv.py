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

from gemmbench.backends.conv1d.method import Geometry, Method
from gemmbench.ops.conv1d import Conv1dSpec, MethodFacts


def _threads() -> int:
    from gemmbench.backends.torch_backend import set_threads

    return set_threads()


class TorchConv(Method):
    def __init__(self, g: Geometry, weights: np.ndarray, x: np.ndarray):
        import torch
        import torch.nn.functional as F

        self.geometry, self.threads = g, _threads()
        self.weight = torch.from_numpy(np.ascontiguousarray(weights))
        right = max(0, g.t_out + g.span - g.left - g.t_in)
        symmetric = g.left == right
        pad, d = (g.left, right), g.dilation

        def conv(xt):
            if symmetric:
                return F.conv1d(xt, self.weight, padding=g.left, dilation=d)
            return F.conv1d(F.pad(xt, pad), self.weight, dilation=d)
        self.conv = conv
        self.facts = MethodFacts("torch", weight_bytes=weights.nbytes, first_call_ns=self._first(x),
                                 note=f"F.conv1d, {self.threads} thread(s); allocates its result per call"
                                      + ("" if symmetric else " and the padded input (F.pad)"))

    def _first(self, x: np.ndarray) -> float:
        out = np.empty(self.geometry.out_shape, dtype=x.dtype)
        start = time.perf_counter_ns()
        self.run(x, out)
        return float(time.perf_counter_ns() - start)

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        import torch

        xt = torch.from_numpy(x.T if self.geometry.channels_last else x)[None]
        y = self.conv(xt)[0]
        target = torch.from_numpy(out)
        (target.T if self.geometry.channels_last else target).copy_(y[:, :self.geometry.t_out])


class TorchTranspose(Method):
    def __init__(self, spec: Conv1dSpec, weights: np.ndarray, x: np.ndarray):
        import torch
        import torch.nn.functional as F

        self.spec, self.threads = spec, _threads()
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
        import torch

        xt = torch.from_numpy(x.T if self.spec.channels_last else x)[None]
        y = self.conv(xt)[0, :, self.spec.crop:self.spec.crop + self.spec.t_out]
        target = torch.from_numpy(out)
        (target.T if self.spec.channels_last else target).copy_(y)
