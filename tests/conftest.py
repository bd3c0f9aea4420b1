from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from gbtest import FAST_DEFAULTS, PLUGINS, ROOT, run_cli  # noqa: F401  (helpers shared with test modules)
from gemmbench import registry


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true",
                     help="also run the tests marked slow (real suites, valgrind, Chromium, qemu): what .ci/run does")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes tens of seconds or more; runs with --slow (and in .ci/run)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow (as .ci/run and README's test command do)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def plugins(monkeypatch):
    """The misbehaving test backends, visible here and in worker processes."""
    path = os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.syspath_prepend(str(PLUGINS))
    registry.refresh()
    yield
    registry.refresh()


# Compiled kernels (and the roofline) for every test session, this process and the workers and CLIs it
# starts, kept between sessions: a library's cache key hashes its sources, compiler and flags, so
# every library found there was built from the sources under test. Nothing is read from or left in
# the user's cache; tests of the cache itself point GEMMBENCH_CACHE elsewhere; a fresh clone (CI)
# builds it afresh. pytest-xdist's workers share it (libraries land in it atomically).
TEST_CACHE = ROOT / ".cache" / "tests"


@pytest.fixture(scope="session", autouse=True)
def native_cache(tmp_path_factory: pytest.TempPathFactory):
    """The tests' own cache of compiled kernels (TEST_CACHE), never the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GEMMBENCH_CACHE", str(TEST_CACHE))
    mp.delenv("GEMMBENCH_CPU_FLAGS", raising=False)  # the real CPU, unless a test simulates one
    yield
    mp.undo()


@pytest.fixture
def write_suite(tmp_path):
    """Write a suite YAML (FAST_DEFAULTS prepended unless given) and return its path."""

    def write(body: str, name: str = "suite.yaml", fast: bool = True) -> Path:
        body = textwrap.dedent(body)
        text = (FAST_DEFAULTS + body) if fast and "defaults:" not in body else body
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def quick_results(tmp_path_factory) -> Path:
    """A real results file: the quick suite's cases run by the real CLI on numpy.

    25 samples instead of quick's 7, so rank tests on copies derived from it have the power a
    careful comparison would have (quick's 7 samples with one slow outlier cannot reach p < 0.01).
    """
    import yaml

    folder = tmp_path_factory.mktemp("quick")
    suite = yaml.safe_load((ROOT / "suites" / "quick.yaml").read_text())
    suite["defaults"].update(samples=25, max_time=1.0)
    suite["backends"] = ["numpy"]  # one ok row per case: the comparisons below count rows
    path = folder / "quick.yaml"
    path.write_text(yaml.safe_dump(suite))
    result = run_cli("run", path, "-o", folder / "results", "-q", "--no-progress")
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())


@pytest.fixture
def run_rows(write_suite, tmp_path):
    """Run a suite body for real (workers, parquet) and return its rows keyed (case, backend, variant)."""
    from gemmbench.cases.suite import load_suite
    from gemmbench.data.results import load_results
    from gemmbench.measure.runner import RunOptions, run_suite

    def run(body: str, key: tuple[str, ...] = ("case", "backend", "variant"), **options):
        outcome = run_suite(load_suite(write_suite(body)), RunOptions(out_dir=tmp_path / "out", progress=False,
                                                                      **options))
        rows = {tuple(getattr(r, column) for column in key): r for r in load_results(outcome.path).itertuples()}
        assert len(rows) == len(load_results(outcome.path)), f"rows are not unique by {key}"
        return rows

    return run
