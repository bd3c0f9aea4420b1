"""Strassen-Winograd over numpy: 7 half-size products instead of 8 per level, the leaves by BLAS.

C = W @ X with W the fixed weights. Per level (Winograd's variant: 7 products, 15 additions):

    S1 = A21 + A22   S2 = S1 - A11   S3 = A11 - A21   S4 = A12 - S2      (weights only)
    T1 = B12 - B11   T2 = B22 - T1   T3 = B22 - B12   T4 = T2 - B21
    P1 = A11 B11  P2 = A12 B21  P3 = S4 B22  P4 = A22 T4  P5 = S1 T1  P6 = S2 T2  P7 = S3 T3
    C11 = P1 + P2   U2 = P1 + P6   U3 = U2 + P7   U4 = U2 + P5
    C12 = U4 + P3   C21 = U3 - P4   C22 = U3 + P5

Decisions:
- The weight-side sums S1..S4 depend on W alone, so `prepare` forms them once, recursively,
  like any packing: the 7^L leaf operands hold (7/4)^L times the weights. Each call does the
  4 input-side and 7 output-side additions per node and the 7^L leaf products.
- Odd sizes are padded: m, k and n are rounded up to a multiple of 2^L with zeros (the weights
  in `prepare`; the input into a preallocated buffer, copied in per call; the output
  computed into a padded buffer and copied out). Zeros add no rounding error.
- Nothing is allocated per call: `prepare` makes one workspace per level (T1..T4 and three
  product buffers) shared by the sibling sub-products of that level, and `bind` turns the
  recursion into a flat list of numpy calls on precomputed views. Input, output and
  workspaces are held in recursive quadrant layout (see Block), because numpy's ufuncs
  allocate buffers for strided 2D operands; the input is copied into that layout and the
  result out of it once per call (O(kn + mn) against the O(mkn) products).
- Variants: `levels1` and `levels2` recurse a fixed number of times; `auto` recurses while
  the smallest of m, k, n of the sub-problem is at least `cutoff` (AUTO_CUTOFF, chosen from a
  measured sweep, see below; the environment variable GEMMBENCH_STRASSEN_CUTOFF overrides it).
- Strassen does not apply to a matrix-vector product (no columns to split) or to problems
  whose leaves would be narrower than MIN_LEAF: those cases are skipped with the reason.

Error: each level adds the rounding of the sums, so the relative error against the float64
reference grows with the levels (Higham, Accuracy and Stability of Numerical Algorithms, ch. 23).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, replace
from typing import Callable, Union

import numpy as np

from gemmbench.backend import Backend, Variant
from gemmbench.cases.workload import aligned_empty
from gemmbench.machine.fingerprint import blas_libraries, blas_summary
from gemmbench.op import Case, Workload

# The smallest dimension from which one level stopped losing to np.matmul on the machine it was
# chosen on (`python -m gemmbench.backends.strassen` measures yours; the sweep it was chosen
# from: docs/journal/2026-11-22-strassen-cutoff.md). GEMMBENCH_STRASSEN_CUTOFF overrides it.
AUTO_CUTOFF = 1536
CUTOFF_VARIABLE = "GEMMBENCH_STRASSEN_CUTOFF"
MIN_LEAF = 4  # narrowest leaf dimension worth a product
FIXED_LEVELS = {"levels1": 1, "levels2": 2}

Operand = Union[np.ndarray, tuple]  # a leaf's weights, or the 7 weight operands of a node


@dataclass(frozen=True, eq=False)
class Block:
    """A rows x cols matrix in recursive quadrant layout: each quadrant a contiguous quarter.

    numpy's ufuncs buffer (allocate) when their operands are strided 2D views, so every
    input-side and output-side operand lives in this layout and each addition is one
    contiguous 1D ufunc call; only the leaves are read as row-major matrices.
    """

    flat: np.ndarray
    rows: int
    cols: int

    def quadrants(self) -> tuple[Block, Block, Block, Block]:
        size = self.flat.size // 4
        return tuple(Block(self.flat[i * size:(i + 1) * size], self.rows // 2, self.cols // 2)
                     for i in range(4))

    def matrix(self) -> np.ndarray:
        return self.flat.reshape(self.rows, self.cols)


@dataclass(frozen=True, eq=False)
class Workspace:
    """One level's temporaries: input-side sums T1..T4 and three product buffers."""

    t: tuple[Block, Block, Block, Block]
    p: tuple[Block, Block, Block]


