"""Winograd minimal filtering F(m, 3) (Lavin & Gray 2016) for 1-D convolutions with three taps.

m outputs of a 3-tap correlation from alpha = m + 2 products instead of 3 m:
y = A^T [(G g) . (B^T d)] over a tile d of alpha input frames. Across channels the products
become alpha GEMMs (tiles x c_in) by (c_in x c_out), so the multiplications drop by
3 m / (m + 2): 1.5x for F(2,3), 2x for F(4,3), 2.25x for F(6,3). The price is accuracy: the
transforms' coefficients grow with m (F(6,3) needs the points +-1/2 and +-2, and B^T holds
5.25), so rounding errors grow too; the op's TOLERANCE states each F's gate.

A^T and G are the Toom-Cook matrices of the interpolation points (Vandermonde rows and
Lagrange weights, plus the point at infinity); B^T follows from them by solving the bilinear
identity exactly (float64 least squares, checked to round-off), so no table is copied here.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from gemmbench.backends.conv1d.prepared import Geometry

TAPS = 3
POINTS = {2: (0, 1, -1), 4: (0, 1, -1, 2, -2), 6: (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2))}


@dataclass(frozen=True)
class Transforms:
    m: int
    bt: np.ndarray  # (alpha, alpha), float64
    g: np.ndarray  # (alpha, 3)
    at: np.ndarray  # (m, alpha)

    @property
    def alpha(self) -> int:
        return self.m + TAPS - 1

    def products(self, c_in: int, c_out: int, t_out: int) -> int:
        """Multiply-adds of the alpha GEMMs for t_out outputs."""
        return self.alpha * c_in * c_out * -(-t_out // self.m)

    def transform_flops(self, c_in: int, c_out: int, t_out: int) -> int:
        """Flops of the input and output transforms (nonzero coefficients only)."""
        tiles = -(-t_out // self.m)
        return 2 * tiles * (np.count_nonzero(self.bt) * c_in + np.count_nonzero(self.at) * c_out)


def transforms(m: int) -> Transforms:
    points = [Fraction(p) for p in POINTS[m]]
    alpha = m + TAPS - 1
    at, g = np.zeros((m, alpha)), np.zeros((alpha, TAPS))
    for j, p in enumerate(points):
        scale = Fraction(1)
        for q in points:
            if q != p:
                scale *= p - q
        at[:, j] = [float(p ** i) for i in range(m)]
        g[j] = [float(p ** k / scale) for k in range(TAPS)]
    at[m - 1, alpha - 1] = g[alpha - 1, TAPS - 1] = 1.0
    # sum_xi AT[i, xi] G[xi, k] BT[xi, a] = [a == i + k] for every i < m, k < 3, a < alpha
    system = np.einsum("ix,xk->ikx", at, g).reshape(m * TAPS, alpha)
    target = np.zeros((m * TAPS, alpha))
    for i in range(m):
        for k in range(TAPS):
            target[i * TAPS + k, i + k] = 1.0
    bt = np.linalg.lstsq(system, target, rcond=None)[0]
    bt = np.round(bt * 2 ** 20) / 2 ** 20  # the exact entries are multiples of 1/4
    if np.abs(system @ bt - target).max() > 1e-12:
        raise ArithmeticError(f"no exact B^T for F({m},3) from points {POINTS[m]}")
    return Transforms(m, bt, g, at)


def skip_reason(g: Geometry) -> str:
    """Why F(m, 3) does not apply to a convolution geometry ('' when it does)."""
    if g.k != TAPS:
        return f"Winograd F(m,3) is built for 3 taps; this case has k = {g.k}"
    if g.dilation != 1:
        return "Winograd tiles need adjacent taps (dilation 1); a dilated case splits into phases first"
    return ""


def transform_weights(t: Transforms, weights: np.ndarray) -> np.ndarray:
    """U[xi, o, c] = sum_k G[xi, k] w[o, c, k], in float64, from w (c_out, c_in, 3)."""
    return np.einsum("xk,ock->xoc", t.g, weights.astype(np.float64))
