"""What every prepared convolution method shares: the geometry it computes and its shape.

A method is built for a `Geometry`: a stride-1 cross-correlation of x (t_in frames) giving
t_out outputs, output t reading frame t + k d - left for tap k (frames outside x are zero
padding). The op's three modes reduce to it: a convolution directly, a transposed layer as
the convolution of its zero-inserted input by the flipped kernel (transpose.py), a streaming
call as a valid convolution over its window [state, new frames] (`Window`).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, replace

import numpy as np

from gemmbench.method import Prepared
from gemmbench.op import Case
from gemmbench.ops.conv1d import Conv1dSpec, MethodFacts, facts_columns


@dataclass(frozen=True)
class Geometry:
    c_in: int
    c_out: int
    k: int
    dilation: int
    left: int  # zero frames before x
    t_in: int
    t_out: int
    channels_last: bool

    @property
    def span(self) -> int:
        return (self.k - 1) * self.dilation

    def shift(self, tap: int) -> int:
        """Input frame minus output frame for this tap."""
        return tap * self.dilation - self.left

    def tap_range(self, tap: int) -> tuple[int, int]:
        """Outputs [lo, hi) whose frame for this tap lies in x."""
        shift = self.shift(tap)
        lo, hi = max(0, -shift), min(self.t_out, self.t_in - shift)
        return lo, max(lo, hi)

    @property
    def interior(self) -> tuple[int, int]:
        """Outputs [first, last) whose whole window lies in x."""
        first, last = self.left, min(self.t_out, self.t_in - self.span + self.left)
        return first, max(first, last)

    def frames(self, channels: int, t: int) -> tuple[int, int]:
        return (t, channels) if self.channels_last else (channels, t)

    @property
    def x_shape(self) -> tuple[int, int]:
        return self.frames(self.c_in, self.t_in)

    @property
    def out_shape(self) -> tuple[int, int]:
        return self.frames(self.c_out, self.t_out)

    @property
    def dense_flops(self) -> int:
        return 2 * self.c_in * self.c_out * self.k * self.t_out


def conv_geometry(spec: Conv1dSpec) -> Geometry:
    """A convolution case's own geometry (not for transpose; streaming: one window, see Window)."""
    if spec.streaming:
        return Geometry(spec.c_in, spec.c_out, spec.k, spec.dilation, 0, spec.history + spec.t, spec.t,
                        spec.channels_last)
    return Geometry(spec.c_in, spec.c_out, spec.k, spec.dilation, spec.pads[0], spec.t, spec.t_out,
                    spec.channels_last)


def frames(a: np.ndarray, lo: int, hi: int, channels_last: bool) -> np.ndarray:
    """Frames lo..hi-1 of an array in either layout (a view)."""
    return a[lo:hi] if channels_last else a[:, lo:hi]


class Convolution(Prepared):
    """A prepared convolution method: called with x and out in the geometry's layout; no allocation unless
    its facts say so. Methods with a native loop override `run_native`."""

    facts: MethodFacts
    geometry: Geometry

    @abstractmethod
    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        ...

    def columns(self, case: Case) -> dict:
        """The op's method columns for the row (workspace, copies, the method's own flops)."""
        return facts_columns(self.facts, case.spec)

    def describe(self) -> str:
        return self.facts.note


class Window(Convolution):
    """Streaming through any method: each call runs it, as a valid convolution, on the window
    [last span frames, the call's new frames]. Two window buffers alternate, so the state moves
    without overlapping copies or allocation; the copy is this adapter's, recorded in its facts."""

    def __init__(self, spec: Conv1dSpec, inner: Convolution, history: np.ndarray):
        self.spec, self.inner, self.geometry = spec, inner, inner.geometry
        self.history = history
        self.buffers = [np.zeros(inner.geometry.x_shape, dtype=history.dtype) for _ in range(2)]
        self.current = 0
        itemsize = history.dtype.itemsize
        window = 2 * inner.geometry.c_in * inner.geometry.t_in * itemsize
        self.facts = replace(inner.facts, workspace_bytes=inner.facts.workspace_bytes + window,
                             copy_bytes=inner.facts.copy_bytes + window // 2,
                             note=f"{inner.facts.note}; streamed over a window of {inner.geometry.t_in} frames "
                                  f"(state + new) copied per call".lstrip("; "))
        self.reset()

    def reset(self) -> None:
        g, span = self.geometry, self.spec.history
        self.current = 0
        frames(self.buffers[0], g.t_in - span, g.t_in, g.channels_last)[...] = self.history

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        g, span, t = self.geometry, self.spec.history, self.spec.t
        old, new = self.buffers[self.current], self.buffers[1 - self.current]
        cl = g.channels_last
        frames(new, 0, span, cl)[...] = frames(old, t, t + span, cl)
        frames(new, span, span + t, cl)[...] = x
        self.current = 1 - self.current
        self.inner.run(new, out)
