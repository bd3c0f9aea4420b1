"""Arrays read from a model's files: .npy, .npz, safetensors and PyTorch state dicts.

A suite names an array as `file:key` (`models/lpcnet.npz:gru_a_recurrent`; a .npy file has no
key) or as a mapping {file, key, transpose}. `resolve` turns that into an `ArrayRef`: the
absolute path, the key, and the SHA-256 of the file as it was when the suite was read. The
ref is all that travels to a worker (as JSON, inside the case's spec); `load` reads the array
there and refuses a file whose SHA-256 has changed since.

Every problem is one line (`ArrayFileError`): a missing file or key (the keys present
listed), an array that is not 2-D, holds NaN or Inf, or, judged from the file's headers before
any data is read, is empty, would not fit in memory, promises more data than the file holds, or
is compressed so far (more than MAX_EXPANSION:1) that reading it would cost far more than the
file's size says; and pickles, which are never unpickled:
.npy/.npz are read with allow_pickle=False and an object array is refused from its header;
a .pkl is refused outright; a PyTorch file goes through torch.load(weights_only=True), which
rebuilds tensors and refuses any other object.

safetensors is read here with numpy alone (an 8-byte header length, a JSON header of names,
dtypes, shapes and byte offsets, then the raw little-endian data): the format is small and
fully specified, so reading it needs neither the `safetensors` package nor torch. The tests
check this reader against files the `safetensors` package writes.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import math
import os
import stat
import struct
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gemmbench.data import filekind

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_MAGIC = b"\x80"
TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
PICKLE_SUFFIXES = (".pkl", ".pickle")
FORMATS = ".npy, .npz, .safetensors, PyTorch state dicts (.pt, .pth, .bin, .ckpt)"
SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "bf16",
                      "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}
FLOAT64_COPIES = 3  # the array as read, as float64, and one backend's copy: sizing for the memory check
# A compressed member may expand this many times over the bytes it takes in the file, once it is
# larger than EXPANSION_FLOOR: past that, reading it would cost far more than the file's size says
# (a 1.5 MB .npz can hold 1.6 GB of zeros). Pruned weights compress a few times to a few tens.
MAX_EXPANSION = 64
EXPANSION_FLOOR = 64 << 20
SHOWN_KEYS = 12  # keys listed in a 'no such key' message


class ArrayFileError(ValueError):
    """A file or array that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class Entry:
    """An array as a file's header describes it, before anything is loaded."""

    shape: tuple[int, ...]
    dtype: str  # numpy's name, or 'bfloat16'

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    def text(self) -> str:
        return "x".join(map(str, self.shape)) + f" {self.dtype}" if self.shape else f"scalar {self.dtype}"


@dataclass(frozen=True)
class ArrayRef:
    """One array of one file, as a case names it: hashable, and JSON through asdict/from_dict."""

    path: str  # absolute
    key: str = ""  # '' for a .npy file
    transpose: bool = False
    sha256: str = ""  # of the whole file when the suite was read
    given: str = ""  # the file as the suite wrote it (relative to the suite)

    @property
    def source(self) -> str:
        """'models/lpcnet.npz:gru_a_recurrent' (+ ' transposed'): what a row names as its data."""
        name = self.given or self.path
        return name + (f":{self.key}" if self.key else "") + (" transposed" if self.transpose else "")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "ArrayRef | None":
        """The ref back from its JSON form; ValueError for one that is not (a results file is input too)."""
        if not data:
            return None
        ref = cls(**data)
        if not all(isinstance(v, str) for v in (ref.path, ref.key, ref.sha256, ref.given)) or \
                not isinstance(ref.transpose, bool):
            raise ValueError(f"not a file reference: {data!r:.120}")
        return ref


# ---------------------------------------------------------------- naming an array

