"""ctypes wrapper of the hand-written C kernels: load a compiled ISA variant, pack, call, time.

Loading (`load_kernels`) compiles every *.c/*.h beside this file for the variant through
gemmbench.native, declares each function's argtypes/restype once, and checks the library
reports the ISA it was asked for; a process loads each variant once.

    kern = load_kernels("avx512vnni")
    p = pack_dense(kern, W)                     # untimed: packing, conversion, quantization
    sgemv(p, x, y)                              # the measured call: y = W x, no allocation
    ns = sgemv_time(p, x, y, loops)             # the same call looped `loops` times inside C

Pairs of (prepare, call, call_time): pack_dense / sgemv, sgemm; prepare_sparse16(_from_dense)
/ sparse16_sgemv; prepare_int8 / int8_gemv; prepare_sparse8x4_int8 / sparse8x4_int8_gemv.
Prepared objects keep every buffer 64-byte aligned and the C arguments fixed at prepare
time as plain ints; x and y addresses are cached per array object, because numpy's
`a.ctypes.data` alone costs about 1.4 us, more than a sparse kernel's whole run.

Layouts live in the C code (gb_kernels.h): packing is done by C functions, so the
packed layout is written down once.

Rows not a multiple of 16 (dense float32 and int8): the packed panels are padded with
zero rows; the kernel computes the last, ragged panel in full and stores only its real
rows, so `y` is exactly (m,) or (m, n) and no padded scratch is needed. Inputs: any
k >= 1 (int8 pads the packed inputs to a multiple of 4 with zero weights). Block-sparse
formats need m and k divisible by the block (16x1: m % 16; 8x4: m % 8 and k % 4) and
refuse other shapes.

int8: u8 activations (LPCNet: 127 + rint(127 x)) are quantized inside the measured call,
as LPCNet does, into a scratch buffer owned by the prepared object (so one prepared
object must not be called from two threads at once). The weight range depends on the
variant (`int8_scheme_name`): 7-bit [-63, 63] where maddubs is used (avx2, avx512), so its
int16 pair sums cannot saturate; [-127, 127] with VNNI and in scalar C. Results equal
`gemmbench.quant.int8_gemv_reference` for the same scheme bit for bit.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterable

import numpy as np

from gemmbench import blocksparse, isa, native, quant
from gemmbench.workload import aligned_copy, aligned_empty  # noqa: F401  (lpcnet.py uses them through here)

SOURCE_DIR = Path(__file__).resolve().parent
LEVELS = ("scalar", "avx2", "avx512", "avx512vnni")  # the ISA levels (gemmbench.isa) these sources implement


def int8_scheme_name(level: str) -> str:
    """The int8 scheme a level's kernels implement: 7-bit weights where maddubs' int16 sums must not saturate."""
    return "w63-row-u8off" if isa.get(level).int8_weight_max == 63 else "w127-row-u8off"


_P = ctypes.c_void_p
_I = ctypes.c_int64  # every integer crossing the ABI is int64_t (gb_kernels.h)
_SIGNATURES: dict[str, tuple[object, tuple[object, ...]]] = {
    "gb_abi_version": (_I, ()),
    "gb_isa": (ctypes.c_char_p, ()),
    "gb_int8_weight_max": (_I, ()),
    "gb_int8_weight_min": (_I, ()),
    "gb_dense_packed_floats": (_I, (_I, _I)),
    "gb_dense_pack": (None, (_P, _I, _I, _P)),
    "gb_sgemv": (None, (_P, _I, _I, _P, _P)),
    "gb_sgemm": (None, (_P, _I, _I, _I, _P, _P)),
    "gb_sgemv_time": (_I, (_P, _I, _I, _P, _P, _I)),
    "gb_sgemm_time": (_I, (_P, _I, _I, _I, _P, _P, _I)),
    "gb_sparse16_sgemv": (None, (_I, _I, _P, _P, _P, _P, _P)),
    "gb_sparse16_sgemv_time": (_I, (_I, _I, _P, _P, _P, _P, _P, _I)),
    "gb_int8_xq_bytes": (_I, (_I,)),
    "gb_quantize_u8": (None, (_P, _I, _P)),
    "gb_int8_packed_bytes": (_I, (_I, _I)),
    "gb_int8_pack": (None, (_P, _I, _I, _P)),
    "gb_int8_gemv": (None, (_P, _I, _I, _P, _P, _P, _P, _P)),
    "gb_int8_gemv_time": (_I, (_P, _I, _I, _P, _P, _P, _P, _P, _I)),
    "gb_sparse8x4_int8_gemv": (None, (_I, _I, _P, _P, _P, _P, _P, _P, _P, _P)),
    "gb_sparse8x4_int8_gemv_time": (_I, (_I, _I, _P, _P, _P, _P, _P, _P, _P, _P, _I)),
    "gb_struct_size": (_I, (ctypes.c_char_p,)),
    "gb_struct_field": (ctypes.c_char_p, (ctypes.c_char_p, _I, _P, _P)),
    "gb_lpcnet_step": (None, (_P, _I, _P, _P)),
    "gb_lpcnet_run_time": (_I, (_P, _P, _P, _I)),
    "gb_lpcnet_part_time": (_I, (_P, _I, _I)),
    "gb_activation": (None, (_I, _P, _I, _P)),
}
ABI_VERSION = 3


def sources() -> list[Path]:
    return sorted(p for p in SOURCE_DIR.iterdir() if p.suffix in (".c", ".h"))


@dataclass(frozen=True, eq=False)
class Kernels:
    variant: str
    path: Path
    lib: ctypes.CDLL
    int8_range: tuple[int, int]  # weights the int8 kernels take without saturating

    @property
    def int8_scheme(self) -> quant.QuantScheme:
        return quant.get_scheme(int8_scheme_name(self.variant))

    @property
    def compile_flags(self) -> tuple[str, ...]:
        return native.compile_flags(self.variant)


def _declare(lib: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = list(argtypes)


@functools.lru_cache(maxsize=None)
def _load(variant: str) -> Kernels:
    path = native.build(sources(), variant, name="csimd")
    lib = ctypes.CDLL(str(path))
    _declare(lib)
    isa = lib.gb_isa().decode()
    if isa != variant or lib.gb_abi_version() != ABI_VERSION:
        raise native.NativeBuildError(f"library {path.name} reports ISA {isa} ABI {lib.gb_abi_version()}, "
                                      f"expected {variant} ABI {ABI_VERSION}")
    return Kernels(variant, path, lib, (lib.gb_int8_weight_min(), lib.gb_int8_weight_max()))


def c_layout(kernels: Kernels, type_name: str) -> tuple[int, list[tuple[str, int, int]]]:
    """A struct as the compiled library lays it out: its size and each field's (name, offset, size)."""
    lib, name = kernels.lib, type_name.encode()
    size = lib.gb_struct_size(name)
    if size < 0:
        raise ValueError(f"{kernels.path.name} does not describe a struct {type_name}")
    fields, offset, width = [], ctypes.c_int64(), ctypes.c_int64()
    while (field_name := lib.gb_struct_field(name, len(fields), ctypes.byref(offset), ctypes.byref(width))):
        fields.append((field_name.decode(), offset.value, width.value))
    return size, fields


