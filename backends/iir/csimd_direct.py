"""csimd's lane-per-filter kernel (backends/csimd/iir.c) through ctypes.

The library is csimd's own, loaded through kernels.load_kernels(level) (iir.c is compiled into
it); the signatures of the gb_iir_* functions are declared here, apart from kernels.py's.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Callable

import numpy as np

from gemmbench import isa, native
from gemmbench.backend import Variant
from gemmbench.backends.csimd import kernels
from gemmbench.backends.iir.base import BankRun, variant
from gemmbench.ops.iir_bank import IirBankWorkload
from gemmbench.workload import aligned_empty

FTZ, STREAM = 1, 2  # gb_iir.h
MAX_SECTIONS = 4
STREAM_BYTES = 8 << 20  # outputs larger than this go out with non-temporal stores (when aligned)
_P, _I, _I64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
_SIGNATURES = {
    "gb_iir_lanes": (_I, ()),
    "gb_iir_chains": (_I, (_I,)),
    "gb_iir_packed_floats": (_I64, (_I, _I)),
    "gb_iir_state_floats": (_I64, (_I, _I, _I)),
    "gb_iir_pack": (None, (_P, _I, _I, _P)),
    "gb_iir_bank": (_I, (_P, _P, _I, _I, _I, _I, _P, _P, _I, _I, _I)),
    "gb_iir_bank_time": (_I64, (_P, _P, _I, _I, _I, _I, _P, _P, _I, _I, _I, _I64)),
    "gb_iir_write_time": (_I64, (_P, _I64, _I, _I64)),
    "gb_iir_fp_control": (ctypes.c_uint32, ()),
}
FTZ_DETAIL = ("FTZ+DAZ for the call (x86: MXCSR bits 15 and 6; aarch64: FPCR.FZ), the control word saved "
              "before and restored after")


@functools.lru_cache(maxsize=None)
def library(level: str) -> ctypes.CDLL:
    """csimd's library at `level`, with the filter-bank functions declared."""
    lib = kernels.load_kernels(level).lib
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, list(argtypes)
    return lib


def levels() -> list[isa.IsaLevel]:
    return [level for level in isa.levels_for() if level.name in kernels.LEVELS and "float32" in level.gains]


def variants() -> list[Variant]:
    return [variant(f"iir-{level.name}", f"lane per filter, TDF-II; {FTZ_DETAIL}; cc "
                                         f"{' '.join(native.compile_flags(level))}",
                    isa=level.name, requires=level.cpu_flags) for level in levels()]


def skip_reason(spec) -> str:
    if spec.s > MAX_SECTIONS:
        return f"csimd's filter-bank kernel takes up to {MAX_SECTIONS} sections per filter; this case has {spec.s}"
    return ""


class CsimdDirect(BankRun):
    def __init__(self, workload: IirBankWorkload, level: str, ftz: bool = True):
        lib = library(level)
        s = workload.spec
        out_bytes = 4 * int(np.prod(s.out_shape))
        flags = (FTZ if ftz else 0) | (STREAM if s.output == "full" and out_bytes > STREAM_BYTES else 0)
        lanes = lib.gb_iir_lanes()
        super().__init__(workload, f"{lanes} filters per register, {lib.gb_iir_chains(s.s)} chains; "
                                   f"{'FTZ+DAZ' if ftz else 'no FTZ'}; "
                                   f"{'non-temporal' if flags & STREAM else 'plain'} stores; {level}")
        self.lib = lib
        coeffs = np.ascontiguousarray(workload.coeffs, dtype=np.float32)
        self.packed = aligned_empty(lib.gb_iir_packed_floats(s.f, s.s), np.float32)
        lib.gb_iir_pack(coeffs.ctypes.data, s.f, s.s, self.packed.ctypes.data)
        self.state = aligned_empty(lib.gb_iir_state_floats(s.b, s.f, s.s), np.float32)
        self.state.fill(0)
        self.flags = flags
        self._args: tuple | None = None
        self._bound: tuple[int, int] | None = None

    def reset(self) -> None:
        self.state.fill(0)

    def _call_args(self, x: np.ndarray, out: np.ndarray) -> tuple:
        key = (x.ctypes.data, out.ctypes.data)
        if self._bound != key:
            s = self.spec
            for name, a, shape in (("x", x, (s.b, s.t)), ("out", out, s.out_shape)):
                if a.dtype != np.float32 or a.shape != shape or not a.flags.c_contiguous:
                    raise ValueError(f"{name} must be C-contiguous float32 {shape}, got {a.dtype} {a.shape}")
            self._args = (self.packed.ctypes.data, self.state.ctypes.data, s.b, s.t, s.f, s.s, key[0], key[1],
                          int(s.output == "energy"), s.frame, self.flags)
            self._bound = key
        return self._args

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        if self.lib.gb_iir_bank(*self._call_args(x, out)) != 0:
            raise ValueError("gb_iir_bank refused its arguments")

    def run_native(self, x: np.ndarray, out: np.ndarray, loops: int) -> int:
        return self.lib.gb_iir_bank_time(*self._call_args(x, out), loops)

    def parts(self, x: np.ndarray) -> dict[str, tuple[Callable[[int], int], float]]:
        """Full output: writing the bound output once, plain and non-temporal (the floor is the faster)."""
        bound = getattr(self, "bound", None)
        if self.spec.output != "full" or bound is None:
            return {}
        lib, address, count = self.lib, bound[1].ctypes.data, bound[1].size
        return {f"write_once_{kind}": ((lambda loops, nt=nt: lib.gb_iir_write_time(address, count, nt, loops)), 1.0)
                for kind, nt in (("plain", 0), ("stream", 1))}