@dataclass(frozen=True, eq=False)
class StrassenPlan:
    levels: int
    shape: tuple[int, int, int]  # m, k, n of the case
    padded: tuple[int, int, int]  # rounded up to a multiple of 2^levels
    weights: Operand
    workspaces: tuple[Workspace, ...]
    x_block: Block  # the input in recursive layout
    out_block: Block  # the output in recursive layout
    x_padded: np.ndarray | None  # (kp, np) row-major, zeros around the input; None without padding
    out_padded: np.ndarray | None  # (mp, np) row-major; None without padding
    calls: tuple[Callable[[], object], ...] = ()

    @property
    def leaf_products(self) -> int:
        return 7 ** self.levels


def cutoff_problem() -> str:
    """Why GEMMBENCH_STRASSEN_CUTOFF cannot be used ('' when unset or valid)."""
    value = os.environ.get(CUTOFF_VARIABLE)
    if value is None or (value.strip().isdigit() and int(value) > 0):
        return ""
    return f"{CUTOFF_VARIABLE}={value!r} is not a positive integer (unset it to use {AUTO_CUTOFF})"


def configured_cutoff() -> int:
    return AUTO_CUTOFF if cutoff_problem() or CUTOFF_VARIABLE not in os.environ else int(os.environ[CUTOFF_VARIABLE])


def auto_levels(m: int, k: int, n: int, cutoff: int) -> int:
    """Levels while the sub-problem's smallest dimension is at least the cutoff."""
    levels = 0
    while min(m, k, n) >= cutoff and min(m, k, n) >= 2 * MIN_LEAF:
        m, k, n = (math.ceil(d / 2) for d in (m, k, n))
        levels += 1
    return levels


