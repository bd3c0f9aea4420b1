"""An output path (report -o, plot -o, advise --page) never destroys what is there: only a regular file
or a new path inside a writable directory is written; anything else, and every failed write, is one line
naming the path and exit 2, found before the long work starts."""

import os
import resource
import stat
import subprocess
import sys

import pytest

from faultkit import ROOT, as_ordinary_user, temp_files
from gemmbench.cases.suite import parse_suite
from gemmbench.cli import main
from gemmbench.measure.runner import RunOptions, run_suite

SUITE = ("name: out\nbackends: [numpy]\ndefaults: {warmup: 0.001, min_time: 0.0002, samples: 3, max_time: 0.05}\n"
         "cases: [{name: a, m: 16, k: 8}]\n")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A results file written by a real run."""
    out = tmp_path_factory.mktemp("runs")
    return run_suite(parse_suite(SUITE), RunOptions(out_dir=out, progress=False)).path


def refused(capsys, args, path, why):
    """The command exits 2 with one line naming `path` and saying `why`."""
    status = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert (status, err) == (2, f"gemmbench: error: {path}: cannot write the output here: {why}\n")


def snapshot(path):
    info = os.lstat(path)
    return info.st_mode, info.st_ino, (path.read_bytes() if stat.S_ISREG(info.st_mode) else None)


@pytest.mark.parametrize("command", [["report"], ["plot", "--kind", "speedup"]], ids=["report", "plot"])
def test_the_file_being_read_is_never_replaced(results, tmp_path, capsys, command):
    own = tmp_path / "own.parquet"
    own.write_bytes(results.read_bytes())
    linked = tmp_path / "linked.svg"
    os.link(own, linked)  # another name of the same inode
    before = snapshot(own)
    for target in (own, linked) if command == ["report"] else (linked,):  # plot writes .png or .svg only
        refused(capsys, [*command, own, "-o", target], target,
                f"it is {own}, which this command reads; name another output file")
    assert snapshot(own) == before


def make_fifo(path):
    os.mkfifo(path)


def make_device(path):
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is


def make_link(path):
    target = path.with_name("target.html")
    target.write_text("the link's target")
    path.symlink_to(target)


def make_dangling_link(path):
    path.symlink_to(path.with_name("nowhere.html"))


KINDS = {
    "directory": (os.mkdir, "it is a directory"),
    "FIFO": (make_fifo, "it is a FIFO"),
    "device": (make_device, "it is a character device"),
    "symbolic link": (make_link, "it is a symbolic link"),
    "dangling symbolic link": (make_dangling_link, "it is a symbolic link"),
}


@pytest.mark.parametrize("make, what", KINDS.values(), ids=KINDS.keys())
def test_only_a_regular_file_is_replaced(results, tmp_path, capsys, make, what):
    target = tmp_path / "target.svg"
    make(target)
    before = snapshot(target)
    for command in (["report", results], ["plot", results, "--kind", "speedup"]):
        refused(capsys, [*command, "-o", target], target,
                f"{what}; gemmbench writes only over a regular file or a new path")
    assert snapshot(target) == before
    assert not os.path.exists(tmp_path / "nowhere.html")  # nothing was written through the link either
    assert temp_files(tmp_path) == []


def test_a_regular_file_is_replaced_and_a_new_folder_made(results, tmp_path, capsys):
    old = tmp_path / "old.html"
    old.write_text("last week's report")
    assert main(["report", str(results), "-o", str(old)]) == 0
    assert old.read_text().startswith("<!DOCTYPE html>")
    assert main(["report", str(results), "-o", str(tmp_path / "new" / "deeper" / "r.html")]) == 0
    assert (tmp_path / "new" / "deeper" / "r.html").is_file()


@pytest.mark.parametrize("where, why", [
    ("results.parquet/x.html", "{results} is not a directory"),
    ("/proc/gemmbench-x.html", "No such file or directory"),
], ids=["under a file", "under /proc"])
def test_a_folder_that_cannot_hold_the_file_is_one_line(results, capsys, where, why):
    target = where.replace("results.parquet", str(results))
    refused(capsys, ["report", results, "-o", target], target, why.format(results=results))


def cli(*args, **popen):
    return subprocess.run([sys.executable, "-m", "gemmbench", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, **popen)


@pytest.mark.slow
def test_an_unwritable_folder_is_one_line(results, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    result = cli("report", results, "-o", locked / "r.html", preexec_fn=as_ordinary_user)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"gemmbench: error: {locked / 'r.html'}: cannot write the output here: Permission denied\n"
    assert list(locked.iterdir()) == []


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_leaves_nothing(results, tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse writes past a size, as a full disk refuses them."""
    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    target = tmp_path / "r.html"
    result = cli("report", results, "-o", target, preexec_fn=small_files)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"gemmbench: error: {target}: cannot write the output here: File too large\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_advise_checks_its_page_before_the_sweep(tmp_path):
    """The sweep takes minutes; a page that cannot be written is found before it starts: no run is written."""
    import numpy as np

    weights = tmp_path / "w.npy"
    np.save(weights, np.random.default_rng(0).standard_normal((16, 16)))
    os.mkfifo(tmp_path / "page.html")
    for page, why in ((tmp_path / "page.html", "it is a FIFO; gemmbench writes only over a regular file or a new path"),
                      (weights, f"it is {weights}, which this command reads; name another output file")):
        result = cli("advise", weights, "--quick", "-o", tmp_path / "runs", "--page", page)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == f"gemmbench: error: {page}: cannot write the output here: {why}\n"
    assert not (tmp_path / "runs").exists()
