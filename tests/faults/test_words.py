"""Nothing is accepted silently and every refusal says what is wrong in words that fit: a key given twice,
a number YAML read as text, a weights path that is not a file, a pickle named .npz, a results path that is a
FIFO, a kernel cache that cannot be written, an empty suite file."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from faultkit import ROOT
from gbtest import own_stderr, results_path
from gemmbench.cases.suite import parse_suite
from gemmbench.data.results import load_results
from gemmbench.errors import SuiteError


def problems(text: str) -> list[str]:
    with pytest.raises(SuiteError) as info:
        parse_suite(text, "s.yaml")
    return info.value.problems


@pytest.mark.parametrize("text, line", [
    ("name: t\ncases:\n  - {name: a, m: 4, m: 8, k: 4}\n",
     "s.yaml: line 3, column 21: duplicate key 'm' (first at line 3); the last one would silently win"),
    ("name: t\ncases:\n  - {name: a, m: 4, k: 4}\ncases:\n  - {name: b, m: 4, k: 4}\n",
     "s.yaml: line 4, column 1: duplicate key 'cases' (first at line 2); the last one would silently win"),
    ("name: t\ndefaults:\n  m: 4\n  k: 4\n  m: 8\ncases: [{name: a}]\n",
     "s.yaml: line 5, column 3: duplicate key 'm' (first at line 3); the last one would silently win"),
], ids=["in a case", "two case lists", "in the defaults"])
def test_a_key_given_twice_is_refused_with_its_lines(text, line):
    assert problems(text) == [line]


def test_a_merge_key_may_still_be_overridden():
    suite = parse_suite("name: t\ncases:\n  - &a {name: a, m: 4, k: 4}\n  - {<<: *a, name: b, m: 8}\n", "s.yaml")
    assert [(c.case.name, c.case.spec.m) for c in suite.cases] == [("a", 4), ("b", 8)]


def test_a_number_yaml_reads_as_text_says_so():
    (min_time, samples) = problems("name: t\ncases: [{name: a, m: 4, k: 4, min_time: 5e-4, samples: 1e3}]\n")
    assert min_time.endswith("field 'min_time': must be a positive number, got '5e-4' (YAML reads 5e-4 as text, "
                             "not a number: write 0.0005)")
    assert samples.endswith("got '1e3' (YAML reads 1e3 as text, not a number: write 1000)")


def test_an_empty_suite_file_says_it_is_empty():
    for text in ("", "# nothing but a comment\n"):
        assert problems(text) == ["s.yaml: top level: the file holds no suite (it is empty, or only comments); a "
                                  "suite is a mapping with fields name, description, defaults, backends, isa, cpus, cases"]


def weights_problem(path) -> str:
    (line,) = problems(f"name: t\ncases: [{{name: a, weights: '{path}'}}]\n")
    return line


def test_a_weights_path_that_is_not_a_file_says_what_it_is(tmp_path):
    os.mkfifo(tmp_path / "fifo.npy")
    (tmp_path / "folder.npy").mkdir()
    for path, what in ((tmp_path / "fifo.npy", "a FIFO"), (tmp_path / "folder.npy", "a directory"),
                       ("/dev/zero", "a character device")):
        assert f"field 'weights': {Path(path).name}: is {what}, not a file of arrays ({path})" in weights_problem(path)
    assert f"gone.npy: no such file ({tmp_path / 'gone.npy'})" in weights_problem(tmp_path / "gone.npy")


def test_a_pickle_named_npz_is_refused_as_a_pickle(tmp_path):
    fake = tmp_path / "model.npz"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("archive/data/0", np.ones(4, np.float32).tobytes())
    line = weights_problem(f"{fake}:w")
    assert "model.npz: a zip holding a Python pickle (data.pkl, as torch.save writes), not the .npy arrays an " \
           ".npz holds; refused (unpickling runs code)" in line and "torch not installed" not in line


def test_report_on_a_fifo_is_one_line(tmp_path):
    fifo = tmp_path / "run.parquet"
    os.mkfifo(fifo)
    for command in (["report", fifo], ["compare", fifo, fifo], ["run", "--resume", fifo]):
        result = subprocess.run([sys.executable, "-m", "gemmbench", *map(str, command)], capture_output=True,
                                text=True, cwd=ROOT, timeout=60)  # it used to wait for a writer for ever
        assert (result.returncode, result.stderr) == (2, f"gemmbench: error: {fifo}: is a FIFO, not a results file\n")


@pytest.mark.slow
def test_an_unwritable_kernel_cache_makes_csimd_unavailable_saying_why(write_suite, tmp_path, cli):
    from gemmbench.machine import native

    if native.find_compiler() is None:
        pytest.skip("no C compiler: csimd is unavailable for that reason instead")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache's folder would go")
    suite = write_suite("name: cache\nbackends: [csimd, numpy]\ncases: [{name: a, m: 16, k: 8}]\n")
    result = cli("run", suite, "-o", tmp_path / "out", "--no-progress",
                 env={**os.environ, "GEMMBENCH_CACHE": str(blocker / "cache")})
    assert (result.returncode, own_stderr(result.stderr)) == (0, "")
    rows = load_results(results_path(result.stdout))
    csimd = rows[rows["backend"] == "csimd"]
    assert len(csimd) == 1 and csimd.iloc[0]["status"] == "unavailable"
    assert csimd.iloc[0]["message"].startswith(f"the kernel cache {blocker / 'cache'} cannot be written (Not a "
                                               f"directory); set GEMMBENCH_CACHE to a folder that can")