def padded_size(size: int, levels: int) -> int:
    step = 2 ** levels
    return -(-size // step) * step


def quadrants(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r, c = a.shape[0] // 2, a.shape[1] // 2
    return a[:r, :c], a[:r, c:], a[r:, :c], a[r:, c:]


def split_weights(a: np.ndarray, levels: int) -> Operand:
    """The weight operands of P1..P7, recursively; each leaf contiguous and 64-byte aligned."""
    if levels == 0:
        leaf = aligned_empty(a.shape, a.dtype)
        leaf[...] = a
        return leaf
    a11, a12, a21, a22 = quadrants(a)
    s1 = a21 + a22
    s2 = s1 - a11
    s3 = a11 - a21
    s4 = a12 - s2
    return tuple(split_weights(operand, levels - 1) for operand in (a11, a12, s4, a22, s1, s2, s3))


def new_block(rows: int, cols: int, dtype) -> Block:
    return Block(aligned_empty((rows * cols,), dtype), rows, cols)


def split_view(matrix: np.ndarray, levels: int) -> np.ndarray:
    """A row-major matrix indexed (i1..iL, row, j1..jL, col): the quadrant choices made explicit."""
    rows, cols = matrix.shape
    return matrix.reshape((2,) * levels + (rows >> levels,) + (2,) * levels + (cols >> levels,))


def layout_view(block: Block, levels: int) -> np.ndarray:
    """The recursive layout indexed like split_view, so one np.copyto converts between them."""
    shape = (2,) * (2 * levels) + (block.rows >> levels, block.cols >> levels)
    order = [*range(0, 2 * levels, 2), 2 * levels, *range(1, 2 * levels, 2), 2 * levels + 1]
    return block.flat.reshape(shape).transpose(order)


def make_workspaces(mp: int, kp: int, np_: int, levels: int, dtype) -> tuple[Workspace, ...]:
    spaces = []
    for level in range(1, levels + 1):
        m2, k2, n2 = mp >> level, kp >> level, np_ >> level
        spaces.append(Workspace(tuple(new_block(k2, n2, dtype) for _ in range(4)),
                                tuple(new_block(m2, n2, dtype) for _ in range(3))))
    return tuple(spaces)


def schedule(a: Operand, b: Block, c: Block, workspaces: tuple[Workspace, ...],
             calls: list[Callable[[], object]]) -> None:
    """Append the numpy calls computing c = a @ b (overwriting c) to `calls`."""
    if not workspaces:
        calls.append(functools.partial(np.matmul, a, b.matrix(), out=c.matrix()))
        return
    here, deeper = workspaces[0], workspaces[1:]
    b11, b12, b21, b22 = b.quadrants()
    c11, c12, c21, c22 = c.quadrants()
    t1, t2, t3, t4 = here.t
    p, q, r = here.p
    a1, a2, a3, a4, a5, a6, a7 = a

    def ufunc(f, x: Block, y: Block, out: Block) -> None:
        calls.append(functools.partial(f, x.flat, y.flat, out=out.flat))

    ufunc(np.subtract, b12, b11, t1)
    ufunc(np.subtract, b22, t1, t2)
    ufunc(np.subtract, b22, b12, t3)
    ufunc(np.subtract, t2, b21, t4)
    schedule(a1, b11, p, deeper, calls)  # P1
    schedule(a2, b21, c11, deeper, calls)  # P2
    ufunc(np.add, c11, p, c11)  # C11 = P1 + P2
    schedule(a6, t2, q, deeper, calls)  # P6
    ufunc(np.add, p, q, p)  # U2 = P1 + P6
    schedule(a7, t3, q, deeper, calls)  # P7
    ufunc(np.add, p, q, r)  # U3 = U2 + P7
    schedule(a5, t1, q, deeper, calls)  # P5
    ufunc(np.add, p, q, p)  # U4 = U2 + P5
    ufunc(np.add, r, q, c22)  # C22 = U3 + P5
    schedule(a3, b22, q, deeper, calls)  # P3
    ufunc(np.add, p, q, c12)  # C12 = U4 + P3
    schedule(a4, t4, q, deeper, calls)  # P4
    ufunc(np.subtract, r, q, c21)  # C21 = U3 - P4


def plan(weights: np.ndarray, n: int, levels: int) -> StrassenPlan:
    m, k = weights.shape
    dtype = weights.dtype
    mp, kp, np_ = (padded_size(d, levels) for d in (m, k, n))
    a = np.zeros((mp, kp), dtype=dtype)
    a[:m, :k] = weights
    x_padded = np.zeros((kp, np_), dtype=dtype) if (kp, np_) != (k, n) else None
    out_padded = np.zeros((mp, np_), dtype=dtype) if (mp, np_) != (m, n) else None
    return StrassenPlan(levels, (m, k, n), (mp, kp, np_), split_weights(a, levels),
                        make_workspaces(mp, kp, np_, levels, dtype), new_block(kp, np_, dtype),
                        new_block(mp, np_, dtype), x_padded, out_padded)


def bind_calls(plan_: StrassenPlan, x: np.ndarray, out: np.ndarray) -> tuple[Callable[[], object], ...]:
    """The whole product as a flat list of numpy calls on fixed views: copy in, recurse, copy out."""
    m, k, n = plan_.shape
    levels = plan_.levels
    calls: list[Callable[[], object]] = []
    source = x
    if plan_.x_padded is not None:
        calls.append(functools.partial(np.copyto, plan_.x_padded[:k, :n], x))
        source = plan_.x_padded
    calls.append(functools.partial(np.copyto, layout_view(plan_.x_block, levels), split_view(source, levels)))
    schedule(plan_.weights, plan_.x_block, plan_.out_block, plan_.workspaces, calls)
    target = out if plan_.out_padded is None else plan_.out_padded
    calls.append(functools.partial(np.copyto, split_view(target, levels), layout_view(plan_.out_block, levels)))
    if plan_.out_padded is not None:
        calls.append(functools.partial(np.copyto, out, plan_.out_padded[:m, :n]))
    return tuple(calls)


class StrassenBackend(Backend):
    name = "strassen"
    ops = frozenset({"gemm"})

    def available(self) -> tuple[bool, str]:
        problem = cutoff_problem()
        return (False, problem) if problem else (True, "")

    def variants(self) -> list[Variant]:
        cutoff = configured_cutoff()
        return [Variant("levels1", detail="Strassen-Winograd, 1 level"),
                Variant("levels2", detail="Strassen-Winograd, 2 levels"),
                Variant("auto", detail=f"Strassen-Winograd, levels while min(m, k, n) >= {cutoff}")]

    def levels(self, case: Case, variant: Variant) -> int:
        if variant.name in FIXED_LEVELS:
            return FIXED_LEVELS[variant.name]
        return auto_levels(case.spec.m, case.spec.k, case.spec.n, configured_cutoff())

    def skip_reason(self, case: Case, variant: Variant) -> str:
        if case.op == "gemv":
            return ("Strassen multiplies 2x2 blocks of matrices; a matrix-vector product (n=1) has no "
                    "columns to split, so it does not apply")
        reason = super().skip_reason(case, variant)
        if reason:
            return reason
        levels = self.levels(case, variant)
        if levels == 0:
            return (f"{case.spec.m}x{case.spec.k}x{case.spec.n} is below the cutoff {configured_cutoff()} (smallest of m, k, n) "
                    f"where Strassen starts to pay on this machine; with 0 levels it is plain np.matmul")
        smallest = min(case.spec.m, case.spec.k, case.spec.n)
        if math.ceil(smallest / 2 ** levels) < MIN_LEAF:
            return (f"{levels} Strassen level(s) would cut the smallest dimension ({smallest}) below {MIN_LEAF}: "
                    f"each level halves m, k and n, and such leaf products are all padding and call overhead")
        return ""

    def prepare(self, workload: Workload, variant: Variant) -> StrassenPlan:
        return plan(workload.weights, workload.case.spec.n, self.levels(workload.case, variant))

    def bind(self, prepared: StrassenPlan, x: np.ndarray, out: np.ndarray) -> StrassenPlan:
        return replace(prepared, calls=bind_calls(prepared, x, out))

    def run(self, prepared: StrassenPlan, x: np.ndarray, out: np.ndarray) -> None:
        for call in prepared.calls:
            call()

    def describe(self, prepared: StrassenPlan, variant: Variant) -> str:
        m, k, n = prepared.shape
        padding = "" if prepared.padded == prepared.shape else \
            " padded to {}x{}x{}".format(*prepared.padded)
        return (f"Strassen-Winograd {prepared.levels} level(s) on {m}x{k}x{n}{padding}: "
                f"{prepared.leaf_products} leaf products of "
                f"{prepared.padded[0] >> prepared.levels}x{prepared.padded[1] >> prepared.levels}x"
                f"{prepared.padded[2] >> prepared.levels} by np.matmul via {blas_summary(blas_libraries())}; "
                f"{variant.detail}")


def crossover(sizes: tuple[int, ...] = (256, 512, 1024, 1536, 2048, 3072), dtypes=("float32", "float64"),
              repeat: int = 5) -> list[tuple[str, int, float, float]]:
    """(dtype, n, matmul s, one Strassen level s) on square n x n x n products: where AUTO_CUTOFF comes from."""
    import timeit

    rows = []
    rng = np.random.default_rng(0)
    for dtype in dtypes:
        for size in sizes:
            a, b = (rng.standard_normal((size, size)).astype(dtype) for _ in range(2))
            out = np.empty((size, size), dtype=dtype)
            bound = bind_calls(plan(a, size, 1), b, out)

            def strassen() -> None:
                for call in bound:
                    call()

            best = [min(timeit.repeat(f, number=1, repeat=repeat))
                    for f in (lambda: np.matmul(a, b, out=out), strassen)]
            rows.append((dtype, size, *best))
    return rows


if __name__ == "__main__":  # python -m gemmbench.backends.strassen: measure the crossover here
    for dtype, size, dense, one_level in crossover():
        print(f"{dtype:8} n={size:5}  matmul {dense * 1e3:9.2f} ms  1 level {one_level * 1e3:9.2f} ms  "
              f"ratio {one_level / dense:.3f}")
