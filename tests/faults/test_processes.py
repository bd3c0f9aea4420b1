"""Every process a worker creates ends with the run, including a daemon that left the worker's process
group and session: a cgroup holds it where one can be made, else the worker adopts it as a subreaper
and the process tree is walked."""

import os
from pathlib import Path

import pytest

from gbtest import own_stderr, results_path
from gemmbench.data.results import load_results
from gemmbench.measure import reaping

pytestmark = pytest.mark.slow  # real runs through the CLI: .ci/run and `pytest --slow` run them

SUITE = "name: daemons\nbackends: ['test-fork:{variant}', test-good]\ncases: [{{name: a, m: 16, k: 8}}, " \
        "{{name: b, m: 8, k: 8}}]\n"


def cgroups_possible() -> bool:
    cage = reaping.Cage()
    try:
        return cage.cgroup is not None
    finally:
        cage.remove()


def leftover_cgroups() -> list:
    """gemmbench cgroups whose creating process is gone: what a finished run left behind (a run going on
    beside the test, on a shared machine, has its own, with its creator alive)."""
    home = reaping._own_cgroup()
    return [] if home is None else [p for p in home.glob(f"{reaping.PREFIX}*")
                                    if p.name.split("-")[1] not in ("", str(os.getpid()))
                                    and not Path(f"/proc/{p.name.split('-')[1]}").exists()]


@pytest.mark.parametrize("containment", ["cgroup", "process tree"])
@pytest.mark.parametrize("variant, status", [("detach", "ok"), ("detach-crash", "crashed")])
def test_a_detached_daemon_does_not_outlive_the_run(plugins, write_suite, tmp_path, recorded, cli, monkeypatch,
                                                    containment, variant, status):
    if containment == "cgroup" and not cgroups_possible():
        pytest.skip("no cgroup (v2) can be made here: the process tree is the net")
    if containment == "process tree":
        if variant == "detach-crash":
            pytest.skip("once a worker has died on its own, only a cgroup still holds what it detached")
        monkeypatch.setenv("GEMMBENCH_NO_CGROUP", "1")
    before = leftover_cgroups()
    result = cli("run", write_suite(SUITE.format(variant=variant)), "-o", tmp_path / "out", "--no-progress")
    assert own_stderr(result.stderr) == ""
    rows = {(r.case, r.backend): r for r in load_results(results_path(result.stdout)).itertuples()}
    assert {rows[(case, "test-fork")].status for case in "ab"} == {status}
    assert {rows[(case, "test-good")].status for case in "ab"} == {"ok"}
    assert len(recorded.pids()) == 2  # a daemon per case, each in a session of its own
    assert recorded.wait_until_gone() == []
    assert leftover_cgroups() == before
