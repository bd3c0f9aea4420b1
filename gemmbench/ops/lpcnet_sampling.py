"""The vocoder step's tree sampler, its random stream, and how a sampled sequence is judged.

LPCNet draws each sample down a binary tree instead of from a softmax: the output levels
(2^depth of them, 256 for 8-bit mu-law) are the leaves of a complete binary tree whose
internal nodes are numbered as a heap (root 1, children 2n and 2n + 1). At node n the step
computes only that node's two-channel dual FC,

    logit(n) = a1[n] tanh(W[n] . hb) + a2[n] tanh(W[levels + n] . hb),

and goes right when sigmoid(logit) > u for a uniform draw u, that is when logit > logit(u):
a threshold per draw, so no sigmoid is computed. After `depth` decisions the node is
levels + sample.

The random stream (stated, so every backend and the float64 reference draw alike): sample
t's draws are the (t + 1)-th output of SplitMix64 seeded with the case's seed, a 64-bit word;
its byte b (from the least significant) is level b's draw, and u = (byte + 1/2) / 256, so the
threshold is THRESHOLDS[byte] (float32; the reference compares with the same float32 values).
One word per sample gives up to 8 levels. The stream is a function of (seed, t), so a call that
continues a sequence at `start` draws what the whole sequence draws.

Sampling (`sampling: on`): the draw of sample t is fed back as sample t + 1's excitation
input, and its signal input is sample t's prediction plus that excitation around the middle
level, clamped to the levels (the place of LPCNet's pcm = prediction + excitation, without
the mu-law round trip and the LPC filter); the prediction input stays the sequence's. A call's
first sample reads the sequence. Off (teacher forcing, the default) every input is the
sequence's.

Judging a sampled sequence. A float32 step that computes the logits to within float32's
rounding still takes the other branch where the float64 logit lies within that rounding of
its threshold, and after such a flip a sampling step's inputs differ from the reference's, so
the two would part for good. So the reference is replayed on the backend's own path (its draws
fed back, teacher forcing on the backend's samples), and each sample whose walk left the
reference's counts once: a near tie when the float64 logit at the first decision that
differs lies within TIE_MARGIN of its threshold (either branch is right there), else a flip.
FLIP_RATE states the share of samples a precision and activation flips beyond near ties, and
a sequence may have as many flips as that rate exceeds with probability FLIP_TAIL: none for
float32 with accurate activations, which thus verifies exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

MAX_DEPTH = 8  # one draw byte per level of a 64-bit word
SAMPLING = ("off", "on")
GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1

THRESHOLDS = np.log((np.arange(256) + 0.5) / (256 - np.arange(256) - 0.5)).astype(np.float32)

# Where float64 logit and threshold are this close, the other branch is right too: float32's
# logit is within about 1e-6 of float64's after 1600 samples; 1e-4 leaves a wide margin.
TIE_MARGIN = 1e-4
# Share of a sequence's samples a precision and activation flip beyond near ties: the highest
# rate seen, rounded up. Measured on LPCNet's sizes (1600 samples, 4 seeds, teacher-forced and
# sampling alike): float32 accurate none (so it verifies exactly); float32 fast up to 2 of 1600
# (the rational function moves a logit by ~1e-4); fp16 up to 2, bf16 up to 4; int8 up to 20
# (avx2's u8 x s8 kernels; VNNI's 12).
FLIP_RATE = {
    ("float32", "accurate"): 0.0, ("float32", "fast"): 0.002,
    ("float64", "accurate"): 0.0, ("float64", "fast"): 0.002,
    ("fp16", "accurate"): 0.002, ("fp16", "fast"): 0.002,
    ("bf16", "accurate"): 0.003, ("bf16", "fast"): 0.003,
    ("int8", "accurate"): 0.015, ("int8", "fast"): 0.015,
}
# A sequence may flip as many draws as a backend flipping at FLIP_RATE exceeds only this rarely
# (the Poisson upper tail), so short sequences are not held to a rounded-down share of zero.
FLIP_TAIL = 1e-4


def depth_of(levels: int) -> int | None:
    """log2(levels) when levels is a power of two the tree can draw (2 .. 2^MAX_DEPTH), else None."""
    depth = levels.bit_length() - 1
    return depth if levels == 1 << depth and 1 <= depth <= MAX_DEPTH else None


def _splitmix64(z: int) -> int:
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & _MASK
    return z ^ (z >> 31)


def draw_word(seed: int, t: int) -> int:
    """Sample t's draws: the (t + 1)-th output of SplitMix64 seeded with `seed`."""
    return _splitmix64((seed + (t + 1) * GOLDEN) & _MASK)