def mirror_layout(struct: type[ctypes.Structure]) -> tuple[int, list[tuple[str, int, int]]]:
    """The same for a ctypes mirror."""
    return ctypes.sizeof(struct), [(f[0], getattr(struct, f[0]).offset, getattr(struct, f[0]).size)
                                   for f in struct._fields_]


def check_layout(kernels: Kernels, type_name: str, struct: type[ctypes.Structure]) -> None:
    """Refuse a ctypes mirror that differs from the C struct in any field's name, offset or size."""
    (c_size, c_fields), (py_size, py_fields) = c_layout(kernels, type_name), mirror_layout(struct)
    for c, py in itertools.zip_longest(c_fields, py_fields):
        if c != py:
            raise RuntimeError(f"{type_name} field (name, offset, size) is {c} in {kernels.path.name} but {py} "
                               f"in the ctypes mirror {struct.__name__}: gb_kernels.h and its mirror disagree")
    if c_size != py_size:
        raise RuntimeError(f"{type_name} is {c_size} bytes in {kernels.path.name} but {py_size} in the ctypes "
                           f"mirror {struct.__name__}")


def load_kernels(variant: str, cpu_flags: Iterable[str] | None = None) -> Kernels:
    """The compiled variant; refuses (UnsupportedCpuError) when the CPU lacks one of its flags."""
    native.check_cpu(variant, cpu_flags)
    return _load(variant)


def _ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data


