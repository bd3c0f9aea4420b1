"""Coefficients of a bank of band-pass biquads, deterministic from a named design, and its input.

A filter is a cascade of `sections` identical second-order sections, each normalised to unit
gain at its centre frequency; centres are spaced on the mel or log scale between fmin and fmax.
Coefficients are stored per filter and section as (b0, b1, b2, a1, a2) with a0 = 1, the
difference equation y[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2] - a1 y[n-1] - a2 y[n-2].

- With `pole_radius` unset the sections follow the RBJ cookbook band-pass with the given Q
  (poles at radius sqrt((1 - alpha) / (1 + alpha)), alpha = sin(w0) / 2Q).
- With `pole_radius` set every pole sits at that radius at angle w0 (a stress case: the closer
  to 1, the longer the memory and the larger float32's error), zeros at z = +-1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DESIGNS = ("mel", "log")
SIGNALS = ("noise", "burst")
BURST_SHARE = 16  # `burst`: noise over the first 1/16 of each call, silence after
COEFFS = 5  # b0, b1, b2, a1, a2


@dataclass(frozen=True)
class BankDesign:
    """What decides a bank's coefficients."""

    filters: int
    sections: int = 1
    sample_rate: float = 16000.0
    design: str = "mel"  # centre spacing: one of DESIGNS
    fmin: float = 50.0
    fmax: float = 7600.0
    q: float = 8.0
    pole_radius: float | None = None  # None: the RBJ band-pass of quality q


def mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


def centres(design: BankDesign) -> np.ndarray:
    """Centre frequencies in Hz, ascending, fmin and fmax included (one filter: fmin)."""
    n = design.filters
    if design.design == "mel":
        return _mel_to_hz(np.linspace(mel(design.fmin), mel(design.fmax), n))
    return np.geomspace(design.fmin, design.fmax, n)


def _section_coefficients(design: BankDesign) -> np.ndarray:
    """float64 (filters, 5): one section of each filter (every section of a filter is the same)."""
    w0 = 2.0 * math.pi * centres(design) / design.sample_rate
    if design.pole_radius is None:
        alpha = np.sin(w0) / (2.0 * design.q)
        a0 = 1.0 + alpha
        b0, a1, a2 = alpha / a0, -2.0 * np.cos(w0) / a0, (1.0 - alpha) / a0
    else:
        r = design.pole_radius
        a1, a2 = -2.0 * r * np.cos(w0), np.full_like(w0, r * r)
        b0 = 1.0 / np.abs(_gain(1.0, 0.0, -1.0, a1, a2, w0))  # unit gain at w0
    zero = np.zeros_like(w0)
    return np.stack([b0, zero, -b0, a1, a2], axis=1)


def _gain(b0, b1, b2, a1, a2, w):
    z1 = np.exp(-1j * w)
    return (b0 + b1 * z1 + b2 * z1 * z1) / (1.0 + a1 * z1 + a2 * z1 * z1)


def coefficients(design: BankDesign) -> np.ndarray:
    """float64 (filters, sections, 5)."""
    one = _section_coefficients(design)
    return np.repeat(one[:, None, :], design.sections, axis=1)


def to_sos(coeffs: np.ndarray) -> np.ndarray:
    """(filters, sections, 5) -> scipy's (filters, sections, 6) rows [b0, b1, b2, 1, a1, a2]."""
    c = np.asarray(coeffs, dtype=np.float64)
    ones = np.ones(c.shape[:-1] + (1,))
    return np.concatenate([c[..., :3], ones, c[..., 3:]], axis=-1)


def pole_radii(coeffs: np.ndarray) -> np.ndarray:
    """The largest pole radius of each section, (filters, sections), from the coefficients as given."""
    a1 = np.asarray(coeffs[..., 3], dtype=np.float64)
    a2 = np.asarray(coeffs[..., 4], dtype=np.float64)
    disc = a1 * a1 - 4.0 * a2
    complex_radius = np.sqrt(np.abs(a2))
    root = np.sqrt(np.abs(disc))
    real_radius = np.maximum(np.abs(-a1 + root), np.abs(-a1 - root)) / 2.0
    return np.where(disc < 0, complex_radius, real_radius)


def signal(rng: np.random.Generator, signals: int, samples: int, kind: str) -> np.ndarray:
    """float64 (signals, samples) in [-1, 1): white noise, or a burst of it followed by silence
    (the filters' tails then decay into subnormal numbers)."""
    x = rng.uniform(-1.0, 1.0, size=(signals, samples))
    if kind == "burst":
        x[:, max(1, samples // BURST_SHARE):] = 0.0
    return x