def parse(value: Any, base: Path) -> ArrayRef:
    """'file', 'file:key' or {file, key, transpose}, its path relative to `base`; not yet hashed."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"file", "key", "transpose"})
        if unknown:
            raise ArrayFileError(f"unknown key '{unknown[0]}' in the mapping; it takes file, key, transpose")
        file, key, transpose = value.get("file"), value.get("key", ""), value.get("transpose", False)
        if not isinstance(file, str) or not file or not isinstance(key, (str, int)) or not isinstance(transpose, bool):
            raise ArrayFileError("a mapping needs file (a path), and optionally key (a name) and transpose "
                                 "(true or false)")
        return ArrayRef(str(_absolute(file, base)), str(key), transpose, given=file)
    if not isinstance(value, str) or not value:
        raise ArrayFileError("must be FILE, FILE:KEY or a mapping {file, key, transpose}")
    whole = _absolute(value, base)
    file, sep, key = value.rpartition(":")
    if _is_file(whole) or not sep or not file:
        return ArrayRef(str(whole), given=value)
    return ArrayRef(str(_absolute(file, base)), key, given=file)


def _is_file(path: Path) -> bool:
    """Path.is_file(), False too for a path the file system refuses to look up (a name too long)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _absolute(file: str, base: Path) -> Path:
    path = Path(file).expanduser()
    if path.is_absolute():
        return path
    try:
        return (base / path).resolve()
    except (OSError, RuntimeError):  # a loop of symbolic links: reading it says so
        return Path(os.path.abspath(base / path))


def resolve(ref: ArrayRef) -> ArrayRef:
    """The ref with its file's SHA-256, after checking the file is there and of a known format."""
    _kind(Path(ref.path))
    return ArrayRef(ref.path, ref.key, ref.transpose, sha256(ref.path), ref.given)