def _address(cache: dict, a: np.ndarray, shape: tuple[int, ...], name: str) -> int:
    """The data address of a float32 C-contiguous array of `shape`.

    `a.ctypes.data` costs about 1.4 us here, several times a small kernel's own time, so
    addresses are remembered per array object (the cache holds the array, so its id cannot
    be reused) and only shape and dtype are re-checked.
    """
    hit = cache.get(id(a))
    if hit is not None and hit[0] is a and a.shape == shape and a.dtype == np.float32:
        return hit[1]
    if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != np.float32 or not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous float32 of shape {shape}, got "
                         f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}")
    if len(cache) >= 8:
        cache.clear()
    cache[id(a)] = (a, a.ctypes.data)
    return cache[id(a)][1]


@dataclass(frozen=True, eq=False)
class _Prepared:
    """What every prepared kernel has: the arguments fixed at prepare time, the x/y address cache."""

    kernels: Kernels
    m: int
    k: int
    head: tuple = field(repr=False)  # C arguments before x and y
    addresses: dict = field(default_factory=dict, repr=False, compare=False)

    def xy(self, x: np.ndarray, y: np.ndarray) -> tuple[int, int]:
        return _address(self.addresses, x, (self.k,), "x"), _address(self.addresses, y, (self.m,), "y")


# ---- dense float32 ----

@dataclass(frozen=True, eq=False)
class DenseF32(_Prepared):
    kernel: ClassVar[str] = "sgemv"  # the C kernel, as results name it
    packed: np.ndarray = field(default=None, repr=False)  # aligned, layout of gb_dense_pack


def pack_dense(kernels: Kernels, weights: np.ndarray) -> DenseF32:
    w = np.ascontiguousarray(weights, dtype=np.float32)
    m, k = w.shape
    if m < 1 or k < 1:
        raise ValueError(f"need m, k >= 1, got {w.shape}")
    packed = aligned_empty(kernels.lib.gb_dense_packed_floats(m, k), np.float32)
    kernels.lib.gb_dense_pack(w.ctypes.data, m, k, packed.ctypes.data)
    return DenseF32(kernels, m, k, (packed.ctypes.data, m, k), packed=packed)


def sgemv(p: DenseF32, x: np.ndarray, y: np.ndarray) -> None:
    p.kernels.lib.gb_sgemv(*p.head, *p.xy(x, y))


def sgemv_time(p: DenseF32, x: np.ndarray, y: np.ndarray, loops: int) -> int:
    return p.kernels.lib.gb_sgemv_time(*p.head, *p.xy(x, y), loops)


def _batch_args(p: DenseF32, x: np.ndarray, y: np.ndarray) -> tuple:
    n = x.shape[1] if getattr(x, "ndim", 0) == 2 else -1
    if n < 1:
        raise ValueError(f"X must be (k, n) with n >= 1, got shape {getattr(x, 'shape', None)}")
    return (*p.head, n, _address(p.addresses, x, (p.k, n), "X"), _address(p.addresses, y, (p.m, n), "Y"))


def sgemm(p: DenseF32, x: np.ndarray, y: np.ndarray) -> None:
    """Y = W X for X (k, n) and Y (m, n), both row-major."""
    p.kernels.lib.gb_sgemm(*_batch_args(p, x, y))


def sgemm_time(p: DenseF32, x: np.ndarray, y: np.ndarray, loops: int) -> int:
    return p.kernels.lib.gb_sgemm_time(*_batch_args(p, x, y), loops)


# ---- 16x1 block-sparse float32 ----

@dataclass(frozen=True, eq=False)
class Sparse16F32(_Prepared):
    kernel: ClassVar[str] = "sparse16_sgemv"  # the C kernel, as results name it
    index: np.ndarray = field(default=None, repr=False)  # int32
    weights: np.ndarray = field(default=None, repr=False)  # float32, aligned, 16 per block
    diagonal: np.ndarray | None = field(default=None, repr=False)

    @property
    def nblocks(self) -> int:
        return self.weights.size // 16


def prepare_sparse16(kernels: Kernels, sparse: blocksparse.BlockSparse) -> Sparse16F32:
    if sparse.block != (16, 1):
        raise ValueError(f"the 16x1 kernel needs 16x1 blocks, got {sparse.block[0]}x{sparse.block[1]}")
    index = aligned_copy(sparse.index, np.int32)
    weights = aligned_copy(sparse.weights.reshape(-1), np.float32)
    diag = None if sparse.diagonal is None else aligned_copy(sparse.diagonal, np.float32)
    head = (sparse.m, sparse.k, index.ctypes.data, weights.ctypes.data, _ptr(diag))
    return Sparse16F32(kernels, sparse.m, sparse.k, head, index=index, weights=weights, diagonal=diag)


