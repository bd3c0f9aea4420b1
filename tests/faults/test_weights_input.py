"""Bad weights files: each is one line naming the file and exit 2, judged from its headers before its data
is read where the headers say enough, whether a suite names it (validate, run) or advise is given it."""

import json
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from gemmbench.cases.suite import parse_suite
from gemmbench.cli import main
from gemmbench.errors import SuiteError
from gemmbench.formats import blockdetect
from gemmbench.ops.matrix import BLOCK_SHAPES


def suite_of(weights) -> str:
    return f"name: w\nbackends: [numpy]\ncases: [{{name: a, weights: '{weights}'}}]\n"


def refused(capsys, write_suite, weights, why):
    """validate, run and advise (the real CLI's code, in this process) each refuse the file with one line
    saying `why`."""
    suite = write_suite(suite_of(weights))
    out = suite.parent / "out"
    for args in (["validate", suite], ["run", suite, "-o", out], ["advise", weights, "--quick", "-o", out]):
        status = main([str(a) for a in args])
        err = capsys.readouterr().err
        assert (status, len(err.splitlines())) == (2, 1), err
        assert why in err
    assert not out.exists()


def save_safetensors(path, array):
    header = json.dumps({"w": {"dtype": "F32", "shape": list(array.shape), "data_offsets": [0, array.nbytes]}})
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + array.astype("<f4").tobytes())


def save_npz(path, array):
    with open(path, "wb") as handle:  # a file object: np.savez would add .npz to a name
        np.savez(handle, w=array)


SAVERS = {"empty.npy": np.save, "empty.npz": save_npz, "empty.safetensors": save_safetensors}


@pytest.mark.parametrize("name", SAVERS)
@pytest.mark.parametrize("shape", [(0, 8), (8, 0)])
def test_an_empty_matrix_is_refused_before_it_can_crash_a_run(capsys, write_suite, tmp_path, name, shape):
    """A 0xK matrix passed validation and then crashed run (ZeroDivisionError), its resume and advise."""
    path = tmp_path / name
    SAVERS[name](path, np.zeros(shape, dtype=np.float32))
    key = ":w" if path.suffix != ".npy" else ""
    refused(capsys, write_suite, f"{path}{key}", f"shape {shape} holds no values; every dimension must be at least 1")


def compressed_zeros(path, rows, cols):
    """An .npz whose one float32 array is all zeros, compressed: megabytes of data in kilobytes of file."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1), np.float32))
    header["shape"] = (rows, cols)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("w.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            zeros = bytes(1 << 20)
            left = rows * cols * 4
            while left:
                member.write(zeros[:min(left, len(zeros))])
                left -= min(left, len(zeros))


def test_a_decompression_bomb_is_refused_from_the_zip_directory(tmp_path):
    """4200x4200 float32 zeros (67 MiB) in a 66 kB .npz: refused without decompressing it."""
    bomb = tmp_path / "bomb.npz"
    compressed_zeros(bomb, 4200, 4200)
    assert bomb.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(SuiteError) as info:
            parse_suite(suite_of(f"{bomb}:w"), "s.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    (line,) = info.value.problems
    assert "bomb.npz:w: its 67 MiB of data are compressed 1,0" in line
    assert "more than 64:1 is refused before reading" in line and "np.savez, not np.savez_compressed" in line
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MiB allocated: the data was read"


def test_a_header_promising_more_than_the_file_holds_is_refused(tmp_path):
    lying = tmp_path / "lying.npy"
    header = np.lib.format.header_data_from_array_1_0(np.ones((4, 4), np.float32))
    header["shape"] = (40000, 4000)  # 640 MB promised; 64 bytes there
    with open(lying, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(np.ones((4, 4), np.float32).tobytes())
    with pytest.raises(SuiteError) as info:
        parse_suite(suite_of(lying), "s.yaml")
    (line,) = info.value.problems
    assert "lying.npy: its header promises a 40000x4000 float32 array (640,000,128 bytes with the header) but " \
           "only 192 bytes are there" in line


def test_an_all_zero_matrix_is_described_without_searching_every_grid(monkeypatch):
    """No block shape tiles nothing: detect answers at once (a 3000x3000 zero matrix took 48 s, searching
    every shape on every grid offset)."""
    fits = []
    real = blockdetect.fit_blocks
    monkeypatch.setattr(blockdetect, "fit_blocks", lambda *args: fits.append(args[1:]) or real(*args))
    found = blockdetect.detect(np.zeros((64, 32)), BLOCK_SHAPES)
    assert (found.nonzeros, found.storage, found.sparse, found.stored_blocks) == (0, (1, 1), True, 0)
    assert len(fits) <= 2, f"{len(fits)} fits tried"
