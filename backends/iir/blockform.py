"""A biquad cascade as a state-space system, and its block form: L samples per matrix product.

For a block of L inputs x and the state s at its start,

    y = T_L x + O_L s          T_L (L x L): lower-triangular Toeplitz of the impulse response
    s' = A^L s + C_L x          O_L (L x n): rows C A^i;  C_L (n x L): columns A^(L-1-j) B

Realisation: each section in coupled modal form, its state the real and imaginary parts of
the complex mode xi' = p xi + u (p = r e^{i theta}); A_k = r [[cos, -sin], [sin, cos]] is
normal, so ||A_k^L||_2 = r^L: powers never grow and the block matrices stay well conditioned
however long the block (a companion or direct-form realisation has powers whose entries grow
like 1 / sin(theta) and worse for the repeated poles of a cascade). Sections chain through their
outputs, which makes the cascade's A block lower-triangular with these normal blocks on the
diagonal; the coupling below the diagonal makes it mildly non-normal (||A^16||_2 = 1.006 for
three sections at r = 0.999), nothing like a companion form's growth. Everything is computed in float64 from the coefficients the backend is given, then
rounded once to the kernel's dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StateSpace:
    """s' = A s + B u, y = C s + D u (float64)."""

    a: np.ndarray  # (n, n)
    b: np.ndarray  # (n,)
    c: np.ndarray  # (n,)
    d: float


def section(coeffs: np.ndarray) -> StateSpace:
    """Coupled modal form of one section (b0, b1, b2, a1, a2) with complex poles."""
    b0, b1, b2, a1, a2 = (float(v) for v in coeffs)
    disc = a1 * a1 - 4.0 * a2
    if disc >= 0:
        raise ValueError(f"section with a1={a1:g}, a2={a2:g} has real poles; the block form takes complex ones")
    pr, pi = -a1 / 2.0, np.sqrt(-disc) / 2.0
    n1, n2 = b1 - b0 * a1, b2 - b0 * a2
    rho_r = n1 / 2.0
    rho_i = (-n2 / 2.0 - rho_r * pr) / pi
    return StateSpace(np.array([[pr, -pi], [pi, pr]]), np.array([1.0, 0.0]),
                      np.array([2.0 * rho_r, -2.0 * rho_i]), b0)


def cascade(coeffs: np.ndarray) -> StateSpace:
    """The cascade of sections (S, 5) as one system of n = 2S states; section k feeds section k+1."""
    parts = [section(c) for c in coeffs]
    n = 2 * len(parts)
    a, b = np.zeros((n, n)), np.zeros(n)
    u_state, u_input = np.zeros(n), 1.0  # the current section's input as a map of (state, x)
    for k, part in enumerate(parts):
        rows = slice(2 * k, 2 * k + 2)
        a[rows] += np.outer(part.b, u_state)
        a[rows, rows] += part.a
        b[rows] = part.b * u_input
        u_state = part.d * u_state
        u_state[rows] += part.c
        u_input = part.d * u_input
    return StateSpace(a, b, u_state, u_input)


@dataclass(frozen=True)
class BlockForm:
    """One filter's block matrices for block length L (float64)."""

    toeplitz: np.ndarray  # (L, L)
    observe: np.ndarray  # (L, n)
    control: np.ndarray  # (n, L)
    power: np.ndarray  # (n, n): A^L
    system: StateSpace


def block_form(system: StateSpace, length: int) -> BlockForm:
    n = system.a.shape[0]
    powers = [np.eye(n)]
    for _ in range(length):
        powers.append(system.a @ powers[-1])
    observe = np.stack([system.c @ p for p in powers[:length]])  # C A^i
    impulse = np.concatenate([[system.d], observe[:length - 1] @ system.b])  # h_0 = D, h_i = C A^(i-1) B
    lags = np.subtract.outer(np.arange(length), np.arange(length))
    toeplitz = np.where(lags >= 0, impulse[np.clip(lags, 0, None)], 0.0)
    control = np.stack([powers[length - 1 - j] @ system.b for j in range(length)], axis=1)
    return BlockForm(toeplitz, observe, control, powers[length], system)


def bank(coeffs: np.ndarray, length: int) -> list[BlockForm]:
    """Block forms of every filter of (F, S, 5) coefficients."""
    return [block_form(cascade(np.asarray(c, dtype=np.float64)), length) for c in coeffs]
