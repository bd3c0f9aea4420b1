"""ctypes wrapper of the hand-written C kernels: load a compiled ISA variant, prepare, bind, call, time.

Loading (`load_kernels`) compiles every *.c/*.h beside this file for the variant through
gemmbench.machine.native, declares each function's argtypes/restype once, checks the library reports
the ISA it was asked for, and checks every struct mirror field by field (`check_layout`).

    kern = load_kernels("avx512vnni")
    a = prepare_gemv(kern, W, "int8", mask)   # untimed: packing, quantization, rounding
    call = bind(a, x, y)                       # a gb_call: a, x and y in one C struct
    run(call, x, y)                            # the measured call: one ctypes argument
    ns = run_time(call, x, y, loops)           # the same call `loops` times inside C

The prepared operands (`DenseF32`, `Sparse16F32`, `DenseInt8`, `Sparse8x4Int8`, `DenseBf16`,
`Sparse16Bf16`, `DenseFp16`, `Sparse16Fp16`) hold every array the C side reads, 64-byte aligned, and the gb_product that
points into them. Layouts live in the C code (gb_kernels.h): packing is done by C functions,
so each layout is written down once.

The call path (docs/csimd.md): `run` passes one pointer, to a gb_call that already holds the
operand and the addresses of x and y, through a PyDLL function (no GIL release around a call
of a few microseconds). When x or y is not the array the call was bound to (a harness cycling
through inputs), `Call.bind` checks it (ndarray, float32, C-contiguous, shape) and writes its
address into the struct; addresses are remembered per array object, because numpy's
`a.ctypes.data` alone costs many times the call. Wrong arrays are refused with a ValueError, never passed.

Rows not a multiple of 16 (dense kinds): the packed panels are padded with zero rows; the
kernel computes the last, ragged panel in full and stores only its real rows, so y is exactly
(m,) or (m, n). Block-sparse formats need m and k divisible by the block (16x1: m % 16; 8x4:
m % 8 and k % 4) and refuse other shapes.

int8: u8 activations (LPCNet: 127 + rint(127 x)) are quantized inside the measured call into
scratch owned by the operand (so one operand must not be called from two threads at once).
The weight range depends on the variant (`int8_scheme_name`): 7-bit [-63, 63] where maddubs
is used (avx2, avx512, avx512bf16), so its int16 pair sums cannot saturate; [-127, 127] with
VNNI, on NEON and in scalar C. NEON multiplies s8 x s8 (sdot, smull): its activation bytes
drop LPCNet's offset before the product and its row corrections are 0 (`int8_act_offset`), the
same integers in the end. Results equal `gemmbench.formats.quant.int8_gemv_reference` bit for bit.

bf16: weights rounded to bf16 (round to nearest even, bit-exact with `quant.round_bf16`),
products in float32; avx512bf16 also rounds the activations (vdpbf16ps), the other levels
multiply exact float32 activations by the widened weights (`Kernels.bf16_rounds_activations`).

fp16: weights rounded to IEEE binary16 (bit-exact with numpy's astype(np.float16), which
`quant.round_fp16` is); avx512fp16 rounds the activations to fp16 too and multiplies in fp16,
moving each lane's sum to float32 every few products, the other levels widen the weights to
float32 (`Kernels.fp16_lane_terms`, 0 where they widen).
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Iterable

import numpy as np

from gemmbench.cases.workload import aligned_copy, aligned_empty
from gemmbench.formats import blocksparse, quant
from gemmbench.machine import isa, native
from gemmbench.measure.timing import Clocks, Loop, python_loop

SOURCE_DIR = Path(__file__).resolve().parent
LEVELS = ("scalar", "avx2", "avx512", "avx512vnni", "avx512bf16", "avx512fp16", "amx-int8", "amx-bf16", "neon",
          "neon-dotprod")  # the ISA levels (gemmbench.machine.isa) these sources implement
ABI_VERSION = 7
# The kinds of gb_kernels.h, in its enum's order.
KINDS = ("dense_f32", "sparse16_f32", "dense_int8", "sparse8x4_int8", "dense_bf16", "sparse16_bf16", "amx_int8",
         "amx_bf16", "dense_fp16", "sparse16_fp16")
MAX_K_SPARSE = 1 << 16  # the block-sparse layouts store input columns as uint16
ADDRESS_CACHE = 256  # arrays whose addresses a call remembers (a harness cycling through inputs)


def int8_scheme_name(level: str) -> str:
    """The int8 scheme a level's kernels implement: 7-bit weights where maddubs' int16 sums must not saturate."""
    return "w63-row-u8off" if isa.get(level).int8_weight_max == 63 else "w127-row-u8off"


# How the aarch64 levels' int8 kernels reach their scheme (s8 x s8: the offset is dropped first).
_INT8_ARITHMETIC = {
    "neon": "s8 x s8 through smull and pairwise adds (no dot product needed), activations without their offset",
    "neon-dotprod": "s8 x s8 sdot, activations without their offset",
}


def int8_description(level: str) -> str:
    """The int8 scheme a level implements, and for aarch64 how (a variant's detail names it)."""
    how = _INT8_ARITHMETIC.get(level)
    return f"int8 scheme {int8_scheme_name(level)}" + (f" ({how})" if how else "")


_P = ctypes.c_void_p
_I = ctypes.c_int64  # every integer crossing the ABI is int64_t (gb_kernels.h)
_S = ctypes.c_char_p


class Product(ctypes.Structure):
    """gb_product, field for field."""

    _fields_ = [("kind", _I), ("m", _I), ("k", _I), ("bytes", _I), ("w", _P), ("idx", _P), ("diag", _P),
                ("scale", _P), ("corr", _P), ("act", _P)]


class CallBlock(ctypes.Structure):
    """gb_call, field for field."""

    _fields_ = [("a", Product), ("n", _I), ("x", _P), ("y", _P), ("backwards", _I)]


_SIGNATURES: dict[str, tuple[object, tuple[object, ...]]] = {
    "gb_abi_version": (_I, ()),
    "gb_isa": (_S, ()),
    "gb_int8_weight_max": (_I, ()),
    "gb_int8_weight_min": (_I, ()),
    "gb_int8_act_offset": (_I, ()),
    "gb_bf16_rounds_activations": (_I, ()),
    "gb_fp16_lane_terms": (_I, ()),
    "gb_call_run": (None, (_P,)),
    "gb_call_time": (_I, (_P, _I)),
    "gb_call_sample": (None, (_P, _I, _P)),
    "gb_noop": (None, (_P,)),
    "gb_act_bytes": (_I, (_I, _I)),
    "gb_dense_packed_floats": (_I, (_I, _I)),
    "gb_dense_pack": (None, (_P, _I, _I, _P)),
    "gb_quantize_u8": (None, (_P, _I, _P)),
    "gb_int8_packed_bytes": (_I, (_I, _I)),
    "gb_int8_pack": (None, (_P, _I, _I, _P)),
    "gb_sparse_layout": (_I, (_I, _I, _P, _P, _P)),
    "gb_sparse_pack": (None, (_I, _I, _P, _P, _P, _P)),
    "gb_round_bf16": (None, (_P, _I, _P)),
    "gb_bf16_packed_bytes": (_I, (_I, _I)),
    "gb_bf16_pack": (None, (_P, _I, _I, _P)),
    "gb_amx_permission": (_I, ()),
    "gb_amx_packed_bytes": (_I, (_I, _I, _I)),
    "gb_amx_pack": (None, (_I, _P, _I, _I, _P)),
    "gb_round_fp16": (None, (_P, _I, _P)),
    "gb_fp16_packed_bytes": (_I, (_I, _I)),
    "gb_fp16_pack": (None, (_P, _I, _I, _P)),
    "gb_lpcnet_step": (None, (_P, _I, _P, _P)),
    "gb_lpcnet_run_time": (_I, (_P, _P, _P, _I)),
    "gb_lpcnet_part_time": (_I, (_P, _I, _I)),
    "gb_activation": (None, (_I, _P, _I, _P)),
    "gb_struct_size": (_I, (_S,)),
    "gb_struct_field": (_S, (_S, _I, _P, _P)),
}
# The measured calls, loaded a second time through PyDLL: ctypes then neither releases nor
# re-takes the GIL around them, and the argument is a ready ctypes pointer passed without
# argtypes conversion (docs/csimd.md, "The call path", has the figures of each way).
_FAST = ("gb_call_run", "gb_noop")


# C files built into libraries of their own, compiled only for runs of their op (iir.c alone takes
# most of a level's compile time); every header goes into every library.
FAMILIES = {"iir": ("iir.c",)}


def sources(family: str = "csimd") -> list[Path]:
    """The sources of one library: csimd's own kernels, or a family of FAMILIES."""
    apart = {name for files in FAMILIES.values() for name in files}
    files = [p for p in SOURCE_DIR.iterdir() if p.suffix == ".h"]
    if family == "csimd":
        files += [p for p in SOURCE_DIR.iterdir() if p.suffix == ".c" and p.name not in apart]
    else:
        files += [SOURCE_DIR / name for name in FAMILIES[family]]
    return sorted(files)


def family_levels(family: str) -> list[str]:
    """The levels a library is built at: every level of csimd's, the float32 ones for a family."""
    return [level for level in LEVELS if family == "csimd" or "float32" in isa.get(level).gains]


def float32_levels() -> list[isa.IsaLevel]:
    """The levels with float32 kernels that code can be built for on this machine's architecture
    (the levels of the convolution and filter-bank methods)."""
    return [level for level in isa.levels_for() if level.name in LEVELS and "float32" in level.gains]


def load_family(family: str, level: str) -> ctypes.CDLL:
    """A family's library at `level` (refused before compiling when the CPU lacks the level's flags)."""
    native.check_cpu(level)
    return ctypes.CDLL(str(native.build(sources(family), level, name=f"csimd-{family}")))


@dataclass(frozen=True, eq=False)
class Kernels:
    variant: str
    path: Path
    lib: ctypes.CDLL
    fast: ctypes.PyDLL  # the same library: the measured calls (_FAST), GIL held, no argtypes
    int8_range: tuple[int, int]  # weights the int8 kernels take without saturating
    int8_act_offset: int  # the activation byte's offset: 127 (u8 x s8, x86 and scalar) or 0 (s8 x s8, NEON)
    bf16_rounds_activations: bool  # vdpbf16ps (activations rounded to bf16) or widening (exact)
    fp16_lane_terms: int  # vfmadd231ph: products an fp16 lane sums before float32 takes over; 0: widening (exact)

    @property
    def int8_scheme(self) -> quant.QuantScheme:
        return quant.get_scheme(int8_scheme_name(self.variant))

    @property
    def compile_flags(self) -> tuple[str, ...]:
        return native.compile_flags(self.variant)


def _declare(lib: ctypes.CDLL, fast: ctypes.PyDLL) -> None:
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = list(argtypes)
    for name in _FAST:
        getattr(fast, name).restype = None


@functools.lru_cache(maxsize=None)
def _load(variant: str) -> Kernels:
    path = native.build(sources(), variant, name="csimd")
    lib, fast = ctypes.CDLL(str(path)), ctypes.PyDLL(str(path))
    _declare(lib, fast)
    level = lib.gb_isa().decode()
    if level != variant or lib.gb_abi_version() != ABI_VERSION:
        raise native.NativeBuildError(f"library {path.name} reports ISA {level} ABI {lib.gb_abi_version()}, "
                                      f"expected {variant} ABI {ABI_VERSION}")
    kernels = Kernels(variant, path, lib, fast, (lib.gb_int8_weight_min(), lib.gb_int8_weight_max()),
                      lib.gb_int8_act_offset(), bool(lib.gb_bf16_rounds_activations()),
                      lib.gb_fp16_lane_terms())
    check_layout(kernels, "gb_product", Product)
    check_layout(kernels, "gb_call", CallBlock)
    return kernels


def load_kernels(variant: str, cpu_flags: Iterable[str] | None = None) -> Kernels:
    """The compiled variant; refuses (UnsupportedCpuError) when the CPU lacks one of its flags."""
    native.check_cpu(variant, cpu_flags)
    return _load(variant)


# ---- struct mirrors, checked against the compiled layout ----

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


# ---- prepared operands ----

def _ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data


@dataclass(frozen=True, eq=False)
class Operand:
    """A matrix prepared for one kind of kernel: its gb_product and every array it points into."""

    kind: ClassVar[str] = ""  # a name of KINDS
    kernel: ClassVar[str] = ""  # the C kernel, as results name it
    precision: ClassVar[str] = "float32"  # of its weights and arithmetic
    batched: ClassVar[bool] = False  # runs Y = A X with several columns too
    batched_kernel: ClassVar[str] = ""  # the C kernel of n > 1 where it is another than `kernel`
    kernels: Kernels
    m: int
    k: int
    product: Product = field(repr=False)
    arrays: tuple = field(repr=False)  # what the product's pointers point into, kept alive

    @property
    def nbytes(self) -> int:
        return self.product.bytes


def _operand(cls: type[Operand], kernels: Kernels, m: int, k: int, *, w: np.ndarray, idx: np.ndarray | None = None,
             diag: np.ndarray | None = None, scale: np.ndarray | None = None, corr: np.ndarray | None = None,
             act: np.ndarray | None = None, **extra) -> Operand:
    arrays = (w, idx, diag, scale, corr, act)
    nbytes = w.nbytes + (0 if idx is None else idx.nbytes)
    product = Product(KINDS.index(cls.kind), m, k, nbytes, *(_ptr(a) for a in arrays))
    return cls(kernels, m, k, product, arrays, **extra)


def _scratch(kernels: Kernels, kind: str, k: int) -> np.ndarray | None:
    size = kernels.lib.gb_act_bytes(KINDS.index(kind), k)
    if not size:
        return None
    act = aligned_empty(size, np.uint8)
    act[:] = 0  # padding beyond k meets zero weights
    return act


# ---- dense float32 ----

@dataclass(frozen=True, eq=False)
class DenseF32(Operand):
    kind: ClassVar[str] = "dense_f32"
    kernel: ClassVar[str] = "sgemv"
    batched_kernel: ClassVar[str] = "sgemm"
    batched: ClassVar[bool] = True

    @property
    def packed(self) -> np.ndarray:
        """The panels (gb_dense_pack's layout), for C code that multiplies by them itself (conv1d.c)."""
        return self.arrays[0]


def pack_dense(kernels: Kernels, weights: np.ndarray) -> DenseF32:
    w = np.ascontiguousarray(weights, dtype=np.float32)
    m, k = _shape(w)
    packed = aligned_empty(kernels.lib.gb_dense_packed_floats(m, k), np.float32)
    kernels.lib.gb_dense_pack(w.ctypes.data, m, k, packed.ctypes.data)
    return _operand(DenseF32, kernels, m, k, w=packed)


def _shape(w: np.ndarray) -> tuple[int, int]:
    if w.ndim != 2 or min(w.shape) < 1:
        raise ValueError(f"weights must be 2-D with m, k >= 1, got shape {w.shape}")
    return w.shape


# ---- 16x1 block-sparse float32 ----

@dataclass(frozen=True, eq=False)
class Sparse16F32(Operand):
    kind: ClassVar[str] = "sparse16_f32"
    kernel: ClassVar[str] = "sparse16_sgemv"
    nblocks: int = 0


def prepare_sparse16(kernels: Kernels, sparse: blocksparse.BlockSparse) -> Sparse16F32:
    if sparse.block != (16, 1):
        raise ValueError(f"the 16x1 kernel needs 16x1 blocks, got {sparse.block[0]}x{sparse.block[1]}")
    _check_columns(sparse.k)
    index, weights = _grouped(kernels, Sparse16F32.kind, sparse.m, sparse.index,
                              np.ascontiguousarray(sparse.weights, np.float32), np.float32)
    diag = None if sparse.diagonal is None else aligned_copy(sparse.diagonal, np.float32)
    return _operand(Sparse16F32, kernels, sparse.m, sparse.k, w=weights, idx=index, diag=diag,
                    nblocks=sparse.nblocks)


def _check_columns(k: int) -> None:
    if k > MAX_K_SPARSE:
        raise ValueError(f"the block-sparse kernels take k <= {MAX_K_SPARSE} (their columns are uint16); k = {k}")


def _grouped(kernels: Kernels, kind: str, m: int, usual_index: np.ndarray, blocks: np.ndarray,
             dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """The lockstep-groups layout (gb_internal.h) of blocks in the usual form: (index, weights)."""
    lib, code = kernels.lib, KINDS.index(kind)
    idx = np.ascontiguousarray(usual_index, np.int32)
    ints, units = ctypes.c_int64(), ctypes.c_int64()
    unit_bytes = lib.gb_sparse_layout(code, m, idx.ctypes.data, ctypes.byref(ints), ctypes.byref(units))
    index, packed = aligned_empty(ints.value, np.int32), aligned_empty(unit_bytes * units.value, np.uint8).view(dtype)
    lib.gb_sparse_pack(code, m, idx.ctypes.data, blocks.ctypes.data, index.ctypes.data, packed.ctypes.data)
    return index, packed


def prepare_sparse16_from_dense(kernels: Kernels, weights: np.ndarray, mask: np.ndarray,
                                diagonal: np.ndarray | None = None) -> Sparse16F32:
    w = np.asarray(weights, dtype=np.float32)
    return prepare_sparse16(kernels, blocksparse.to_block_sparse(w, mask, diagonal, (16, 1)))


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


def _int8_rows(kernels: Kernels, qw: quant.QuantizedWeights) -> dict[str, np.ndarray]:
    """scale (quant.row_scales) and corr (quant.row_corrections, for the build's activation offset) per row."""
    return {"scale": aligned_copy(quant.row_scales(qw), np.float32),
            "corr": aligned_copy(quant.row_corrections(qw.q, kernels.int8_act_offset), np.int32)}


@dataclass(frozen=True, eq=False)
class DenseInt8(Operand):
    kind: ClassVar[str] = "dense_int8"
    precision: ClassVar[str] = "int8"
    kernel: ClassVar[str] = "int8_gemv"
    batched_kernel: ClassVar[str] = "int8_gemm"
    batched: ClassVar[bool] = True
    quantized: quant.QuantizedWeights = field(default=None, repr=False)  # what the reference needs

    @property
    def scheme(self) -> quant.QuantScheme:
        return self.quantized.scheme


def prepare_int8(kernels: Kernels, weights: np.ndarray, scheme: quant.QuantScheme | str | None = None) -> DenseInt8:
    qw = quant.quantize_weights(weights, _int8_scheme(kernels, scheme))
    m, k = _shape(qw.q)
    q = np.ascontiguousarray(qw.q)
    packed = aligned_empty(kernels.lib.gb_int8_packed_bytes(m, k), np.int8)
    kernels.lib.gb_int8_pack(q.ctypes.data, m, k, packed.ctypes.data)
    return _operand(DenseInt8, kernels, m, k, w=packed, act=_scratch(kernels, DenseInt8.kind, k), quantized=qw,
                    **_int8_rows(kernels, qw))


@dataclass(frozen=True, eq=False)
class Sparse8x4Int8(Operand):
    kind: ClassVar[str] = "sparse8x4_int8"
    precision: ClassVar[str] = "int8"
    kernel: ClassVar[str] = "sparse8x4_int8_gemv"
    nblocks: int = 0  # blocks of the matrix (the layout adds zero blocks to even out its groups)
    quantized: quant.QuantizedWeights = field(default=None, repr=False)  # the block part, diagonal excluded
    diagonal: np.ndarray | None = field(default=None, repr=False)  # float32, added after dequantisation

    @property
    def scheme(self) -> quant.QuantScheme:
        return self.quantized.scheme


def prepare_sparse8x4_int8(kernels: Kernels, weights: np.ndarray, mask: np.ndarray,
                           diagonal: np.ndarray | None = None,
                           scheme: quant.QuantScheme | str | None = None) -> Sparse8x4Int8:
    """Quantize the block part (per-row scales over its kept blocks) and lay it out as 8x4 int8
    blocks in lockstep groups (gb_sparse_layout)."""
    w = np.asarray(weights, dtype=np.float32)
    float_blocks = blocksparse.to_block_sparse(w, mask, diagonal, (8, 4))  # validates shape and orientation
    _check_columns(w.shape[1])
    block_part = blocksparse.to_dense(dataclasses.replace(float_blocks, diagonal=None))
    qw = quant.quantize_weights(block_part, _int8_scheme(kernels, scheme))
    usual = blocksparse.to_block_sparse(qw.q, float_blocks.block_mask(), None, (8, 4))
    m, k = w.shape
    index, packed = _grouped(kernels, Sparse8x4Int8.kind, m, usual.index, np.ascontiguousarray(usual.weights, np.int8),
                             np.int8)
    diag = None if diagonal is None else aligned_copy(np.asarray(diagonal), np.float32)
    return _operand(Sparse8x4Int8, kernels, m, k, w=packed, idx=index, diag=diag,
                    act=_scratch(kernels, Sparse8x4Int8.kind, k), nblocks=usual.nblocks, quantized=qw, diagonal=diag,
                    **_int8_rows(kernels, qw))


def quantize_u8(kernels: Kernels, x: np.ndarray) -> np.ndarray:
    """The C activation quantizer on its own (the int8 kernels run it inside each call): bytes
    kernels.int8_act_offset + rint(127 clip(x)), so quant.quantize_u8's where the offset is 127."""
    xc = np.ascontiguousarray(x, dtype=np.float32)
    out = aligned_empty(kernels.lib.gb_act_bytes(KINDS.index("dense_int8"), xc.size), np.uint8)
    kernels.lib.gb_quantize_u8(xc.ctypes.data, xc.size, out.ctypes.data)
    return out[:xc.size].copy()


def int8_reference(a: DenseInt8 | Sparse8x4Int8, x: np.ndarray) -> np.ndarray:
    """What the int8 kernel must return, bit for bit (gemmbench.formats.quant's numpy reference): for X (k, n),
    the GEMV reference of each column."""
    x = np.asarray(x, dtype=np.float32)
    diagonal = getattr(a, "diagonal", None)
    if x.ndim == 1:
        return quant.int8_gemv_reference(a.quantized, x, diagonal)
    return np.stack([quant.int8_gemv_reference(a.quantized, column, diagonal) for column in x.T], axis=1)


# ---- bf16 and fp16: 16-bit float weights ----

def rounds_activations(kernels: Kernels, precision: str) -> bool:
    """Whether `kernels` multiply activations rounded to the weights' format (else exact float32)."""
    return kernels.bf16_rounds_activations if precision == "bf16" else kernels.fp16_lane_terms > 0


@dataclass(frozen=True, eq=False)
class DenseBf16(Operand):
    kind: ClassVar[str] = "dense_bf16"
    precision: ClassVar[str] = "bf16"
    kernel: ClassVar[str] = "bf16_gemv"
    rounded: np.ndarray = field(default=None, repr=False)  # uint16 (m, k): the weights as stored, row-major


@dataclass(frozen=True, eq=False)
class DenseFp16(DenseBf16):
    kind: ClassVar[str] = "dense_fp16"
    precision: ClassVar[str] = "fp16"
    kernel: ClassVar[str] = "fp16_gemv"


@dataclass(frozen=True, eq=False)
class Sparse16Bf16(Operand):
    kind: ClassVar[str] = "sparse16_bf16"
    precision: ClassVar[str] = "bf16"
    kernel: ClassVar[str] = "sparse16_bf16_gemv"
    nblocks: int = 0
    rounded: np.ndarray = field(default=None, repr=False)  # uint16 (m, k): the block part as stored, zeros elsewhere
    diagonal: np.ndarray | None = field(default=None, repr=False)  # float32, as in 16x1 float32


@dataclass(frozen=True, eq=False)
class Sparse16Fp16(Sparse16Bf16):
    kind: ClassVar[str] = "sparse16_fp16"
    precision: ClassVar[str] = "fp16"
    kernel: ClassVar[str] = "sparse16_fp16_gemv"


def _round_half(kernels: Kernels, values: np.ndarray, precision: str) -> np.ndarray:
    v = np.ascontiguousarray(values, dtype=np.float32)
    out = np.empty(v.shape, np.uint16)
    getattr(kernels.lib, f"gb_round_{precision}")(v.ctypes.data, v.size, out.ctypes.data)
    return out


def round_bf16(kernels: Kernels, values: np.ndarray) -> np.ndarray:
    """The C rounding to bf16 (gb_round_bf16), as uint16 bit patterns of the same shape."""
    return _round_half(kernels, values, "bf16")


def round_fp16(kernels: Kernels, values: np.ndarray) -> np.ndarray:
    """The C rounding to fp16 (gb_round_fp16), as uint16 bit patterns of the same shape."""
    return _round_half(kernels, values, "fp16")


def _half_scratch(kernels: Kernels, cls: type[Operand], k: int) -> np.ndarray | None:
    return _scratch(kernels, cls.kind, k) if rounds_activations(kernels, cls.precision) else None


def _prepare_dense_half(kernels: Kernels, weights: np.ndarray, cls: type[DenseBf16]) -> DenseBf16:
    lib, half = kernels.lib, cls.precision
    rounded = _round_half(kernels, weights, half)
    m, k = _shape(rounded)
    packed = aligned_empty(getattr(lib, f"gb_{half}_packed_bytes")(m, k) // 2, np.uint16)
    getattr(lib, f"gb_{half}_pack")(rounded.ctypes.data, m, k, packed.ctypes.data)
    return _operand(cls, kernels, m, k, w=packed, act=_half_scratch(kernels, cls, k), rounded=rounded)


def prepare_bf16(kernels: Kernels, weights: np.ndarray) -> DenseBf16:
    return _prepare_dense_half(kernels, weights, DenseBf16)


def prepare_fp16(kernels: Kernels, weights: np.ndarray) -> DenseFp16:
    return _prepare_dense_half(kernels, weights, DenseFp16)


def _prepare_sparse16_half(kernels: Kernels, weights: np.ndarray, mask: np.ndarray, diagonal: np.ndarray | None,
                           cls: type[Sparse16Bf16]) -> Sparse16Bf16:
    """16x1 blocks of 16-bit weights, paired two blocks to 64 bytes (gb_sparse_pack)."""
    w = np.asarray(weights, dtype=np.float32)
    float_blocks = blocksparse.to_block_sparse(w, mask, diagonal, (16, 1))
    rounded = _round_half(kernels, blocksparse.to_dense(dataclasses.replace(float_blocks, diagonal=None)), cls.precision)
    _check_columns(w.shape[1])
    index, packed = _grouped(kernels, cls.kind, w.shape[0], float_blocks.index,
                             _round_half(kernels, float_blocks.weights, cls.precision), np.uint16)
    diag = None if diagonal is None else aligned_copy(np.asarray(diagonal), np.float32)
    return _operand(cls, kernels, *w.shape, w=packed, idx=index, diag=diag,
                    act=_half_scratch(kernels, cls, w.shape[1]), nblocks=float_blocks.nblocks,
                    rounded=rounded, diagonal=diag)


def prepare_sparse16_bf16(kernels: Kernels, weights: np.ndarray, mask: np.ndarray,
                          diagonal: np.ndarray | None = None) -> Sparse16Bf16:
    return _prepare_sparse16_half(kernels, weights, mask, diagonal, Sparse16Bf16)


def prepare_sparse16_fp16(kernels: Kernels, weights: np.ndarray, mask: np.ndarray,
                          diagonal: np.ndarray | None = None) -> Sparse16Fp16:
    return _prepare_sparse16_half(kernels, weights, mask, diagonal, Sparse16Fp16)


PRECISIONS = ("float32", "int8", "bf16", "fp16")
_HALF = {"bf16": (prepare_bf16, prepare_sparse16_bf16), "fp16": (prepare_fp16, prepare_sparse16_fp16)}


def prepare_gemv(kernels: Kernels, weights: np.ndarray, precision: str = "float32", mask: np.ndarray | None = None,
                 diagonal: np.ndarray | None = None) -> Operand:
    """The GEMV operand csimd runs for these weights: block-sparse when there is a mask (16x1
    float32, bf16 or fp16, 8x4 int8), else dense; int8 with the variant's scheme."""
    sparse = mask is not None
    if precision == "int8":
        return prepare_sparse8x4_int8(kernels, weights, mask, diagonal) if sparse else prepare_int8(kernels, weights)
    if precision in _HALF:
        dense, sparse16 = _HALF[precision]
        return sparse16(kernels, weights, mask, diagonal) if sparse else dense(kernels, weights)
    if precision == "float32":
        return prepare_sparse16_from_dense(kernels, weights, mask, diagonal) if sparse else pack_dense(kernels, weights)
    raise ValueError(f"csimd has no {precision!r} kernels; precisions: {', '.join(PRECISIONS)}")


# ---- the call ----

_F32 = np.dtype(np.float32)


class AddressBook:
    """The data addresses of the arrays a call was handed, each checked once per array object.

    `a.ctypes.data` costs many times a bare ctypes call; a known array costs a dict lookup and a shape and dtype
    check. The book holds the arrays, so an id it knows is never reused by another array.
    """

    __slots__ = ("_known",)

    def __init__(self) -> None:
        self._known: dict[int, tuple[np.ndarray, int]] = {}

    def of(self, a: np.ndarray, shape: tuple[int, ...], name: str) -> int:
        """The address of `a`, refused with a ValueError unless a C-contiguous float32 array of `shape`."""
        hit = self._known.get(id(a))
        if hit is not None and hit[0] is a and a.shape == shape and a.dtype is _F32:
            return hit[1]
        if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != _F32 or not a.flags.c_contiguous:
            strided = isinstance(a, np.ndarray) and not a.flags.c_contiguous
            raise ValueError(f"{name} must be a C-contiguous float32 array of shape {shape}, got "
                             f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}"
                             f"{' (not C-contiguous)' if strided else ''}")
        if len(self._known) >= ADDRESS_CACHE:
            self._known.clear()
        self._known[id(a)] = (a, a.ctypes.data)
        return self._known[id(a)][1]


class Call:
    """An operand bound to the x and y its next call gets: a gb_call, and one pointer to it.

    Mutable on purpose: it records the arrays it is bound to, so the measured call only
    compares identities (`run`), and rebinds when a harness hands it other arrays.
    """

    __slots__ = ("operand", "block", "state", "addresses")

    def __init__(self, operand: Operand):
        self.operand = operand
        self.block = CallBlock(operand.product, 1, None, None, 0)
        # What the measured call needs, in one tuple: one attribute load and an unpack cost
        # less than four attribute loads (docs/csimd.md, "The call path").
        self.state = (operand.kernels.fast.gb_call_run, ctypes.pointer(self.block), None, None)
        self.addresses = AddressBook()

    def bind(self, x: np.ndarray, y: np.ndarray) -> None:
        """Check x and y (refusing them with a ValueError) and point the gb_call at them."""
        a = self.operand
        batch = a.batched and getattr(x, "ndim", 0) == 2
        n = x.shape[1] if batch else 1
        if n < 1:
            raise ValueError(f"X must be (k, n) with n >= 1, got shape {x.shape}")
        x_at = self.addresses.of(x, (a.k, n) if batch else (a.k,), "X" if batch else "x")
        y_at = self.addresses.of(y, (a.m, n) if batch else (a.m,), "Y" if batch else "y")
        self.block.x, self.block.y, self.block.n = x_at, y_at, n  # only once both are checked
        self.state = (*self.state[:2], x, y)

    def caller(self) -> Callable[[], None]:
        """This call as it stands bound, as a callable of no arguments: the C function and its one
        pointer in a functools.partial, so calling it runs no Python frame (docs/csimd.md)."""
        fn, arg, x, _ = self.state
        if x is None:
            raise ValueError("bind x and y before making a caller")
        call = functools.partial(fn, arg)
        call.bound = self  # the arrays its pointer points into stay alive with it
        return call


def bind(operand: Operand, x: np.ndarray | None = None, y: np.ndarray | None = None) -> Call:
    """A call of `operand`, bound to x and y when given (else at its first run)."""
    call = Call(operand)
    if x is not None:
        call.bind(x, y)
    return call


def run(call: Call, x: np.ndarray, y: np.ndarray) -> None:
    """y = A x: the measured call. Other arrays than last time are checked and bound first."""
    fn, arg, bound_x, bound_y = call.state
    if x is not bound_x or y is not bound_y:
        call.bind(x, y)
    fn(arg)


def run_time(call: Call, x: np.ndarray, y: np.ndarray, loops: int) -> int:
    """The same call `loops` times inside C (alternating as the Python calls do); elapsed ns."""
    _, arg, bound_x, bound_y = call.state
    if x is not bound_x or y is not bound_y:
        call.bind(x, y)
    return call.operand.kernels.lib.gb_call_time(arg, loops)


def run_clocks(call: Call, x: np.ndarray, y: np.ndarray, loops: int) -> Clocks:
    """run_time, with the thread's CPU time and involuntary context switches read in C around the
    same loop (gemmbench.measure.timing.Clocks: an int of the wall ns)."""
    _, arg, bound_x, bound_y = call.state
    if x is not bound_x or y is not bound_y:
        call.bind(x, y)
    clocks = (ctypes.c_int64 * 3)()
    call.operand.kernels.lib.gb_call_sample(arg, loops, clocks)
    return Clocks(*clocks)


def bare_call_loop(variant: str = "scalar") -> Loop:
    """The floor under csimd's Python call: a timing loop, shaped like gemmbench.measure.timing.python_loop,
    of the bare one-argument ctypes call of a C function that does nothing (gb_noop), made the
    way `Call.caller` makes its call (a functools.partial of a PyDLL function object of the same
    library and a ready ctypes pointer to a gb_call).
    A row's call overhead (Python median - native median) over this loop's time per call says
    what the wrapper adds above what any one-argument ctypes call costs."""
    noop, arg = load_kernels(variant).fast.gb_noop, ctypes.pointer(CallBlock())
    return python_loop(functools.partial(noop, arg))
