"""cblas_?gemm of the BLAS numpy links, through ctypes: GEMMs on sub-blocks with leading
dimensions and beta = 1, which numpy's matmul does not offer (it neither accumulates nor takes
a leading dimension), so shifted GEMMs and MEC need no copy.

The library and its symbol come from threadpoolctl's view of the process: numpy's wheels ship
OpenBLAS with prefixed, 64-bit-integer symbols (scipy_cblas_sgemm64_); a system OpenBLAS or
MKL exports plain cblas_sgemm with 32-bit integers.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

ROW_MAJOR, NO_TRANS = 101, 111
# (symbol suffix, integer type): ILP64 builds mark their symbols with 64_
_NAMES = (("{p}cblas_{t}gemm64_", ctypes.c_int64), ("cblas_{t}gemm64_", ctypes.c_int64),
          ("{p}cblas_{t}gemm", ctypes.c_int), ("cblas_{t}gemm", ctypes.c_int))


class BlasUnavailable(RuntimeError):
    """No cblas GEMM found in the BLAS numpy uses."""


@dataclass(frozen=True)
class Gemm:
    """C (m x n, ldc) = alpha A (m x k, lda) B (k x n, ldb) + beta C, row-major, on raw addresses."""

    call: Callable
    library: str
    symbol: str

    def __call__(self, m: int, n: int, k: int, a: int, lda: int, b: int, ldb: int, beta: float, c: int,
                 ldc: int) -> None:
        self.call(ROW_MAJOR, NO_TRANS, NO_TRANS, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc)


def _numpy_blas() -> tuple[str, str]:
    import threadpoolctl

    for info in threadpoolctl.threadpool_info():
        if info.get("user_api") == "blas":
            return info["filepath"], info.get("prefix", "")
    raise BlasUnavailable("threadpoolctl finds no BLAS loaded by numpy")


@functools.lru_cache(maxsize=None)
def gemm(dtype: str) -> Gemm:
    """The cblas GEMM of `dtype` (float32: sgemm, float64: dgemm)."""
    kind = {"float32": ("s", ctypes.c_float), "float64": ("d", ctypes.c_double)}[dtype]
    path, prefix = _numpy_blas()
    lib = ctypes.CDLL(path)
    # numpy's OpenBLAS prefix is 'libscipy_openblas': its symbols start 'scipy_'
    symbol_prefix = prefix[3:].split("openblas")[0] if prefix.startswith("lib") else ""
    for pattern, integer in _NAMES:
        name = pattern.format(p=symbol_prefix, t=kind[0])
        fn = getattr(lib, name, None)
        if fn is None:
            continue
        i, f, p = integer, kind[1], ctypes.c_void_p
        fn.restype = None
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, i, i, i, f, p, i, p, i, f, p, i]
        return Gemm(fn, path, name)
    raise BlasUnavailable(f"no cblas_{kind[0]}gemm in {path}")


def check(g: Gemm, dtype: str) -> None:
    """One small product against numpy, so a wrong symbol or integer width fails at prepare."""
    a = np.arange(6, dtype=dtype).reshape(2, 3)
    b = np.arange(12, dtype=dtype).reshape(3, 4)
    c = np.ones((2, 4), dtype=dtype)
    g(2, 4, 3, a.ctypes.data, 3, b.ctypes.data, 4, 1.0, c.ctypes.data, 4)
    if not np.array_equal(c, a @ b + 1):
        raise BlasUnavailable(f"{g.symbol} in {g.library} gave a wrong product")
