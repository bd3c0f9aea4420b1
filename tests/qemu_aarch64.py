"""csimd's aarch64 levels on an x86 host: cross-built, run under user-mode emulation (qemu-aarch64).

The library is the one an aarch64 machine would build: gemmbench.machine.native compiles csimd's
sources with the level's flags from gemmbench.machine.isa, only the compiler is the cross compiler.
A small C driver (aarch64/image_driver.c) dlopens it under qemu and runs "images": a gb_call or
gb_lpcnet struct exactly as the Python side prepared it (kernels.py, lpcnet.py: packed with the
same C packing functions, built for this host) with every array it points into, pointers
relocated. The int8 facts of the target (weight range, activation offset) come from the target
library itself (`Target.info`), so the Python side quantizes as it would on the target.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import shutil
import struct
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from gemmbench.backends.csimd import kernels as K
from gemmbench.backends.csimd import lpcnet
from gemmbench.machine import isa, native

NATIVE = isa.host_arch() == "aarch64"  # then the library is built and disassembled by the machine's own tools
CROSS_CC = "aarch64-linux-gnu-gcc"
OBJDUMP = "objdump" if NATIVE else "aarch64-linux-gnu-objdump"
QEMU = "qemu-aarch64"
SYSROOT = "/usr/aarch64-linux-gnu"  # the cross libc the dynamically linked driver loads under qemu
INSTALL = "apt-get install -y gcc-aarch64-linux-gnu qemu-user"
LEVELS = ("scalar", "neon", "neon-dotprod")
DRIVER_SOURCE = Path(__file__).resolve().parent / "aarch64" / "image_driver.c"
RUN_TIMEOUT = 300  # seconds for one qemu run of many images


def missing_tools() -> str:
    """Why the emulated tests (or, on aarch64, the disassembly) cannot run here ('' when they can),
    with the line that installs what is missing."""
    if NATIVE:
        return "" if shutil.which(OBJDUMP) else "objdump missing: apt-get install -y binutils"
    missing = [tool for tool in (CROSS_CC, OBJDUMP, QEMU) if shutil.which(tool) is None]
    if not missing and not Path(SYSROOT).is_dir():
        missing = [SYSROOT]
    return f"{', '.join(missing)} missing: {INSTALL}" if missing else ""


@contextmanager
def _cross_compiler() -> Iterator[None]:
    saved = os.environ.get("CC")
    os.environ["CC"] = CROSS_CC
    try:
        yield
    finally:
        if saved is None:
            del os.environ["CC"]
        else:
            os.environ["CC"] = saved


def build_library(level: str, sources: Sequence[Path] | None = None, name: str = "csimd") -> Path:
    """csimd's library (or other sources) for `level`, built by gemmbench.machine.native (cached like any
    build): with the cross compiler here, with the machine's own on aarch64."""
    sources = K.sources() if sources is None else sources
    if NATIVE:
        return native.build(sources, level, name=name)
    with _cross_compiler():
        return native.build(sources, level, name=f"{name}-aarch64")


def build_driver(directory: Path) -> Path:
    path = directory / "image_driver"
    if not path.exists():
        subprocess.run([CROSS_CC, "-O2", "-std=c11", "-Wall", "-Werror", str(DRIVER_SOURCE), "-o", str(path), "-ldl"],
                       check=True, capture_output=True, text=True)
    return path


@dataclass(frozen=True)
class Info:
    """What the target library says of itself (image_driver LIB info)."""

    isa: str
    abi: int
    int8_range: tuple[int, int]
    int8_act_offset: int
    bf16_rounds_activations: bool
    layouts: dict[str, tuple[int, list[tuple[str, int, int]]]]  # struct -> (size, [(field, offset, size)])


def parse_info(text: str) -> Info:
    values: dict[str, list[str]] = {}
    layouts: dict[str, tuple[int, list[tuple[str, int, int]]]] = {}
    for line in text.splitlines():
        key, *rest = line.split()
        if key == "struct":
            layouts[rest[0]] = (int(rest[1]), [])
        elif key == "field":
            layouts[rest[0]][1].append((rest[1], int(rest[2]), int(rest[3])))
        else:
            values[key] = rest
    return Info(values["isa"][0], int(values["abi"][0]), (int(values["int8_range"][0]), int(values["int8_range"][1])),
                int(values["int8_act_offset"][0]), values["bf16_rounds_activations"][0] == "1", layouts)


@dataclass(frozen=True)
class Target:
    """One aarch64 level: its cross-built library, the driver, and what the library says of itself."""

    level: str
    library: Path
    driver: Path
    info: Info

    def command(self, cpu: str, *args: str) -> list[str]:
        return [QEMU, "-L", SYSROOT, "-cpu", cpu, str(self.driver), str(self.library), *args]

    @functools.cached_property
    def packer(self) -> K.Kernels:
        """This host's scalar build (its C packing functions are the target's: no ISA in them) with
        the target's int8 facts, so kernels.py prepares operands as it would on the target."""
        return dataclasses.replace(K.load_kernels("scalar"), variant=self.level, int8_range=self.info.int8_range,
                                   int8_act_offset=self.info.int8_act_offset,
                                   bf16_rounds_activations=self.info.bf16_rounds_activations)


def make_target(level: str, directory: Path, cpu: str = "max") -> Target:
    library, driver = build_library(level), build_driver(directory)
    probe = Target(level, library, driver, None)  # type: ignore[arg-type]
    out = subprocess.run(probe.command(cpu, "info"), capture_output=True, text=True, timeout=RUN_TIMEOUT, check=True)
    return dataclasses.replace(probe, info=parse_info(out.stdout))


