"""Reading a model's arrays: every format loaded, every bad file refused with its one line."""

from __future__ import annotations

import hashlib
import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gemmbench.cases import arrayfile
from gemmbench.cases.arrayfile import ArrayFileError, ArrayRef

W = (np.arange(12, dtype=np.float64).reshape(3, 4) - 5.5) / 8  # exact in float16, bf16 and float32


def ref(path: Path, key: str = "", transpose: bool = False) -> ArrayRef:
    return arrayfile.resolve(ArrayRef(str(path), key, transpose, given=path.name))


def refused(path: Path, key: str = "", ndims=(2,)) -> str:
    with pytest.raises(ArrayFileError) as caught:
        arrayfile.load(ref(path, key), ndims)
    message = str(caught.value)
    assert "\n" not in message
    return message


def write_safetensors(path: Path, arrays: dict[str, tuple[str, tuple[int, ...], bytes]]) -> None:
    """The format by its specification: u64 header length, JSON header, data (written here without the package)."""
    header, data, offset = {}, b"", 0
    for name, (dtype, shape, raw) in arrays.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        data += raw
        offset += len(raw)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


# ---------------------------------------------------------------- formats

@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_npy_loads_as_float64(tmp_path, dtype):
    np.save(tmp_path / "w.npy", W.astype(dtype))
    loaded = arrayfile.load(ref(tmp_path / "w.npy"))
    assert loaded.dtype == np.float64 and np.array_equal(loaded, W)
    assert not loaded.flags.writeable  # shared by the cases of a grid: nobody may change it


def test_npz_by_key_and_transposed(tmp_path):
    np.savez(tmp_path / "m.npz", gru=W.astype(np.float32), bias=np.zeros(3, np.float32))
    assert np.array_equal(arrayfile.load(ref(tmp_path / "m.npz", "gru")), W)
    assert np.array_equal(arrayfile.load(ref(tmp_path / "m.npz", "gru", transpose=True)), W.T)
    assert arrayfile.matrices(tmp_path / "m.npz") == ["gru"]


def test_safetensors_written_by_the_safetensors_package(tmp_path):
    numpy_api = pytest.importorskip("safetensors.numpy", reason="the safetensors package (test extra) is not installed")
    numpy_api.save_file({"gru.weight": W.astype(np.float32), "fc.weight": W.T.astype(np.float16).copy()},
                        str(tmp_path / "m.safetensors"), metadata={"format": "np"})
    assert arrayfile.contents(tmp_path / "m.safetensors") == {
        "fc.weight": arrayfile.Entry((4, 3), "float16"), "gru.weight": arrayfile.Entry((3, 4), "float32")}
    assert np.array_equal(arrayfile.load(ref(tmp_path / "m.safetensors", "gru.weight")), W)
    assert np.array_equal(arrayfile.load(ref(tmp_path / "m.safetensors", "fc.weight")), W.T)


def test_safetensors_bf16(tmp_path):
    bits = (W.astype(np.float32).view(np.uint32) >> 16).astype("<u2")  # W is exact in bf16
    write_safetensors(tmp_path / "b.safetensors", {"w": ("BF16", (3, 4), bits.tobytes())})
    assert arrayfile.contents(tmp_path / "b.safetensors")["w"] == arrayfile.Entry((3, 4), "bfloat16")
    assert np.array_equal(arrayfile.load(ref(tmp_path / "b.safetensors", "w")), W)


def test_torch_state_dict(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (the torch extra)")
    state = {"gru.weight_hh_l0": torch.tensor(W, dtype=torch.float32),
             "out.weight": torch.tensor(W.T.copy(), dtype=torch.bfloat16), "steps": 10}
    torch.save({"model": state}, tmp_path / "m.pt")
    assert set(arrayfile.contents(tmp_path / "m.pt")) == {"model/gru.weight_hh_l0", "model/out.weight"}
    assert np.array_equal(arrayfile.load(ref(tmp_path / "m.pt", "model/gru.weight_hh_l0")), W)
    assert np.array_equal(arrayfile.load(ref(tmp_path / "m.pt", "model/out.weight")), W.T)


def test_torch_refuses_a_pickled_object(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (the torch extra)")
    torch.save({"w": torch.zeros(2, 2), "thing": Path("/")}, tmp_path / "bad.pt")  # PosixPath: not allowed
    message = refused(tmp_path / "bad.pt", "w")
    assert message.startswith("bad.pt: torch.load(weights_only=True) refused it (")
    assert message.endswith("only state dicts of tensors are read")


def test_torch_files_without_torch_say_how_to_get_it(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch":
            raise ImportError("no torch here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    (tmp_path / "m.pt").write_bytes(b"PK\x03\x04 not really")
    assert refused(tmp_path / "m.pt", "w") == ("m.pt: a PyTorch file, and reading one needs torch (pip install "
                                               "'gemmbench[torch]'); or save the arrays as .npy, .npz or .safetensors")


# ---------------------------------------------------------------- bad files

def test_missing_file(tmp_path):
    with pytest.raises(ArrayFileError, match=r"^gone\.npz: no such file \("):
        ref(tmp_path / "gone.npz", "w")


def test_missing_key_lists_the_keys_present(tmp_path):
    np.savez(tmp_path / "m.npz", gru_a=W, gru_b=W, bias=np.zeros(3))
    assert refused(tmp_path / "m.npz", "gru_aa") == ("m.npz has no array 'gru_aa' (did you mean 'gru_a'?); it holds: "
                                                    "gru_a (3x4 float64), gru_b (3x4 float64), bias (3 float64)")
    assert refused(tmp_path / "m.npz").startswith("m.npz holds 3 arrays; name one as m.npz:KEY (gru_a (3x4")


def test_not_two_dimensional(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros((2, 3, 4)))
    assert refused(tmp_path / "v.npy") == "v.npy: shape (2, 3, 4) is 3-D; it must be 2-D"
    np.save(tmp_path / "b.npy", np.zeros(3))
    assert refused(tmp_path / "b.npy", ndims=(2,)) == "b.npy: shape (3,) is 1-D; it must be 2-D"


@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "Inf"), (-np.inf, "Inf")])
def test_nan_and_inf(tmp_path, bad, word):
    w = W.copy()
    w[1, 2] = bad
    np.save(tmp_path / "w.npy", w)
    assert refused(tmp_path / "w.npy") == f"w.npy: 1 values are {word} (the first at (1, 2))"


def test_too_large_is_judged_from_the_header(tmp_path):
    """A header claiming 10^12 elements, no data: refused before anything is read."""
    with open(tmp_path / "huge.npy", "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False,
                                                       "shape": (1_000_000, 1_000_000)})
    message = refused(tmp_path / "huge.npy")
    assert message.startswith("huge.npy: 1,000,000,000,000 elements need ")
    assert "GiB as float64, more than the " in message and message.endswith("GiB this machine can give a case")


