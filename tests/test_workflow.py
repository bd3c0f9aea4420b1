"""The CI workflow: valid YAML, names only commands and options the CLI has, and its steps run here."""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gbtest import ROOT
from gemmbench.cli import build_parser
from gemmbench.machine.fingerprint import fingerprint

pytestmark = pytest.mark.slow  # real runs through the CLI: .ci/run and `pytest --slow` run them

WORKFLOW = ROOT / ".github" / "workflows" / "bench.yml"
SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "&", "(", ")"}


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(job: str) -> list[dict]:
    return workflow()["jobs"][job]["steps"]


def gemmbench_commands(script: str) -> list[list[str]]:
    """Each `gemmbench ...` invocation in a shell script, as argument lists, cut at pipes and redirections."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        current = None
        for token in lexer:
            if token in SHELL_OPERATORS:
                current = None
            elif token == "gemmbench" and current is None:
                current = []
                commands.append(current)
            elif current is not None:
                current.append(token)
    return commands


def all_commands() -> list[list[str]]:
    return [cmd for job in workflow()["jobs"].values() for step in job["steps"]
            for cmd in gemmbench_commands(step.get("run", ""))]


def available_commands() -> set[str]:
    parser = build_parser()
    return set(next(a for a in parser._actions if a.dest == "command").choices)


def test_workflow_is_valid_yaml_with_jobs_and_triggers():
    data = workflow()
    triggers = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert {"push", "pull_request"} <= set(triggers)
    run, fleet = data["jobs"]["run"], data["jobs"]["fleet"]
    assert len(run["strategy"]["matrix"]["runner"]) >= 2 and fleet["needs"] == "run"
    for job in data["jobs"].values():
        assert job["runs-on"] and job["steps"]
        for step in job["steps"]:
            assert ("run" in step) != ("uses" in step), step


def test_workflow_names_only_commands_and_options_that_exist():
    commands = all_commands()
    named = {cmd[0] for cmd in commands}
    assert {"run", "merge", "compare"} <= named
    have = available_commands()
    for cmd in commands:
        assert cmd[0] in have, f"the workflow runs `gemmbench {cmd[0]}`, which this CLI does not have"
        try:
            build_parser().parse_args(cmd)
        except SystemExit:
            pytest.fail(f"the workflow runs `gemmbench {shlex.join(cmd)}`, which this CLI does not accept")


def run_steps(job: str, cwd: Path, env: dict) -> dict[str, subprocess.CompletedProcess]:
    """A job's shell steps as the runner would run them; `uses:` and install steps are done by the test."""
    done = {}
    for step in steps(job):
        script = step.get("run")
        if script is None or "pip install" in script:
            continue
        assert "${{" not in script, "run scripts take values from env:, so they run unchanged here"
        done[step["name"]] = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                                            cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return done


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """The `run` job on this machine, then its artifact laid out as download-artifact does."""
    runner = tmp_path_factory.mktemp("runner")
    shutil.copytree(ROOT / "suites", runner / "suites")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = run_steps("run", runner, env)
    assert {"machine", "run the quick suite"} <= set(done)
    for name, result in done.items():
        assert result.returncode == 0, (name, result.stderr)
    downloaded = tmp_path_factory.mktemp("download") / "artifacts" / "results-local"
    shutil.copytree(runner / "results" / "run", downloaded / "results" / "run")
    return downloaded.parent, env


def fleet_job(artifacts, workdir: Path, with_baselines: bool) -> tuple[dict, str]:
    folder, env = artifacts
    shutil.copytree(folder, workdir / "artifacts")
    if with_baselines and (ROOT / "results" / "baseline").is_dir():
        shutil.copytree(ROOT / "results" / "baseline", workdir / "results" / "baseline")
    summary = workdir / "summary.md"
    done = run_steps("fleet", workdir, {**env, "GITHUB_STEP_SUMMARY": str(summary)})
    return done, summary.read_text() if summary.exists() else ""


def this_feature_key() -> str:
    return fingerprint().feature_key


