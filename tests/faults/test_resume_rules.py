"""What `run --resume` keeps, what it runs again, and what it refuses."""

import json

import pyarrow.parquet as pq
import pytest

from gemmbench.cases.suite import load_suite
from gemmbench.data.results import load_results, read_metadata, writer_lock
from gemmbench.errors import UsageError
from gemmbench.measure.runner import RunOptions, resume_run, run_suite

SUITE = """
name: resumable
backends: [test-segfault]
cases:
  - {name: small, m: 32, k: 16}
  - {name: batch, op: gemm, m: 32, k: 16, n: 4}
"""


def cut_to_partial(path, keep: int) -> None:
    """What an interrupted run leaves: its first `keep` rows, marked partial."""
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"gemmbench"])
    pq.write_table(table.slice(0, keep).replace_schema_metadata(
        {b"gemmbench": json.dumps({**meta, "complete": False}).encode()}), path)


@pytest.fixture
def partial(plugins, write_suite, tmp_path):
    """A partial results file holding case 'small' (one crashed row, one ok) but not 'batch'."""
    suite = write_suite(SUITE)
    outcome = run_suite(load_suite(suite), RunOptions(out_dir=tmp_path / "out", progress=False))
    cut_to_partial(outcome.path, 2)
    return outcome.path, suite


def test_saved_rows_are_kept_even_crashed_ones_and_only_missing_rows_run(partial):
    path, _ = partial
    before = load_results(path)
    assert sorted(zip(before["case"], before["status"])) == [("small", "crashed"), ("small", "ok")]
    outcome = resume_run(path, progress=False)
    after = load_results(path)
    assert sorted(zip(after["case"], after["variant"], after["status"])) == [
        ("batch", "crash", "crashed"), ("batch", "fine", "ok"), ("small", "crash", "crashed"), ("small", "fine", "ok")]
    assert list(after["timestamp"][:2]) == list(before["timestamp"])  # not measured again
    assert outcome.exit_status == 1 and read_metadata(path)["complete"] is True


def test_the_same_suite_may_be_named_and_a_different_one_is_refused(partial, write_suite, cli):
    path, suite = partial
    changed = write_suite(SUITE.replace("m: 32, k: 16}", "m: 64, k: 16}"), name="changed.yaml")
    result = cli("run", changed, "--resume", path)
    assert result.returncode == 2
    assert result.stderr == (f"gemmbench: error: {path}: run {read_metadata(path)['run_id']} was started from a "
                             f"different suite than {changed} (its cases or settings differ); resume without "
                             f"naming a suite, or start a new run\n")
    result = cli("run", suite, "--resume", path, "-q")
    assert result.returncode == 1 and result.stdout.strip() == str(path)  # test-segfault's crashes fail it
    assert len(load_results(path)) == 4


def test_options_cannot_change_on_resume(partial, cli):
    path, _ = partial
    result = cli("run", "--resume", path, "--threads", "2", "--timeout", "5")
    assert result.returncode == 2
    assert result.stderr == ("gemmbench: error: --resume continues a run with the options it started with; "
                             "drop --threads, --timeout\n")


def test_a_complete_run_is_not_resumed(partial, cli):
    path, _ = partial
    resume_run(path, progress=False)
    result = cli("run", "--resume", path)
    assert result.returncode == 2 and "is complete; nothing to resume" in result.stderr


def test_unknown_run_id_and_unreadable_files_are_clear_errors(tmp_path, cli):
    result = cli("run", "--resume", "20990101T000000-nohost-abcdef", "-o", tmp_path)
    assert result.returncode == 2
    assert result.stderr == (f"gemmbench: error: 20990101T000000-nohost-abcdef: no results file of that run in "
                             f"{tmp_path} (give the file's path, or the directory it is in with --out)\n")
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 but not really")
    result = cli("run", "--resume", junk)
    assert result.returncode == 2 and result.stderr.startswith(f"gemmbench: error: {junk}: not a readable parquet")
    assert len(result.stderr.splitlines()) == 1 and list(tmp_path.iterdir()) == [junk]  # no lock file left


def test_a_file_being_written_is_not_resumed_twice(partial):
    path, _ = partial
    with writer_lock(path):  # as a running `gemmbench run` (or resume) holds it
        with pytest.raises(UsageError, match="another gemmbench process is writing this file"):
            resume_run(path, progress=False)
    assert len(load_results(path)) == 2


def test_damaged_resume_data_is_a_clear_error(partial):
    path, _ = partial
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"gemmbench"])
    del meta["resume"]["options"]
    pq.write_table(table.replace_schema_metadata({b"gemmbench": json.dumps(meta).encode()}), path)
    with pytest.raises(UsageError, match="cannot resume: its resume data is damaged"):
        resume_run(path, progress=False)


def edit_metadata(path, edit) -> None:
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"gemmbench"])
    edit(meta["resume"])
    pq.write_table(table.replace_schema_metadata({b"gemmbench": json.dumps(meta).encode()}), path)


def first_case(resume):
    return resume["suite"]["cases"][0]


EDITS = {
    "m 0": lambda r: first_case(r)["case"]["spec"].update(m=0),
    "m a string": lambda r: first_case(r)["case"]["spec"].update(m="5"),
    "m negative": lambda r: first_case(r)["case"]["spec"].update(m=-5),
    "samples 0": lambda r: first_case(r)["timing"].update(samples=0),
    "a case dropped": lambda r: r["suite"]["cases"].pop(),
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_an_edited_stored_suite_is_refused(partial, cli, edit):
    """The stored suite is checked again: it must be what its stored text validates to."""
    path, _ = partial
    edit_metadata(path, edit)
    result = cli("run", "--resume", path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (f"gemmbench: error: {path}: cannot resume: its stored suite differs from the suite "
                             f"text it stores (the metadata was edited); start a new run\n")
    assert len(load_results(path)) == 2


def test_a_stored_suite_text_is_validated_again(partial, cli):
    path, _ = partial

    def edit(resume):
        resume["text"] = resume["text"].replace("m: 32, k: 16}", "m: 0, k: 16}")
        first_case(resume)["case"]["spec"].update(m=0)

    edit_metadata(path, edit)
    result = cli("run", "--resume", path)
    assert (result.returncode, result.stdout) == (2, "")
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith(f"gemmbench: error: {path}: cannot resume: the suite it stores is not "
                                         f"valid: ") for line in lines)
    assert "field 'm': must be a positive integer, got 0" in result.stderr


@pytest.mark.parametrize("options, problem", [({"repeat": "x"}, "option 'repeat' is 'x'"),
                                              ({"threads": [1, "2"]}, "option 'threads' is [1, '2']"),
                                              ({"timeout": -1}, None)])
def test_edited_stored_options_are_refused(partial, options, problem):
    path, _ = partial
    edit_metadata(path, lambda resume: resume["options"].update(options))
    with pytest.raises(UsageError) as info:
        resume_run(path, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert (problem or "--timeout: expected a positive number of seconds, got -1") in message