def prepare_sparse16_from_dense(kernels: Kernels, weights: np.ndarray, mask: np.ndarray,
                                diagonal: np.ndarray | None = None) -> Sparse16F32:
    w = np.asarray(weights, dtype=np.float32)
    return prepare_sparse16(kernels, blocksparse.to_block_sparse(w, mask, diagonal, (16, 1)))


def sparse16_sgemv(p: Sparse16F32, x: np.ndarray, y: np.ndarray) -> None:
    p.kernels.lib.gb_sparse16_sgemv(*p.head, *p.xy(x, y))


def sparse16_sgemv_time(p: Sparse16F32, x: np.ndarray, y: np.ndarray, loops: int) -> int:
    return p.kernels.lib.gb_sparse16_sgemv_time(*p.head, *p.xy(x, y), loops)


# ---- int8 ----

def _int8_scheme(kernels: Kernels, scheme: quant.QuantScheme | str | None) -> quant.QuantScheme:
    if scheme is None:
        return kernels.int8_scheme
    s = quant.get_scheme(scheme) if isinstance(scheme, str) else scheme
    lo, hi = kernels.int8_range
    if s.activation != "u8off":
        raise ValueError(f"scheme {s.name}: the C kernels take u8 offset activations only (u8off)")
    if s.weight_min < lo or s.weight_max > hi:
        raise ValueError(f"scheme {s.name} puts weights in [{s.weight_min}, {s.weight_max}], but the "
                         f"{kernels.variant} kernels take [{lo}, {hi}] (maddubs' int16 pair sums would "
                         f"saturate); use {kernels.int8_scheme.name}")
    return s


@dataclass(frozen=True, eq=False)
class _Int8Arrays:
    scale: np.ndarray  # float32 (m,): quant.row_scales
    corr: np.ndarray  # int32 (m,): quant.row_corrections
    xq: np.ndarray  # uint8 scratch for the activations, quantized inside each call

    @staticmethod
    def make(kernels: Kernels, qw: quant.QuantizedWeights) -> "_Int8Arrays":
        xq = aligned_empty(kernels.lib.gb_int8_xq_bytes(qw.q.shape[1]), np.uint8)
        xq[:] = 0  # its padding meets zero weights
        return _Int8Arrays(aligned_copy(quant.row_scales(qw), np.float32),
                           aligned_copy(quant.row_corrections(qw.q), np.int32), xq)


@dataclass(frozen=True, eq=False)
class DenseInt8(_Prepared):
    kernel: ClassVar[str] = "int8_gemv"  # the C kernel, as results name it
    packed: np.ndarray = field(default=None, repr=False)  # int8, aligned, layout of gb_int8_pack
    arrays: _Int8Arrays = field(default=None, repr=False)
    quantized: quant.QuantizedWeights = field(default=None, repr=False)  # what the reference needs

    @property
    def scheme(self) -> quant.QuantScheme:
        return self.quantized.scheme


def prepare_int8(kernels: Kernels, weights: np.ndarray, scheme: quant.QuantScheme | str | None = None) -> DenseInt8:
    qw = quant.quantize_weights(weights, _int8_scheme(kernels, scheme))
    m, k = qw.q.shape
    q = np.ascontiguousarray(qw.q)
    packed = aligned_empty(kernels.lib.gb_int8_packed_bytes(m, k), np.int8)
    kernels.lib.gb_int8_pack(q.ctypes.data, m, k, packed.ctypes.data)
    a = _Int8Arrays.make(kernels, qw)
    head = (packed.ctypes.data, m, k, a.scale.ctypes.data, a.corr.ctypes.data, a.xq.ctypes.data)
    return DenseInt8(kernels, m, k, head, packed=packed, arrays=a, quantized=qw)


def int8_gemv(p: DenseInt8, x: np.ndarray, y: np.ndarray) -> None:
    p.kernels.lib.gb_int8_gemv(*p.head, *p.xy(x, y))


def int8_gemv_time(p: DenseInt8, x: np.ndarray, y: np.ndarray, loops: int) -> int:
    return p.kernels.lib.gb_int8_gemv_time(*p.head, *p.xy(x, y), loops)


