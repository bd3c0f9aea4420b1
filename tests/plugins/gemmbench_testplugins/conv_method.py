"""A convolution method from outside gemmbench, to prove methods are plugins: `test-tapsum`, one
matrix product per tap, registered through the `gemmbench.methods` entry-point group for a
built-in backend (numpy) and a third-party one (test-good), exactly as a package would.
Nothing in gemmbench knows it.
"""

from __future__ import annotations

import numpy as np

from gemmbench.backend import Variant
from gemmbench.method import Method, Prepared


class TapSumPrepared(Prepared):
    """out = sum over taps k of W[:, :, k] @ xpad[:, t + k d], channels-first, into a zeroed padded copy of x."""

    def __init__(self, workload):
        spec = workload.spec
        self.spec = spec
        self.taps = [np.ascontiguousarray(workload.weights[:, :, k]) for k in range(spec.k)]
        self.padded = np.zeros((spec.c_in, spec.t + sum(spec.pads)), dtype=workload.weights.dtype)
        self.term = np.zeros(spec.out_shape, dtype=workload.weights.dtype)

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        spec = self.spec
        left = spec.pads[0]
        self.padded[:, left:left + spec.t] = x
        out.fill(0)
        for k, w in enumerate(self.taps):
            start = k * spec.dilation
            np.matmul(w, self.padded[:, start:start + spec.t_out], out=self.term)
            out += self.term

    def describe(self) -> str:
        return f"{self.spec.k} products of ({self.spec.c_out} x {self.spec.c_in}) by ({self.spec.c_in} x t)"


class TapSum(Method):
    op = "conv1d"
    backends = frozenset({"numpy", "test-good"})
    variant_name = "test-tapsum"

    def variants(self) -> list[Variant]:
        return [Variant(self.variant_name, detail="one np.matmul per tap (a test plugin's method)")]

    def skip_reason(self, case, variant) -> str:
        spec = case.spec
        if spec.mode != "conv" or spec.channels_last:
            return f"{variant.name} runs channels-first convolutions only"
        return ""

    def prepare(self, workload, variant) -> Prepared:
        return TapSumPrepared(workload)


class RuntimeTapSum(TapSum):
    """The same method under another variant name, declared in no entry point: tests register it at run time."""

    backends = frozenset({"numpy"})
    variant_name = "test-tapsum-runtime"
