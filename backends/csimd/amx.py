"""AMX tile GEMM operands (amx.c): int8 and bf16 weights packed into tiles for Y (m x n) = W X.

    kern = load_kernels("amx-int8")
    a = prepare_gemm(kern, W, "int8")    # untimed: quantize, pack into 16 x 64-byte tiles
    call = bind(a, X, Y)                 # X (k, n), Y (m, n) float32; then run / run_time as any operand

Each precision has its own ISA level (`LEVELS`): amx-int8 (tdpbsud) and amx-bf16 (tdpbf16ps);
they run the batched GEMM only. Linux hands out the tile state on request: `refusal` asks for
it (gb_amx_permission, once per process) and says why not when the kernel says no; nothing
prepares an AMX operand before the answer was yes, so a refusal never becomes a SIGILL.

int8: the scheme of the dense int8 kernels with 8-bit weights (w127-row-u8off), activations
quantized inside each call; every column of Y equals `quant.int8_gemv_reference` of that column
of X, bit for bit (`int8_reference`). bf16: weights rounded bit-exactly as `quant.round_bf16`,
activations rounded to bf16 inside the call, sums in float32 (`bf16_reference` is the float64
product of the same roundings).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from gemmbench.backends.csimd import kernels as K
from gemmbench.cases.workload import aligned_empty
from gemmbench.formats import quant
from gemmbench.machine import isa

LEVELS = {"int8": "amx-int8", "bf16": "amx-bf16"}  # the ISA level of each precision's tiles


def is_amx_level(level: str) -> bool:
    return "amx_tile" in isa.get(level).cpu_flags


def refusal(kernels: K.Kernels) -> str:
    """'' when this process may run the AMX kernels of `kernels`, else why not."""
    code = kernels.lib.gb_amx_permission()
    if code == 0:
        return ""
    if code < 0:
        return f"the {kernels.variant} library was built without AMX tile instructions"
    return (f"Linux refused the AMX tile state: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) failed: "
            f"{os.strerror(code)}")


@dataclass(frozen=True, eq=False)
class AmxOperand(K.Operand):
    """Weights in AMX tiles: the batched product Y = W X."""

    batched: ClassVar[bool] = True


@dataclass(frozen=True, eq=False)
class AmxInt8(AmxOperand):
    kind: ClassVar[str] = "amx_int8"
    precision: ClassVar[str] = "int8"
    kernel: ClassVar[str] = "amx_int8_gemm"
    quantized: quant.QuantizedWeights = field(default=None, repr=False)

    @property
    def scheme(self) -> quant.QuantScheme:
        return self.quantized.scheme


@dataclass(frozen=True, eq=False)
class AmxBf16(AmxOperand):
    kind: ClassVar[str] = "amx_bf16"
    precision: ClassVar[str] = "bf16"
    kernel: ClassVar[str] = "amx_bf16_gemm"
    rounded: np.ndarray = field(default=None, repr=False)  # uint16 (m, k): the weights as bf16


def _check(kernels: K.Kernels, precision: str) -> None:
    level = LEVELS[precision]
    if kernels.variant != level:
        raise ValueError(f"AMX {precision} tiles need the {level} library, not {kernels.variant}")
    reason = refusal(kernels)
    if reason:
        raise RuntimeError(reason)


def _tiles(kernels: K.Kernels, kind: str, values: np.ndarray) -> np.ndarray:
    """int8 or bf16 (uint16) weights packed into tiles (gb_amx_pack)."""
    m, k = K._shape(values)
    v, code = np.ascontiguousarray(values), K.KINDS.index(kind)
    packed = aligned_empty(kernels.lib.gb_amx_packed_bytes(code, m, k), np.uint8)
    kernels.lib.gb_amx_pack(code, v.ctypes.data, m, k, packed.ctypes.data)
    return packed


def prepare_amx_int8(kernels: K.Kernels, weights: np.ndarray) -> AmxInt8:
    _check(kernels, "int8")
    qw = quant.quantize_weights(weights, kernels.int8_scheme)
    m, k = qw.q.shape
    return K._operand(AmxInt8, kernels, m, k, w=_tiles(kernels, AmxInt8.kind, qw.q),
                      act=K._scratch(kernels, AmxInt8.kind, k), quantized=qw, **K._int8_rows(kernels, qw))


def prepare_amx_bf16(kernels: K.Kernels, weights: np.ndarray) -> AmxBf16:
    _check(kernels, "bf16")
    rounded = K.round_bf16(kernels, weights)
    m, k = K._shape(rounded)
    return K._operand(AmxBf16, kernels, m, k, w=_tiles(kernels, AmxBf16.kind, rounded),
                      act=K._scratch(kernels, AmxBf16.kind, k), rounded=rounded)


def prepare_gemm(kernels: K.Kernels, weights: np.ndarray, precision: str) -> AmxInt8 | AmxBf16:
    """The AMX operand of `precision` ('int8' or 'bf16'); `kernels` must be that precision's level."""
    prepare = {"int8": prepare_amx_int8, "bf16": prepare_amx_bf16}.get(precision)
    if prepare is None:
        raise ValueError(f"the AMX kernels take int8 or bf16, not {precision!r}")
    return prepare(kernels, weights)


def int8_reference(a: AmxInt8, x: np.ndarray) -> np.ndarray:
    """What the int8 kernel returns, bit for bit: quant's GEMV reference, one column of X at a time."""
    return K.int8_reference(a, x)