def draw_key(seed: int) -> int:
    """The seed as the signed 64-bit integer the C step stores (the same bits)."""
    key = seed & _MASK
    return key - (1 << 64) if key >= 1 << 63 else key


@dataclass(frozen=True)
class Walk:
    """One draw down the tree: the sample, and at each level the logit minus its threshold."""

    sample: int
    margins: tuple[float, ...]


def walk(logit: Callable[[int], float], word: int, depth: int) -> Walk:
    """Down the tree from the root, `logit(node)` deciding each level against the word's draws."""
    node, margins = 1, []
    for level in range(depth):
        margin = float(logit(node)) - float(THRESHOLDS[(word >> (8 * level)) & 255])
        margins.append(margin)
        node = 2 * node + (margin > 0)
    return Walk(node - (1 << depth), tuple(margins))


def fed_inputs(inputs: np.ndarray, t: int, start: int, levels: int, previous: int | None) -> tuple[int, int, int]:
    """Sample t's (signal, prediction, excitation): the sequence's, or with `previous` (the draw of
    t - 1, sampling on and t past the call's first sample) that draw fed back."""
    signal, prediction, excitation = (int(v) for v in inputs[t])
    if previous is None or t == start:
        return signal, prediction, excitation
    fed_signal = int(inputs[t - 1][1]) + previous - levels // 2
    return min(max(fed_signal, 0), levels - 1), prediction, previous


@dataclass(frozen=True)
class Flips:
    """How a backend's draws compare with the float64 reference's on the backend's path."""

    differing: int  # samples whose walk left the reference's
    near_ties: int  # of them, those whose first differing decision was within TIE_MARGIN
    allowed: int  # flips beyond near ties the precision and activation may have
    steps: int

    @property
    def beyond_ties(self) -> int:
        return self.differing - self.near_ties

    @property
    def ok(self) -> bool:
        return self.beyond_ties <= self.allowed


def allowed_flips(precision: str, activation: str, steps: int) -> int:
    """The smallest k with P(Poisson(FLIP_RATE x steps) > k) <= FLIP_TAIL (0 where the rate is 0)."""
    mean = FLIP_RATE[precision, activation] * steps
    k, term = 0, math.exp(-mean)
    below = term
    while 1.0 - below > FLIP_TAIL:
        k += 1
        term *= mean / k
        below += term
    return k


def count_flips(got: np.ndarray, want: np.ndarray, margins: np.ndarray, depth: int, allowed: int) -> Flips:
    """got and want: the draws (ints); margins: the reference's (steps, depth) logit - threshold."""
    got, want = got.astype(np.int64), want.astype(np.int64)
    differing = np.flatnonzero(got != want)
    # level 0 decides the sample's top bit: the first differing level is where the xor's top bit is
    first = depth - np.array([int(v).bit_length() for v in got[differing] ^ want[differing]], dtype=np.int64)
    near = np.abs(margins[differing, first]) <= TIE_MARGIN if differing.size else np.zeros(0, bool)
    return Flips(int(differing.size), int(np.count_nonzero(near)), allowed, int(got.size))


def describe(flips: Flips, precision: str, activation: str) -> str:
    rate = FLIP_RATE[precision, activation]
    return (f"{flips.beyond_ties} of {flips.steps} draws took the other branch at a decision the float64 "
            f"reference makes clearly (beyond a {TIE_MARGIN:g} near tie; {flips.near_ties} more at near ties), "
            f"above the {precision} {activation} allowance of {flips.allowed} (flips at {rate:.1%} exceed it "
            f"with probability {FLIP_TAIL:g})")