def test_pickles_are_refused(tmp_path):
    (tmp_path / "w.pkl").write_bytes(pickle.dumps(W))
    assert refused(tmp_path / "w.pkl").startswith("w.pkl: a Python pickle; refused (unpickling runs code)")
    (tmp_path / "w.dat").write_bytes(pickle.dumps(W))  # sniffed, whatever its name
    assert refused(tmp_path / "w.dat").startswith("w.dat: a Python pickle; refused")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert refused(tmp_path / "o.npy") == ("o.npy: holds Python objects (a pickle inside the array); refused: "
                                           "only numeric arrays are read")
    np.savez(tmp_path / "o.npz", w=W, o=np.array([None], dtype=object))
    assert refused(tmp_path / "o.npz", "w").startswith("o.npz:o: holds Python objects")


def test_integer_and_unknown_files(tmp_path):
    np.save(tmp_path / "i.npy", np.ones((2, 2), dtype=np.int8))
    assert refused(tmp_path / "i.npy") == "i.npy: dtype int8; weights and inputs must be floating point"
    (tmp_path / "w.txt").write_text("1 2\n3 4\n")
    assert refused(tmp_path / "w.txt") == ("w.txt: not a file format gemmbench reads; it reads .npy, .npz, "
                                           ".safetensors, PyTorch state dicts (.pt, .pth, .bin, .ckpt)")


def test_damaged_safetensors(tmp_path):
    write_safetensors(tmp_path / "d.safetensors", {"w": ("F32", (3, 4), b"\0" * 20)})  # 48 bytes needed
    assert refused(tmp_path / "d.safetensors", "w") == ("d.safetensors:w: its byte range [0, 20) does not hold a "
                                                        "3x4 F32 array inside the file")


# ---------------------------------------------------------------- naming, SHA-256

def test_parse_forms_relative_to_the_base(tmp_path):
    np.save(tmp_path / "w.npy", W)
    assert arrayfile.parse("w.npy", tmp_path) == ArrayRef(str(tmp_path / "w.npy"), given="w.npy")
    assert arrayfile.parse("models/m.npz:gru", tmp_path) == ArrayRef(str(tmp_path / "models/m.npz"), "gru",
                                                                      given="models/m.npz")
    assert arrayfile.parse({"file": "m.npz", "key": "gru", "transpose": True}, tmp_path) == ArrayRef(
        str(tmp_path / "m.npz"), "gru", True, given="m.npz")
    with pytest.raises(ArrayFileError, match="unknown key 'kye' in the mapping; it takes file, key, transpose"):
        arrayfile.parse({"file": "m.npz", "kye": "gru"}, tmp_path)


def test_sha256_is_the_files_and_a_change_is_seen(tmp_path):
    np.save(tmp_path / "w.npy", W)
    resolved = ref(tmp_path / "w.npy")
    assert resolved.sha256 == hashlib.sha256((tmp_path / "w.npy").read_bytes()).hexdigest()
    assert arrayfile.changed(resolved) == ""
    np.save(tmp_path / "w.npy", W * 2)
    assert arrayfile.changed(resolved).startswith("w.npy: the file changed since the run started (SHA-256 ")
    with pytest.raises(ArrayFileError, match="the file changed since the run started"):
        arrayfile.load(resolved)


def test_a_zip_that_is_a_torch_file_is_told_apart_from_an_npz(tmp_path):
    with zipfile.ZipFile(tmp_path / "archive", "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80")
    assert arrayfile._kind(tmp_path / "archive") == "torch"
    np.savez(tmp_path / "plain", w=W)
    assert arrayfile._kind(tmp_path / "plain.npz") == "npz"
