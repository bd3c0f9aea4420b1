"""Nothing user-supplied runs: suites are data, backend names go through the registry only, and
results stay inside the output directory whatever the suite is called."""

import pytest

from gemmbench.data.results import load_results


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system", "!!python/object/new:os.system",
                                 "!!python/name:os.system"])
def test_python_tags_are_refused_and_nothing_runs(cli, write_suite, tmp_path, tag):
    marker = tmp_path / "pwned"
    suite = write_suite(f"name: {tag} ['touch {marker}']\ncases: [{{name: a, m: 4, k: 4}}]\n", fast=False)
    result = cli("run", suite, "-o", tmp_path / "out")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "refused: suites are plain data, nothing in them runs" in result.stderr
    assert not marker.exists()


@pytest.mark.parametrize("name, unknown", [
    ("os:system", "os"), ("os.system", "os.system"), ("subprocess:run", "subprocess"),
    ("gemmbench.backends.numpy_blas:NumpyBackend", "gemmbench.backends.numpy_blas"),
    ("gemmbench_testplugins:GoodBackend", "gemmbench_testplugins"),
])
def test_backend_names_resolve_only_through_the_registry(plugins, cli, write_suite, name, unknown):
    suite = write_suite(f"name: t\nbackends: ['{name}']\ncases: [{{name: a, m: 4, k: 4}}]\n")
    for args in (["run", suite], ["run", "quick", "--backend", name]):
        result = cli(*args)
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
        assert f"unknown backend '{unknown}'; known backends: " in result.stderr and "test-good" in result.stderr


def test_compiler_flags_do_not_come_from_suites(cli, write_suite):
    suite = write_suite("name: t\ncases: [{name: a, m: 4, k: 4, cflags: '-O0 -fplugin=evil.so'}]\n")
    result = cli("validate", suite)
    assert result.returncode == 2 and "case 'a': unknown field 'cflags'" in result.stderr


@pytest.mark.parametrize("suite_name", ["../../escaped", "/etc/cron.d/x", "a/b/c", "..", "..\\..\\x",
                                        "x" * 400, "état/ünïcode", "-rf", ".hidden"])
def test_results_stay_in_the_output_directory(cli, write_suite, tmp_path, suite_name):
    work = tmp_path / "work"
    work.mkdir()
    out = work / "out"
    suite = write_suite(f"name: '{suite_name}'\nbackends: [numpy]\ncases: [{{name: a, m: 4, k: 4}}]\n")
    result = cli("run", suite, "-o", out, "-q", cwd=work)
    assert result.returncode == 0, result.stderr
    written = out / result.stdout.strip().rsplit("/", 1)[-1]
    assert result.stdout.strip() == str(out / written.name)
    assert [p for p in work.rglob("*")] == [out, written]  # nothing beside it, nothing outside
    assert written.name[0].isalnum() or written.name[0] == "_"  # never hidden, never read as an option
    assert len(written.name) < 200
    assert set(load_results(written)["suite"]) == {suite_name}  # the name itself is kept, as data
