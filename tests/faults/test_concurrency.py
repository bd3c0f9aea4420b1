"""Runs started at once into one results directory never lose or share a file, and a file read while
its run rewrites it is always one whole version."""

import subprocess
import sys

import pytest

from faultkit import start_cli, temp_files
from gemmbench.cases.suite import load_suite
from gemmbench.data.results import ResultsFile, RunInfo, load_results, read_metadata
from gemmbench.measure import runner
from gemmbench.measure.runner import RunOptions, run_suite

SUITE = "name: together\nbackends: [test-good]\ncases: [{name: a, m: 16, k: 8, seed: [1, 2, 3]}]\n"


def test_two_runs_at_once_into_one_directory_each_keep_their_file(plugins, write_suite, tmp_path):
    out = tmp_path / "out"
    suite = write_suite(SUITE)
    procs = [start_cli("run", suite, "-o", out, "-q") for _ in range(2)]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], results
    paths = sorted(stdout.strip() for stdout, _ in results)
    assert len(set(paths)) == 2 and sorted(str(p) for p in out.iterdir()) == paths
    for path in paths:
        frame = load_results(path)
        meta = read_metadata(path)
        assert meta["complete"] is True and set(frame["run_id"]) == {meta["run_id"]} and len(frame) == 3
    assert temp_files(out) == []


def test_a_taken_name_is_never_overwritten(plugins, write_suite, tmp_path, monkeypatch):
    """Two runs in the same second that drew the same random suffix still get two files."""
    suite = load_suite(write_suite(SUITE))
    options = RunOptions(out_dir=tmp_path, progress=False)
    first = run_suite(suite, options)
    taken = (RunInfo("taken", suite.name, "now"), first.path)
    fresh = runner.new_run(suite, tmp_path, runner.fingerprint())
    names = iter([taken, taken, fresh])
    monkeypatch.setattr(runner, "new_run", lambda *args: next(names))
    second = run_suite(suite, options)
    assert second.path == fresh[1] != first.path
    assert len(load_results(first.path)) == 3 and len(load_results(second.path)) == 3
    assert read_metadata(first.path)["run_id"] != read_metadata(second.path)["run_id"]


def test_creating_an_existing_results_file_fails_and_leaves_it_alone(tmp_path):
    path = tmp_path / "run.parquet"
    ResultsFile(path, RunInfo("r1", "s", "t")).create()
    with pytest.raises(FileExistsError):
        ResultsFile(path, RunInfo("r2", "s", "t")).create()
    assert read_metadata(path)["run_id"] == "r1" and temp_files(tmp_path) == []


WRITER = """
import sys, time
from pathlib import Path
from gemmbench.data.results import ResultsFile, RunInfo

path, reads, rows = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])


def reads_done():
    try:
        return int(reads.read_text())
    except (FileNotFoundError, ValueError):  # not yet written, or caught mid-write
        return 0


results = ResultsFile(path, RunInfo("race", "s", "t"))
results.create()
for i in range(rows):
    while reads_done() < i // 7:  # keeps pace with the reader, however fast each side runs
        time.sleep(0.001)
    results.add([{"run_id": "race", "suite": "s", "case": f"c{i}", "backend": "b", "variant": "v", "threads": 1,
                  "status": "ok", "median_ns": float(i), "samples_ns": [float(i)] * (i % 17 + 1)}])
results.close()
"""


def test_reading_a_file_while_its_run_rewrites_it_never_sees_a_mix(tmp_path):
    """Every read (report, compare, a watcher) sees one whole version: pyarrow given a path opens it
    twice, and a rename between the two opens paired one version's footer with the next one's pages."""
    path, reads_file, rows = tmp_path / "live.parquet", tmp_path / "reads", 400
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(reads_file), str(rows)],
                              stderr=subprocess.PIPE, text=True)
    seen, reads = 0, 0
    while writer.poll() is None:
        if path.exists():
            count = len(load_results(path))
            assert count >= seen  # versions only grow
            seen, reads = count, reads + 1
            reads_file.write_text(str(reads))
    assert writer.returncode == 0, writer.stderr.read()
    assert reads >= rows // 7 and len(load_results(path)) == rows
    assert temp_files(tmp_path) == []


BATCH_WRITER = """
import sys, time
from pathlib import Path
from gemmbench.data.results import ResultsFile, RunInfo

results = ResultsFile(Path(sys.argv[1]), RunInfo("kill", "s", "t"))
results.create()
for batch in range(10_000):
    results.add([{"run_id": "kill", "suite": "s", "case": f"c{batch}", "backend": "b", "variant": f"v{i}",
                  "threads": 1, "status": "ok", "median_ns": 1.0, "samples_ns": [1.0] * 50} for i in range(3)])
    print(batch, flush=True)
"""


def test_sigkill_mid_run_leaves_every_committed_batch_and_no_half_of_one(tmp_path):
    """Rows reach the disk case by case (a journal with a commit line per case, the parquet file rewritten
    now and then): killed at any moment, the file reads as whole batches, at least those `add` returned from."""
    path = tmp_path / "killed.parquet"
    writer = subprocess.Popen([sys.executable, "-c", BATCH_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    for _ in range(300):  # past several parquet rewrites (every 64 rows, then every quarter more)
        returned = int(writer.stdout.readline())
    writer.kill()
    writer.wait()
    rows = load_results(path)
    assert len(rows) % 3 == 0 and len(rows) >= 3 * (returned + 1)
    assert list(rows["seq"]) == list(range(len(rows)))  # nothing twice, nothing missing
    assert rows.groupby("case")["variant"].count().eq(3).all()
    assert temp_files(tmp_path) == []