def test_fleet_job_compares_against_the_committed_baseline(artifacts, tmp_path):
    done, summary = fleet_job(artifacts, tmp_path, with_baselines=True)
    assert done["merge"].returncode == 0, done["merge"].stderr
    key = this_feature_key()
    assert (tmp_path / "fleet" / f"feature_key={key}").is_dir()
    compare = done["compare each machine with the baseline of its feature key"]
    if (ROOT / "results" / "baseline" / key).is_dir():
        # Whether this machine is slower than its baseline right now is timing, not for a unit test.
        assert compare.returncode in (0, 1), compare.stderr
        assert f"## gemmbench compare: results/baseline/{key} -> fleet/feature_key={key}" in summary
        assert "Traceback" not in compare.stderr
    else:
        assert compare.returncode == 0 and f"No baseline for feature key {key}" in summary


def test_fleet_job_without_a_baseline_says_so_and_passes(artifacts, tmp_path):
    done, summary = fleet_job(artifacts, tmp_path, with_baselines=False)
    compare = done["compare each machine with the baseline of its feature key"]
    assert compare.returncode == 0, compare.stderr
    assert f"No baseline for feature key {this_feature_key()}" in summary


def test_the_committed_baseline_is_tracked_and_readable():
    from gemmbench.data.results import load_results

    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "results/baseline"], capture_output=True,
                            text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    files = [line for line in listed.stdout.splitlines() if line.endswith(".parquet")]
    assert files, "a baseline is committed under results/baseline/<feature_key>/"
    for name in files:
        frame = load_results(ROOT / name)
        assert Path(name).parent.name in set(frame["feature_key"])
        assert set(frame["suite"]) == {"quick"} and set(frame["status"]) <= {"ok", "unavailable", "skipped"}


NEW_EPYC_KEY = "amd-26-2+avx2+avx512f+avx512_vnni+avx512_bf16"  # the old baseline's CPU under today's key format
# A quick run of 2026-11-22 (schema 2), stored under the first key format (brand string + flags).
OLD_BASELINE = ROOT / "results" / "baseline" / "amd-epyc+avx2+avx512f+avx512_vnni+avx512_bf16"


def epyc_artifacts(tmp_path, feature_key=NEW_EPYC_KEY, slowdown=2.0, **columns) -> tuple[Path, dict]:
    """A `run` job's artifact as the committed baseline's machine would upload it now: its rows, keyed
    in today's format, every sample `slowdown` times slower."""
    import numpy as np

    from gbtest import write_results
    from gemmbench.data.results import load_results

    rows = load_results(OLD_BASELINE)
    rows = rows.assign(feature_key=feature_key, run_id="epyc-now", **columns,
                       samples_ns=[None if s is None else np.asarray(s) * slowdown for s in rows["samples_ns"]],
                       native_samples_ns=[None if s is None else np.asarray(s) * slowdown
                                          for s in rows["native_samples_ns"]])
    out = tmp_path / "artifacts" / "results-epyc" / "results" / "run"
    out.mkdir(parents=True)
    write_results(rows, out / "quick-epyc-now.parquet", run_id="epyc-now")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return tmp_path / "artifacts", env


def epyc_baseline(root: Path, name: str) -> None:
    """The committed rows keyed as the EPYC's today, stored as its baseline under `name`."""
    from gbtest import write_results
    from gemmbench.data.results import load_results

    rows = load_results(OLD_BASELINE).assign(feature_key=NEW_EPYC_KEY)
    write_results(rows, root / "results" / "baseline" / name / "quick-epyc.parquet", run_id="epyc-base")


def test_a_baseline_under_the_machine_s_key_gates_the_fleet(tmp_path):
    artifacts = epyc_artifacts(tmp_path / "in")
    epyc_baseline(tmp_path / "job", NEW_EPYC_KEY)
    done, summary = fleet_job(artifacts, tmp_path / "job", with_baselines=False)
    compare = done["compare each machine with the baseline of its feature key"]
    assert compare.returncode == 1, compare.stderr  # twice as slow
    assert f"fleet/feature_key={NEW_EPYC_KEY}" in summary and "REGRESSION" in summary