def sha256(path: str | os.PathLike) -> str:
    stat = os.stat(path)
    return _sha256(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def changed(ref: ArrayRef) -> str:
    """Why the file is no longer the one the ref was made from ('' when it still is)."""
    if not os.path.isfile(ref.path):
        return f"{ref.given or ref.path}: the file is gone"
    now = sha256(ref.path)
    if ref.sha256 and now != ref.sha256:
        return (f"{ref.given or ref.path}: the file changed since the run started (SHA-256 "
                f"{ref.sha256[:12]}... then, {now[:12]}... now)")
    return ""


# ---------------------------------------------------------------- what a file holds

def _kind(path: Path) -> str:
    """npy, npz, safetensors or torch; ArrayFileError for a missing, unreadable or pickled file."""
    name = path.name
    problem = _not_a_file(path)
    if problem:
        raise ArrayFileError(f"{name}: {problem}")
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise ArrayFileError(f"{name}: a Python pickle; refused (unpickling runs code): save the arrays "
                             f"as {FORMATS}")
    if suffix == ".safetensors":
        return "safetensors"
    if suffix in TORCH_SUFFIXES:
        return "torch"
    try:
        with open(path, "rb") as handle:
            magic = handle.read(8)
    except OSError as exc:
        raise ArrayFileError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if magic.startswith(NPY_MAGIC):
        return "npy"
    if magic.startswith(ZIP_MAGIC):
        if not _zip_holds_pickle(path):
            return "npz"
        if suffix == ".npz":  # what torch.save writes, under a name that promises .npy arrays
            raise ArrayFileError(f"{name}: a zip holding a Python pickle (data.pkl, as torch.save writes), not the "
                                 f".npy arrays an .npz holds; refused (unpickling runs code); a PyTorch state dict "
                                 f"is read from a .pt, .pth, .bin or .ckpt file")
        return "torch"
    if magic.startswith(PICKLE_MAGIC):
        raise ArrayFileError(f"{name}: a Python pickle; refused (unpickling runs code): save the arrays "
                             f"as {FORMATS}")
    raise ArrayFileError(f"{name}: not a file format gemmbench reads; it reads {FORMATS}")


def _not_a_file(path: Path) -> str:
    """Why `path` is not a regular file to read ('' when it is); never opens it (a FIFO would block)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"no such file ({path})"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"a loop of symbolic links ({path})"
        return f"cannot be read: {exc.strerror or exc} ({path})"
    if not stat.S_ISREG(mode):
        return f"is {filekind.describe(mode)}, not a file of arrays ({path})"
    return ""


def _zip_holds_pickle(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith("data.pkl") for n in archive.namelist())
    except Exception:  # not a zip gemmbench can read: the npz reader says how it is damaged
        return False


def contents(path: str | os.PathLike) -> dict[str, Entry]:
    """Every array in the file by key ('' for a .npy), from headers only."""
    path = Path(path)
    kind = _kind(path)
    try:
        return _READERS[kind][0](path)
    except ArrayFileError:
        raise
    except RecursionError:
        raise ArrayFileError(f"{path.name}: damaged {kind} file (its header is nested too deeply)") from None
    except Exception as exc:  # zipfile, numpy and json raise more kinds than they document, on damaged files
        raise ArrayFileError(f"{path.name}: damaged {kind} file ({_brief(exc)})") from None


def _brief(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:160]


def _npy_header(handle, name: str, stored: int) -> Entry:
    """The array's header; `stored`: the bytes the file holds for it, header included, which must hold
    all the data the header promises (a header may claim any shape)."""
    try:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(handle)  # the header only: nothing is loaded or unpickled
    except (OSError, zipfile.BadZipFile):
        raise
    except Exception as exc:  # numpy parses the header as Python literals: any parser error may come out
        raise ArrayFileError(f"{name}: damaged .npy header ({_brief(exc)})") from None
    if dtype.hasobject:
        raise ArrayFileError(f"{name}: holds Python objects (a pickle inside the array); refused: only "
                             f"numeric arrays are read")
    _check_fits(math.prod(shape), name)  # first: of a huge promise, what the case could never hold says more
    promised = handle.tell() + math.prod(shape) * dtype.itemsize
    if promised > stored:
        raise ArrayFileError(f"{name}: its header promises a {'x'.join(map(str, shape))} {dtype.name} array "
                             f"({promised:,} bytes with the header) but only {stored:,} bytes are there")
    return Entry(tuple(shape), dtype.name)


def _npy_contents(path: Path) -> dict[str, Entry]:
    with open(path, "rb") as handle:
        return {"": _npy_header(handle, path.name, os.fstat(handle.fileno()).st_size)}


def _npz_contents(path: Path) -> dict[str, Entry]:
    entries = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[:-4]
            _check_expansion(info, f"{path.name}:{key}")
            with archive.open(info) as handle:
                entries[key] = _npy_header(handle, f"{path.name}:{key}", info.file_size)
    return entries


def _check_expansion(info: zipfile.ZipInfo, what: str) -> None:
    """Refuse a zip member whose data would expand far beyond what it takes in the file, from the zip's
    directory alone (nothing is decompressed)."""
    if info.file_size > EXPANSION_FLOOR and info.file_size > MAX_EXPANSION * max(info.compress_size, 1):
        raise ArrayFileError(f"{what}: its {info.file_size / 2**20:,.0f} MiB of data are compressed "
                             f"{info.file_size / max(info.compress_size, 1):,.0f}:1 into "
                             f"{info.compress_size / 2**20:,.1f} MiB; more than {MAX_EXPANSION}:1 is refused "
                             f"before reading (it would take far longer than the file's size says): save it "
                             f"uncompressed (np.savez, not np.savez_compressed)")


def _safetensors_header(path: Path) -> tuple[dict, int]:
    """(the JSON header, the offset of the data) of a safetensors file."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        raw = handle.read(8)
        if len(raw) < 8:
            raise ArrayFileError(f"{path.name}: too short for a safetensors file")
        length = struct.unpack("<Q", raw)[0]
        if length > size - 8:
            raise ArrayFileError(f"{path.name}: not a safetensors file (its header claims {length} bytes)")
        header = json.loads(handle.read(length))
    if not isinstance(header, dict):
        raise ArrayFileError(f"{path.name}: not a safetensors file (its header is not a JSON object)")
    return header, 8 + length


def _safetensors_contents(path: Path) -> dict[str, Entry]:
    header, data_start = _safetensors_header(path)
    size = path.stat().st_size
    entries = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        dtype, shape, (begin, end) = info["dtype"], tuple(int(d) for d in info["shape"]), info["data_offsets"]
        if dtype not in SAFETENSORS_DTYPES:
            raise ArrayFileError(f"{path.name}:{key}: dtype {dtype} is not read (it reads "
                                 f"{', '.join(SAFETENSORS_DTYPES)})")
        itemsize = 2 if dtype == "BF16" else np.dtype(SAFETENSORS_DTYPES[dtype]).itemsize
        if end - begin != math.prod(shape) * itemsize or data_start + end > size or begin < 0:
            raise ArrayFileError(f"{path.name}:{key}: its byte range [{begin}, {end}) does not hold a "
                                 f"{'x'.join(map(str, shape))} {dtype} array inside the file")
        entries[key] = Entry(shape, "bfloat16" if dtype == "BF16" else np.dtype(SAFETENSORS_DTYPES[dtype]).name)
    return entries


def _torch_contents(path: Path) -> dict[str, Entry]:
    _check_torch_size(path)
    return {key: Entry(tuple(t.shape), str(t.dtype).removeprefix("torch.")) for key, t in _torch_tensors(path).items()}


def _check_torch_size(path: Path) -> None:
    """A PyTorch zip's tensor storages are its data/ members: their sizes are known before loading."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [i for i in archive.infolist() if "/data/" in i.filename]
            for member in members:
                _check_expansion(member, f"{path.name}:{member.filename}")
            stored = sum(i.file_size for i in members)
    except zipfile.BadZipFile:  # the legacy format: the file itself is the measure
        stored = path.stat().st_size
    _check_fits(stored // 2, path.name)  # at least 2 bytes an element (bf16/fp16): the most elements it can hold


def _torch_module(name: str):
    try:
        import torch
    except ImportError:
        raise ArrayFileError(f"{name}: a PyTorch file, and reading one needs torch (pip install 'gemmbench[torch]'); "
                             f"or save the arrays as .npy, .npz or .safetensors") from None
    return torch


@functools.lru_cache(maxsize=2)
def _torch_tensors_cached(path: str, mtime_ns: int, size: int) -> dict:
    torch = _torch_module(Path(path).name)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses any object but tensors and plain containers
        raise ArrayFileError(f"{Path(path).name}: torch.load(weights_only=True) refused it ({_brief(exc)[:120]}); "
                             f"only state dicts of tensors are read") from None
    tensors: dict = {}
    _flatten(loaded, "", tensors, torch.Tensor)
    return tensors


def _torch_tensors(path: Path) -> dict:
    stat = path.stat()
    return _torch_tensors_cached(str(path), stat.st_mtime_ns, stat.st_size)


def _flatten(value: Any, prefix: str, into: dict, tensor_type: type) -> None:
    """Tensors of a state dict, nested dicts (a checkpoint's 'model') joined with '/'."""
    if isinstance(value, tensor_type):
        into[prefix] = value
    elif isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}/{key}" if prefix else str(key), into, tensor_type)


# ---------------------------------------------------------------- loading

def _check_fits(elements: int, what: str) -> None:
    """Refuse an array that would not fit in the memory a case may take (before loading it)."""
    from gemmbench.cases.suite import MEMORY_SHARE
    from gemmbench.machine.fingerprint import physical_memory

    needed = elements * 8 * FLOAT64_COPIES
    limit = physical_memory() * MEMORY_SHARE
    if needed > limit:
        raise ArrayFileError(f"{what}: {elements:,} elements need {needed / 2**30:.1f} GiB as float64, more "
                             f"than the {limit / 2**30:.1f} GiB this machine can give a case")


def entry(ref: ArrayRef) -> Entry:
    """The header of the ref's array; ArrayFileError naming the keys present when it has no such key."""
    found = contents(ref.path)
    name = Path(ref.path).name
    if ref.key in found:
        return found[ref.key]
    if not ref.key:
        raise ArrayFileError(f"{name} holds {len(found)} arrays; name one as {name}:KEY "
                             f"({_keys_text(found)})")
    if not found:
        raise ArrayFileError(f"{name} holds no arrays")
    return _missing_key(name, ref.key, found)


def _missing_key(name: str, key: str, found: dict[str, Entry]):
    from gemmbench.cases.fields import did_you_mean

    raise ArrayFileError(f"{name} has no array '{key}'{did_you_mean(key, list(found))}; it holds: "
                         f"{_keys_text(found)}")


def _keys_text(found: dict[str, Entry]) -> str:
    shown = [f"{key} ({e.text()})" for key, e in list(found.items())[:SHOWN_KEYS]]
    more = len(found) - SHOWN_KEYS
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def load(ref: ArrayRef, ndims: tuple[int, ...] = (2,)) -> np.ndarray:
    """The array as float64 (transposed when the ref says so), read-only.

    Checks, each a one-line ArrayFileError: the file unchanged since `resolve` (when the ref
    has a SHA-256), the key, the number of dimensions, the size against memory (from the
    header), a floating-point dtype, and finite values."""
    if ref.sha256:
        problem = changed(ref)
        if problem:
            raise ArrayFileError(problem)
    what = f"{Path(ref.path).name}" + (f":{ref.key}" if ref.key else "")
    head = entry(ref)
    if len(head.shape) not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        raise ArrayFileError(f"{what}: shape {head.shape} is {len(head.shape)}-D; it must be {want}")
    if head.elements == 0:
        raise ArrayFileError(f"{what}: shape {head.shape} holds no values; every dimension must be at least 1")
    _check_fits(head.elements, what)
    stat = os.stat(ref.path)
    return _load_cached(ref.path, ref.key, ref.transpose, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, key: str, transpose: bool, mtime_ns: int, size: int) -> np.ndarray:
    kind = _kind(Path(path))
    what = f"{Path(path).name}" + (f":{key}" if key else "")
    try:
        raw = _READERS[kind][1](Path(path), key)
    except ArrayFileError:
        raise
    except RecursionError:
        raise ArrayFileError(f"{what}: cannot read the array (its header is nested too deeply)") from None
    except Exception as exc:  # as in contents(): damaged files raise what their parsers happen to raise
        raise ArrayFileError(f"{what}: cannot read the array ({_brief(exc)})") from None
    if raw.dtype.kind not in "fc":
        raise ArrayFileError(f"{what}: dtype {raw.dtype.name}; weights and inputs must be floating point")
    if raw.dtype.kind == "c":
        raise ArrayFileError(f"{what}: complex values; weights and inputs must be real")
    array = np.array(raw, dtype=np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        kinds = " and ".join(k for k, f in (("NaN", np.isnan), ("Inf", np.isinf)) if f(array).any())
        raise ArrayFileError(f"{what}: {int(bad.sum())} values are {kinds} (the first at {first})")
    if transpose:
        array = np.ascontiguousarray(array.T)
    array.setflags(write=False)
    return array


def _read_npy(path: Path, key: str) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def _read_npz(path: Path, key: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        return archive[key]


def _read_safetensors(path: Path, key: str) -> np.ndarray:
    header, data_start = _safetensors_header(path)
    info = header[key]
    dtype, shape, (begin, _end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
    if dtype == "BF16":  # the upper 16 bits of a float32
        bits = np.fromfile(path, dtype="<u2", count=math.prod(shape), offset=data_start + begin)
        return (bits.astype(np.uint32) << 16).view(np.float32).reshape(shape)
    values = np.fromfile(path, dtype=SAFETENSORS_DTYPES[dtype], count=math.prod(shape), offset=data_start + begin)
    return values.reshape(shape)


def _read_torch(path: Path, key: str) -> np.ndarray:
    torch = _torch_module(path.name)
    tensor = _torch_tensors(path)[key]
    if not tensor.is_floating_point():
        return tensor.numpy()
    return tensor.detach().to(torch.float64).numpy()


_READERS: dict[str, tuple[Callable[[Path], dict[str, Entry]], Callable[[Path, str], np.ndarray]]] = {
    "npy": (_npy_contents, _read_npy), "npz": (_npz_contents, _read_npz),
    "safetensors": (_safetensors_contents, _read_safetensors), "torch": (_torch_contents, _read_torch),
}


def matrices(path: str | os.PathLike) -> list[str]:
    """Keys of the file's 2-D arrays, in file order."""
    return [key for key, e in contents(path).items() if len(e.shape) == 2]
