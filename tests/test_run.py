"""Whole runs through real worker processes, with backends that misbehave for real."""

import math

import pytest

from gemmbench.cases.suite import load_suite
from gemmbench.data.results import load_results, read_metadata
from gemmbench.machine.fingerprint import real_cpu_flags
from gemmbench.measure.runner import RunOptions, run_suite

CASES = """
name: faults
cases:
  - {name: small, m: 32, k: 16}
  - {name: batch, op: gemm, m: 32, k: 16, n: 4}
"""


def run(write_suite, tmp_path, backends, body=CASES, **options):
    suite = load_suite(write_suite(body + f"backends: {backends}\n"))
    return run_suite(suite, RunOptions(out_dir=tmp_path / "out", progress=False, **options))


def by_key(frame):
    return {(r.case, r.backend, r.variant): r for r in frame.itertuples()}


def test_good_rows_are_verified_timed_and_fingerprinted(write_suite, tmp_path):
    outcome = run(write_suite, tmp_path, "[numpy]")
    assert outcome.exit_status == 0
    frame = load_results(outcome.path)
    assert set(frame["status"]) == {"ok"} and len(frame) == 2
    for r in frame.itertuples():
        assert r.rel_err < 1e-6 and len(r.samples_ns) == 3 and r.loops >= 1
        assert r.median_ns > 0 and r.min_ns <= r.median_ns and r.gflops == r.flops / r.median_ns
        assert r.cpu_model and r.host and r.blas and r.python_version and r.git_sha and r.feature_key
        assert r.blas_threads == 1 and r.threads == 1 and r.cpus
    assert read_metadata(outcome.path)["complete"] is True


def test_wrong_result_is_recorded_and_never_timed(plugins, write_suite, tmp_path):
    outcome = run(write_suite, tmp_path, "[test-wrong, test-good]")
    assert outcome.exit_status == 1
    rows = by_key(load_results(outcome.path))
    wrong = rows[("small", "test-wrong", "default")]
    assert wrong.status == "wrong" and "exceeds the float32 tolerance" in wrong.message
    assert abs(wrong.rel_err - 0.05) < 1e-4
    assert wrong.samples_ns is None and math.isnan(wrong.median_ns)
    assert rows[("small", "test-good", "default")].status == "ok"


def test_drift_after_repeated_calls_is_wrong(plugins, write_suite, tmp_path):
    rows = by_key(load_results(run(write_suite, tmp_path, "[test-drift]").path))
    drift = rows[("small", "test-drift", "default")]
    assert drift.status == "wrong" and "after repeated calls" in drift.message


def test_segfault_costs_only_its_own_row(plugins, write_suite, tmp_path):
    outcome = run(write_suite, tmp_path, "[test-segfault, numpy]")
    assert outcome.exit_status == 1
    rows = by_key(load_results(outcome.path))
    for case in ("small", "batch"):
        crashed = rows[(case, "test-segfault", "crash")]
        assert crashed.status == "crashed" and "SIGSEGV" in crashed.message
        assert rows[(case, "test-segfault", "fine")].status == "ok"  # a new worker took over
        assert rows[(case, "numpy", "matmul")].status == "ok"
    assert len(rows) == 6


def test_exception_is_an_error_row(plugins, write_suite, tmp_path):
    rows = by_key(load_results(run(write_suite, tmp_path, "[test-raises]").path))
    row = rows[("small", "test-raises", "default")]
    assert row.status == "error" and "RuntimeError: deliberate failure in prepare" in row.message


def test_hang_becomes_a_timeout_row(plugins, write_suite, tmp_path):
    body = CASES.replace("{name: small, m: 32, k: 16}", "{name: small, m: 32, k: 16, timeout: 1}")
    body = body.replace("{name: batch, op: gemm, m: 32, k: 16, n: 4}", "{name: batch, m: 8, k: 8, timeout: 1}")
    outcome = run(write_suite, tmp_path, "[test-hang]", body=body)
    rows = by_key(load_results(outcome.path))
    assert {r.status for r in rows.values()} == {"timeout"}
    assert "1 s timeout" in rows[("small", "test-hang", "default")].message


