"""csimd's lane-per-filter kernels (backends/csimd/iir.c) through ctypes: the direct form and the
block form (`length` > 0: L samples per block from the matrices of blockform.py, lane per filter).

The library is csimd's own, loaded through kernels.load_kernels(level) (iir.c is compiled into
it); the signatures of the gb_iir_* functions are declared here, apart from kernels.py's.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Callable

import numpy as np

from gemmbench.backends.csimd import kernels
from gemmbench.backends.iir import blockform
from gemmbench.backends.iir.base import BankRun
from gemmbench.cases.workload import aligned_empty
from gemmbench.op import Case
from gemmbench.ops.iir_bank import IirBankWorkload

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
    "gb_iir_block_floats": (_I64, (_I, _I, _I)),
    "gb_iir_block": (_I, (_P, _P, _I, _I, _I, _I, _I, _P, _P, _I, _I, _I)),
    "gb_iir_block_time": (_I64, (_P, _P, _I, _I, _I, _I, _I, _P, _P, _I, _I, _I, _I64)),
    "gb_iir_write_time": (_I64, (_P, _I64, _I, _I64)),
    "gb_iir_fp_control": (ctypes.c_uint32, ()),
}


@functools.lru_cache(maxsize=None)
def library(level: str) -> ctypes.CDLL:
    """csimd's filter-bank library at `level` (iir.c, built apart), with its functions declared."""
    lib = kernels.load_family("iir", level)
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, list(argtypes)
    return lib


def pack_block(coeffs: np.ndarray, length: int, samples: int, lanes: int) -> np.ndarray:
    """Per group of `lanes` filters: [H (L) | O (L x n) | Cb (L x n) | P (n x n) | Cr (L x n) | Pr (n x n)],
    each entry a lane vector (iir.c's layout); Cr, Pr serve the call's last block of T mod L samples."""
    filters, sections = coeffs.shape[:2]
    n, groups = 2 * sections, -(-filters // lanes)
    rest = samples % length
    per = np.zeros((groups * lanes, length * (1 + 3 * n) + 2 * n * n))
    for f, c in enumerate(coeffs):
        system = blockform.cascade(np.asarray(c, dtype=np.float64))
        full = blockform.block_form(system, length)
        short_control, short_power = np.zeros((n, length)), np.zeros((n, n))
        if rest:
            short = blockform.block_form(system, rest)
            short_control[:, :rest], short_power = short.control, short.power
        per[f] = np.concatenate([full.toeplitz[:, 0], full.observe.ravel(), full.control.T.ravel(),
                                 full.power.ravel(), short_control.T.ravel(), short_power.ravel()])
    # (group, lane, entry) -> (group, entry, lane)
    return np.ascontiguousarray(per.reshape(groups, lanes, -1).transpose(0, 2, 1), dtype=np.float32).ravel()


def skip_reason(spec) -> str:
    if spec.s > MAX_SECTIONS:
        return f"csimd's filter-bank kernel takes up to {MAX_SECTIONS} sections per filter; this case has {spec.s}"
    return ""


class CsimdDirect(BankRun):
    def __init__(self, workload: IirBankWorkload, level: str, ftz: bool = True, length: int = 0):
        lib = library(level)
        s = workload.spec
        out_bytes = 4 * int(np.prod(s.out_shape))
        flags = (FTZ if ftz else 0) | (STREAM if s.output == "full" and out_bytes > STREAM_BYTES else 0)
        lanes = lib.gb_iir_lanes()
        form = f"block form L = {length}" if length else f"TDF-II, {lib.gb_iir_chains(s.s)} chains"
        super().__init__(workload, f"{lanes} filters per register, {form}; {'FTZ+DAZ' if ftz else 'no FTZ'}; "
                                   f"{'non-temporal' if flags & STREAM else 'plain'} stores; {level}")
        self.lib, self.length = lib, length
        coeffs = np.ascontiguousarray(workload.coeffs, dtype=np.float32)
        if length:
            self.packed = aligned_empty(lib.gb_iir_block_floats(s.f, s.s, length), np.float32)
            self.packed[:] = pack_block(workload.coeffs, length, s.t, lanes)
        else:
            self.packed = aligned_empty(lib.gb_iir_packed_floats(s.f, s.s), np.float32)
            lib.gb_iir_pack(coeffs.ctypes.data, s.f, s.s, self.packed.ctypes.data)
        self.state = aligned_empty(lib.gb_iir_state_floats(s.b, s.f, s.s), np.float32)
        self.state.fill(0)
        self.flags = flags
        self._args: tuple | None = None
        self._bound: tuple[int, int] | None = None

    def reset(self) -> None:
        self.state.fill(0)

    def columns(self, case: Case) -> dict:
        return {"block_length": self.length} if self.length else {}

    def _call_args(self, x: np.ndarray, out: np.ndarray) -> tuple:
        key = (x.ctypes.data, out.ctypes.data)
        if self._bound != key:
            s = self.spec
            for name, a, shape in (("x", x, (s.b, s.t)), ("out", out, s.out_shape)):
                if a.dtype != np.float32 or a.shape != shape or not a.flags.c_contiguous:
                    raise ValueError(f"{name} must be C-contiguous float32 {shape}, got {a.dtype} {a.shape}")
            shape = (s.b, s.t, s.f, s.s) + ((self.length,) if self.length else ())
            self._args = (self.packed.ctypes.data, self.state.ctypes.data, *shape, key[0], key[1],
                          int(s.output == "energy"), s.frame, self.flags)
            self._bound = key
        return self._args

    def run(self, x: np.ndarray, out: np.ndarray) -> None:
        call = self.lib.gb_iir_block if self.length else self.lib.gb_iir_bank
        if call(*self._call_args(x, out)) != 0:
            raise ValueError("the csimd filter-bank kernel refused its arguments")

    def run_native(self, x: np.ndarray, out: np.ndarray, loops: int) -> int:
        timed = self.lib.gb_iir_block_time if self.length else self.lib.gb_iir_bank_time
        return timed(*self._call_args(x, out), loops)

    def parts(self, x: np.ndarray) -> dict[str, tuple[Callable[[int], int], float]]:
        """Full output: writing the bound output once, plain and non-temporal (the floor is the faster)."""
        bound = getattr(self, "bound", None)
        if self.spec.output != "full" or bound is None:
            return {}
        lib, address, count = self.lib, bound[1].ctypes.data, bound[1].size
        return {f"write_once_{kind}": ((lambda loops, nt=nt: lib.gb_iir_write_time(address, count, nt, loops)), 1.0)
                for kind, nt in (("plain", 0), ("stream", 1))}