# ---- images: a struct, every array it points into, and where its pointers go ----

CALL, LPCNET = 0, 1


@dataclass(frozen=True)
class Image:
    entry: int
    args: tuple[int, int]
    block: bytes
    blobs: tuple[np.ndarray, ...]
    relocations: tuple[tuple[int, int, int], ...]  # (field offset, blob, offset in blob)
    source: int  # blob of x (lpcnet, read at the first sample), -1 for none
    output: int  # blob written out after each run
    runs: int  # how many outputs the driver writes

    def encode(self) -> bytes:
        def run(data: bytes) -> bytes:
            return struct.pack("<q", len(data)) + data + b"\0" * (-len(data) % 8)
        parts = [b"GBIMAGE1", struct.pack("<3q", self.entry, *self.args), run(self.block),
                 struct.pack("<q", len(self.blobs)), *(run(b.tobytes()) for b in self.blobs),
                 struct.pack("<q", len(self.relocations)), *(struct.pack("<3q", *r) for r in self.relocations),
                 struct.pack("<2q", self.source, self.output)]
        return b"".join(parts)


def _pointer_offsets(struct_type: type[ctypes.Structure], base: int = 0) -> Iterator[int]:
    for name, ctype in struct_type._fields_:
        offset = base + getattr(struct_type, name).offset
        if ctype is ctypes.c_void_p:
            yield offset
        elif isinstance(ctype, type) and issubclass(ctype, ctypes.Structure):
            yield from _pointer_offsets(ctype, offset)


def _relocate(block: ctypes.Structure, arrays: Sequence[np.ndarray]) -> tuple[tuple[int, int, int], ...]:
    """Each non-null pointer of `block` as (field offset, index of the array it points into, offset in it)."""
    raw = bytes(block)
    relocations = []
    for at in _pointer_offsets(type(block)):
        (address,) = struct.unpack_from("<Q", raw, at)
        if not address:
            continue
        owner = [(i, address - a.ctypes.data) for i, a in enumerate(arrays) if 0 <= address - a.ctypes.data < a.nbytes]
        if not owner:
            raise ValueError(f"pointer at offset {at} of {type(block).__name__} points into none of the arrays")
        relocations.append((at, *owner[0]))
    return tuple(relocations)


def _unique(arrays: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    seen: dict[int, np.ndarray] = {}
    for a in arrays:
        if a is not None and a.nbytes:
            seen.setdefault(id(a), a)
    return list(seen.values())


def call_image(call: K.Call, x: np.ndarray, y: np.ndarray, runs: int = 2) -> Image:
    """`runs` calls of gb_call_run on a bound call (two: forwards, then backwards past 32 KiB)."""
    call.bind(x, y)
    arrays = _unique([*call.operand.arrays, x, y])
    return Image(CALL, (runs, 0), bytes(call.block), tuple(arrays), _relocate(call.block, arrays), -1,
                 next(i for i, a in enumerate(arrays) if a is y), runs)


def step_image(step: lpcnet.LpcnetStep, x: np.ndarray, out: np.ndarray) -> Image:
    """The whole fused step from x into out, one gb_lpcnet_step per sample as lpcnet.run makes them."""
    arrays = _unique([*(a for p in step.products.values() for a in p.arrays), *step.arrays.values(), x, out])
    index = {id(a): i for i, a in enumerate(arrays)}
    return Image(LPCNET, (step.dims.start, step.dims.steps), bytes(step.net), tuple(arrays),
                 _relocate(step.net, arrays), index[id(x)], index[id(out)], 1)


def run_images(target: Target, images: Sequence[Image], cpu: str = "max") -> list[list[np.ndarray]]:
    """Every image under qemu in one process; per image its outputs (float32, one per run)."""
    with tempfile.TemporaryDirectory(prefix="gb-qemu-") as tmp:
        args = []
        for i, image in enumerate(images):
            path = Path(tmp) / f"{i}.img"
            path.write_bytes(image.encode())
            args += [str(path), str(Path(tmp) / f"{i}.out")]
        subprocess.run(target.command(cpu, "run", *args), check=True, capture_output=True, timeout=RUN_TIMEOUT)
        outputs = []
        for i, image in enumerate(images):
            data = np.fromfile(Path(tmp) / f"{i}.out", dtype=np.float32)
            outputs.append(list(data.reshape(image.runs, -1)))
        return outputs


def disassembly(library: Path) -> dict[str, list[tuple[str, str]]]:
    """objdump -d of a library: per function, its instructions as (mnemonic, the symbol a branch goes to or '')."""
    text = subprocess.run([OBJDUMP, "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True,
                          check=True).stdout
    functions: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in text.splitlines():
        if line.endswith(">:"):
            current = functions.setdefault(line.split("<", 1)[1][:-2], [])
        elif current is not None and line.count("\t") >= 1 and line.split("\t")[1].strip():
            instruction = line.split("\t", 1)[1]
            target = instruction.split("<", 1)[1].split(">", 1)[0].split("+", 1)[0] if "<" in instruction else ""
            current.append((instruction.split()[0], target))
    return functions


def reachable_mnemonics(functions: dict[str, list[tuple[str, str]]], entry: str) -> set[str]:
    """The mnemonics of `entry` and of every function of the library it branches or calls to, transitively."""
    seen, todo, mnemonics = set(), [entry], set()
    while todo:
        name = todo.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        for mnemonic, target in functions[name]:
            mnemonics.add(mnemonic)
            if target and target != name:
                todo.append(target)
    return mnemonics
