"""The float64 reference of a filter bank: scipy.signal.sosfilt, one filter at a time.

The reference filters exactly the coefficients a backend is given (float32 kernels get them
rounded to float32), so a row's error is its arithmetic alone. Beside it, `rounding_error`
tells how far rounding the designed coefficients has already moved the answer: the error of
the format, which no kernel can undo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

OUTPUTS = ("full", "energy")


@dataclass(frozen=True, eq=False)
class Filtered:
    """One call's float64 answer and the state it leaves."""

    out: np.ndarray  # full: (B, F, T); energy: (B, F, T / frame)
    state: np.ndarray  # (F, S, B, 2): sosfilt's zi layout per filter, to continue from


def frame_energy(y: np.ndarray, frame: int) -> np.ndarray:
    """Sum of squares over consecutive frames of the last axis (which `frame` divides)."""
    shaped = y.reshape(*y.shape[:-1], y.shape[-1] // frame, frame)
    return np.einsum("...j,...j->...", shaped, shaped)


def _zero_state(filters: int, sections: int, signals: int) -> np.ndarray:
    return np.zeros((filters, sections, signals, 2))


def _shape(x: np.ndarray, filters: int, output: str, frame: int) -> tuple[int, ...]:
    signals, samples = x.shape
    return (signals, filters, samples if output == "full" else samples // frame)


def _one_filter(sos: np.ndarray, x: np.ndarray, zi: np.ndarray, output: str, frame: int):
    from scipy import signal  # imported when a bank is filtered: loading the op (every suite does) stays cheap

    y, zf = signal.sosfilt(sos, x, axis=-1, zi=zi)
    return (y if output == "full" else frame_energy(y, frame)), zf


def filter_bank(sos: np.ndarray, x: np.ndarray, output: str, frame: int,
                state: np.ndarray | None = None) -> Filtered:
    """Every filter of `sos` (F, S, 6) over every signal of `x` (B, T), from `state` (zero when None)."""
    x = np.asarray(x, dtype=np.float64)
    filters, sections = sos.shape[:2]
    state = _zero_state(filters, sections, x.shape[0]) if state is None else state
    out = np.empty(_shape(x, filters, output, frame))
    final = np.empty_like(state)
    for f in range(filters):
        out[:, f], final[f] = _one_filter(sos[f], x, state[f], output, frame)
    return Filtered(out, final)


def rounding_error(exact_sos: np.ndarray, given: Filtered, x: np.ndarray, output: str, frame: int,
                   state: np.ndarray | None = None) -> float:
    """Relative RMS distance between the bank on the designed (float64) coefficients and `given`,
    the bank on the coefficients the backend gets; filter by filter, so no second output is held."""
    x = np.asarray(x, dtype=np.float64)
    filters, sections = exact_sos.shape[:2]
    state = _zero_state(filters, sections, x.shape[0]) if state is None else state
    err = ref = 0.0
    for f in range(filters):
        exact, _ = _one_filter(exact_sos[f], x, state[f], output, frame)
        err += float(np.sum((exact - given.out[:, f]) ** 2))
        ref += float(np.sum(exact ** 2))
    return math.sqrt(err / ref) if ref > 0 else math.sqrt(err)