def test_unavailable_backend_gives_rows_with_the_reason(plugins, write_suite, tmp_path):
    outcome = run(write_suite, tmp_path, "[test-broken-import]")
    assert outcome.exit_status == 0
    rows = load_results(outcome.path)
    assert set(rows["status"]) == {"unavailable"} and rows["message"].str.contains("ModuleNotFoundError").all()


def test_threads_beyond_the_machine_are_skipped(write_suite, tmp_path):
    outcome = run(write_suite, tmp_path, "[numpy]", threads=(1, 4096))
    rows = load_results(outcome.path)
    skipped = rows[rows.threads == 4096]
    assert len(skipped) == 2 and set(skipped["status"]) == {"skipped"}
    assert skipped["message"].str.contains("needs 4096 CPUs").all()


def test_runtime_registration_reaches_the_workers(write_suite, tmp_path, plugins):
    from gemmbench import registry

    registry.backends.register("again-good", "gemmbench_testplugins:GoodBackend")
    try:
        rows = load_results(run(write_suite, tmp_path, "[again-good]").path)
        assert set(rows["status"]) == {"ok"} and set(rows["backend"]) == {"again-good"}
    finally:
        registry.backends.unregister("again-good")


def test_isa_cap_and_list_select_variants_and_missing_flags_are_unavailable(plugins, write_suite, tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("GEMMBENCH_CPU_FLAGS", "-avx")  # a CPU without AVX (so without AVX2, AVX-512), on any host
    body = "name: isa\ncases:\n  - {name: small, m: 32, k: 16}\n"
    everything = {r.variant: r for r in load_results(run(write_suite, tmp_path, "[test-isa]", body=body).path)
                  .itertuples()}
    assert set(everything) == {"scalar", "avx2", "avx512", "bf16", "generic"}
    for variant, lacking in (("avx2", "avx2, fma"), ("avx512", "avx512f"), ("bf16", "avx512_bf16")):
        assert (everything[variant].status, everything[variant].message) == ("unavailable", f"CPU lacks {lacking}")
    assert everything["bf16"].isa == "avx512bf16"
    assert {everything[v].status for v in ("scalar", "generic")} == {"ok"}
    assert {r.feature_key.rsplit("+", 1)[-1] for r in everything.values()} == {"simulated"}
    assert "avx" not in everything["scalar"].cpu_flags.split() and "avx2" not in everything["scalar"].cpu_flags
    capped = load_results(run(write_suite, tmp_path, "[test-isa]", body=body, isa="avx2").path)
    assert set(capped["variant"]) == {"scalar", "avx2", "generic"}
    listed = load_results(run(write_suite, tmp_path, "[test-isa]", body=body + "isa: scalar,avx512bf16\n").path)
    assert set(listed["variant"]) == {"scalar", "bf16", "generic"}
    branch = load_results(run(write_suite, tmp_path, "[test-isa]", body=body, isa="avx512bf16").path)
    assert set(branch["variant"]) == {"scalar", "avx2", "avx512", "bf16", "generic"}  # the cap follows the table


def test_a_simulated_cpu_without_avx512_still_runs_what_it_keeps(plugins, write_suite, tmp_path, monkeypatch):
    if not {"avx2", "fma"} <= real_cpu_flags():
        pytest.skip("needs a CPU with avx2 and fma: a simulation can only take flags away")
    monkeypatch.setenv("GEMMBENCH_CPU_FLAGS", "-avx512f")
    body = "name: isa\ncases:\n  - {name: small, m: 32, k: 16}\n"
    rows = {r.variant: r for r in load_results(run(write_suite, tmp_path, "[test-isa, numpy]", body=body).path)
            .itertuples()}
    assert {rows[v].status for v in ("scalar", "avx2", "generic", "matmul")} == {"ok"}
    assert rows["avx512"].message == "CPU lacks avx512f" and rows["bf16"].status == "unavailable"
    assert not any(flag.startswith(("avx512", "amx")) for flag in rows["avx2"].cpu_flags.split())
    core = rows["matmul"].blas.split()
    if core[0] == "openblas":  # threadpoolctl's report of the core OpenBLAS really ran in the worker
        assert not {"SkylakeX", "Cooperlake", "SapphireRapids"} & set(core), rows["matmul"].blas