def test_a_baseline_under_the_first_key_format_gates_nothing(tmp_path):
    """A brand-string key named Zen 4 and Zen 5 alike: it is not this machine's baseline."""
    artifacts = epyc_artifacts(tmp_path / "in")
    job = tmp_path / "job"
    shutil.copytree(OLD_BASELINE, job / "results" / "baseline" / OLD_BASELINE.name)
    done, summary = fleet_job(artifacts, job, with_baselines=False)
    compare = done["compare each machine with the baseline of its feature key"]
    assert compare.returncode == 0 and f"No baseline for feature key {NEW_EPYC_KEY}" in summary


def test_a_baseline_of_the_key_under_another_name_fails_the_job_loudly(tmp_path):
    artifacts = epyc_artifacts(tmp_path / "in", slowdown=1.0)
    job = tmp_path / "job"
    epyc_baseline(job, "amd-epyc-renamed-by-hand")
    done, summary = fleet_job(artifacts, job, with_baselines=False)
    compare = done["compare each machine with the baseline of its feature key"]
    assert compare.returncode == 1 and f"Finding the baseline of feature key {NEW_EPYC_KEY} failed" in summary
    assert "is stored under amd-epyc-renamed-by-hand; move it to" in compare.stderr


def test_baseline_command_refuses_a_simulated_cpu_and_says_when_there_is_none(tmp_path, cli):
    artifacts, _ = epyc_artifacts(tmp_path / "sim", feature_key=NEW_EPYC_KEY + "+simulated")
    simulated = cli("baseline", artifacts, "--root", ROOT / "results" / "baseline")
    assert simulated.returncode == 2 and "measured on a simulated CPU" in simulated.stderr
    artifacts, _ = epyc_artifacts(tmp_path / "other", feature_key="intel-6-85+avx2+avx512f", cpu_model="Intel Xeon")
    none = cli("baseline", artifacts, "--root", ROOT / "results" / "baseline")
    assert none.returncode == 1 and none.stdout == "" and "no baseline for" in none.stderr


def test_the_counts_job_gates_on_the_committed_instruction_counts(tmp_path):
    """The counts job's compare step against the committed counts: a copy of them passes; the same
    rows 5% up (one kernel made slower by an extra pass) fail the 2% gate."""
    from gbtest import write_results
    from gemmbench.data.results import load_results

    committed = ROOT / "results" / "instructions-baseline"
    counts = load_results(committed)
    assert set(counts["metric"]) == {"instructions"} and counts["instructions"].notna().any()
    same = tmp_path / "same" / "results" / "counts"
    write_results(counts, same / "same.parquet", run_id="same")
    shutil.copytree(committed, tmp_path / "same" / "results" / "instructions-baseline")
    slower = counts.assign(instructions=[n * 1.05 if b == "csimd" and v == "avx2" else n
                                         for n, b, v in zip(counts["instructions"], counts["backend"], counts["variant"])])
    worse = tmp_path / "worse" / "results" / "counts"
    write_results(slower, worse / "worse.parquet", run_id="worse")
    shutil.copytree(committed, tmp_path / "worse" / "results" / "instructions-baseline")
    # a pull request: the base revision's counts (here the slower ones) are the baseline, not the committed
    write_results(slower, tmp_path / "pr" / "results" / "base-counts" / "base.parquet", run_id="base")
    write_results(counts, tmp_path / "pr" / "results" / "counts" / "new.parquet", run_id="new")
    shutil.copytree(committed, tmp_path / "pr" / "results" / "instructions-baseline")
    script = next(step["run"] for step in steps("counts") if step.get("name") == "compare with the base counts")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    outputs = {}
    for where, expected in (("same", 0), ("worse", 1), ("pr", 0)):
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=tmp_path / where,
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == expected, (where, done.stdout[-2000:], done.stderr)
        outputs[where] = done.stdout
    assert "instructions" in outputs["worse"] and "slower" in outputs["worse"]
    assert " instr |" in outputs["worse"]  # a counted row shows its counts, not just "ok"
    assert "faster" in outputs["pr"]  # judged against the base revision's counts
