"""Fuzzing weights files of every format (.npy, .npz stored and compressed, .safetensors, PyTorch zips,
pickles): whatever the bytes, reading the file's arrays (and a suite naming them) works or is refused in
one line naming the file, within the promised time. Valid files are made by each format's own writer, then
cut, spliced and their headers rewritten."""

import io
import itertools
import json
import struct
import zipfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultkit import one_line, within_promise
from gemmbench.cases import arrayfile
from gemmbench.cases.arrayfile import ArrayFileError, ArrayRef
from gemmbench.cases.suite import parse_suite
from gemmbench.errors import SuiteError

FUZZ = settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", 150)), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
ARRAY = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)


def npy(array) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def npz(array, compress: bool) -> bytes:
    out = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(out, w=array, b=array[0])
    return out.getvalue()


def safetensors(array) -> bytes:
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "w": {"dtype": "F32", "shape": list(array.shape), "data_offsets": [0, array.nbytes]}})
    return struct.pack("<Q", len(header)) + header.encode() + array.astype("<f4").tobytes()


def torch_zip(array) -> bytes:
    """The layout torch.save writes (a pickle and raw storages in a zip): read only through torch, if at all."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01.")
        archive.writestr("archive/data/0", array.tobytes())
        archive.writestr("archive/version", b"3\n")
    return out.getvalue()


FILES = {".npy": npy(ARRAY), ".npz": npz(ARRAY, False), "-compressed.npz": npz(ARRAY, True),
         ".safetensors": safetensors(ARRAY), ".pt": torch_zip(ARRAY), ".pkl": b"\x80\x04K\x01.",
         ".bin": b"\x80\x02}q\x00."}
NAMES = itertools.count()

headers = st.one_of(  # what a header's numbers and fields may be rewritten to
    st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.text(max_size=8), st.none(), st.booleans(),
    st.lists(st.integers(-3, 2**40), max_size=4), st.sampled_from(["F32", "BF16", "I8", "F99", "<f4", "|O", "w", ""]))


def spliced(data: bytes, draw) -> bytes:
    for _ in range(draw(st.integers(0, 4))):
        position = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 16))
        insert = draw(st.binary(max_size=12) | st.sampled_from([b"\x00" * 8, b"\xff" * 8, b"PK\x03\x04", b"\x80",
                                                                 b"\x93NUMPY", b"{", b"]" * 4]))
        data = data[:position] + insert + data[position + cut:]
    return data


def rewritten_header(suffix: str, draw) -> bytes:
    """A file whose header says something else: another shape, dtype or byte range."""
    if suffix == ".safetensors":
        header = {"w": {"dtype": draw(headers), "shape": draw(headers), "data_offsets": draw(headers)}}
        text = json.dumps(header).encode()
        length = draw(st.sampled_from([len(text), len(text) + 1, 2**63, 0]))
        return struct.pack("<Q", length % 2**64) + text + ARRAY.tobytes()
    shape = draw(st.lists(st.integers(0, 10**6), max_size=3))
    descr = draw(st.sampled_from(["<f4", "<f8", "|u1", "|O", "<c8", ">f4", "|b1"]))
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    return head.getvalue() + ARRAY.tobytes()


def checked(path) -> None:
    """The contract: the file's arrays read, or one line naming the file; a suite naming it likewise."""
    name = path.name
    try:
        found = arrayfile.contents(path)
        for key in list(found)[:3]:
            arrayfile.load(arrayfile.resolve(ArrayRef(str(path), key)), (1, 2))
    except ArrayFileError as exc:
        one_line(str(exc), name)
    try:
        parse_suite(f"name: t\ncases: [{{name: a, weights: '{path}:w'}}]\n", "fuzz.yaml")
    except SuiteError as exc:
        for line in exc.problems:
            one_line(line, "fuzz.yaml: ")


@FUZZ
@given(st.sampled_from(sorted(FILES)), st.data())
def test_mutated_weights_files(tmp_path, suffix, data):
    content = spliced(FILES[suffix], data.draw) if data.draw(st.booleans()) else rewritten_header(suffix, data.draw)
    path = tmp_path / f"{next(NAMES)}{suffix}"  # a new name each time: readers cache by path, size and mtime
    path.write_bytes(content)
    with within_promise(len(content)):
        checked(path)
    path.unlink()