@dataclass(frozen=True, eq=False)
class Sparse8x4Int8(_Prepared):
    kernel: ClassVar[str] = "sparse8x4_int8_gemv"  # the C kernel, as results name it
    index: np.ndarray = field(default=None, repr=False)  # int32: per 8 rows a count, then first input columns
    weights: np.ndarray = field(default=None, repr=False)  # int8, aligned, 32 bytes per block (row-major 8x4)
    diagonal: np.ndarray | None = field(default=None, repr=False)  # float32, added after dequantisation
    arrays: _Int8Arrays = field(default=None, repr=False)
    quantized: quant.QuantizedWeights = field(default=None, repr=False)  # the block part, diagonal excluded

    @property
    def nblocks(self) -> int:
        return self.weights.size // 32

    @property
    def scheme(self) -> quant.QuantScheme:
        return self.quantized.scheme


def prepare_sparse8x4_int8(kernels: Kernels, weights: np.ndarray, mask: np.ndarray,
                           diagonal: np.ndarray | None = None,
                           scheme: quant.QuantScheme | str | None = None) -> Sparse8x4Int8:
    """Quantize the block part (per-row scales over its kept blocks) and store it as 8x4 int8 blocks."""
    w = np.asarray(weights, dtype=np.float32)
    float_blocks = blocksparse.to_block_sparse(w, mask, diagonal, (8, 4))  # validates shape and orientation
    block_part = blocksparse.to_dense(dataclasses.replace(float_blocks, diagonal=None))
    qw = quant.quantize_weights(block_part, _int8_scheme(kernels, scheme))
    int_blocks = blocksparse.to_block_sparse(qw.q, float_blocks.block_mask(), None, (8, 4))
    m, k = w.shape
    index = aligned_copy(int_blocks.index, np.int32)
    blocks = aligned_copy(int_blocks.weights.reshape(-1), np.int8)
    diag = None if diagonal is None else aligned_copy(np.asarray(diagonal), np.float32)
    a = _Int8Arrays.make(kernels, qw)
    head = (m, k, index.ctypes.data, blocks.ctypes.data, a.scale.ctypes.data, a.corr.ctypes.data, _ptr(diag),
            a.xq.ctypes.data)
    return Sparse8x4Int8(kernels, m, k, head, index=index, weights=blocks, diagonal=diag, arrays=a, quantized=qw)


def sparse8x4_int8_gemv(p: Sparse8x4Int8, x: np.ndarray, y: np.ndarray) -> None:
    p.kernels.lib.gb_sparse8x4_int8_gemv(*p.head, *p.xy(x, y))


def sparse8x4_int8_gemv_time(p: Sparse8x4Int8, x: np.ndarray, y: np.ndarray, loops: int) -> int:
    return p.kernels.lib.gb_sparse8x4_int8_gemv_time(*p.head, *p.xy(x, y), loops)


def prepare_gemv(kernels: Kernels, weights: np.ndarray, int8: bool, mask: np.ndarray | None = None,
                 diagonal: np.ndarray | None = None) -> DenseF32 | Sparse16F32 | DenseInt8 | Sparse8x4Int8:
    """The GEMV kernel csimd runs for these weights: block-sparse when there is a mask (16x1
    float32, 8x4 int8), else dense; int8 with the variant's scheme."""
    if int8:
        if mask is not None:
            return prepare_sparse8x4_int8(kernels, weights, mask, diagonal)
        return prepare_int8(kernels, weights)
    if mask is not None:
        return prepare_sparse16_from_dense(kernels, weights, mask, diagonal)
    return pack_dense(kernels, weights)


def quantize_u8(kernels: Kernels, x: np.ndarray) -> np.ndarray:
    """The C activation quantizer on its own (the int8 kernels run it inside each call)."""
    xc = np.ascontiguousarray(x, dtype=np.float32)
    out = aligned_empty(kernels.lib.gb_int8_xq_bytes(xc.size), np.uint8)
    kernels.lib.gb_quantize_u8(xc.ctypes.data, xc.size, out.ctypes.data)
    return out[:xc.size].copy()


def int8_reference(p: DenseInt8 | Sparse8x4Int8, x: np.ndarray) -> np.ndarray:
    """What the int8 kernel must return, bit for bit (gemmbench.quant's numpy reference)."""
    return quant.int8_gemv_reference(p.quantized, x, getattr(p, "diagonal", None))
