"""The csimd backend through real runs: real compiled C, real workers, real parquet."""

import os
import shutil

import pytest

from gemmbench.backends.csimd import kernels
from gemmbench.backends.csimd.backend import CSimdBackend
from gemmbench.cases.suite import load_suite
from gemmbench.data.results import load_results
from gemmbench.machine import native
from gemmbench.measure.runner import RunOptions, run_suite

SUITE = """
name: csimd
backends: [csimd]
cases:
  - {name: odd, m: 1000, k: 383}
  - {name: tiny, m: 5, k: 3}
  - {name: batch, op: gemm, m: 40, k: 24, n: 5}
  - {name: lpcnet16x1, m: 96, k: 32, density: {u: 0.1, r: 0.1, s: 0.3}, block: 16x1, keep_diagonal: true}
  - {name: sparse8x4, m: 64, k: 32, density: 0.2, block: 8x4}
  - {name: f64, m: 16, k: 16, dtype: float64}
"""


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("csimd")
    (tmp / "s.yaml").write_text(SUITE.replace("backends:", "defaults: {warmup: 0.001, min_time: 0.0002, "
                                                         "samples: 3, max_time: 0.05}\nbackends:"))
    outcome = run_suite(load_suite(tmp / "s.yaml"), RunOptions(out_dir=tmp, progress=False))
    return {(r.case, r.variant): r for r in load_results(outcome.path).itertuples()}


def test_every_kernel_is_verified_and_timed_natively(rows):
    ok = [r for r in rows.values() if r.status == "ok"]
    assert {r.status for r in rows.values()} <= {"ok", "skipped", "unavailable"}
    for r in ok:
        assert r.native_median_ns > 0 and len(r.native_samples_ns) == 3 and r.native_loops >= 1
        assert r.median_ns > 0 and r.isa and "cc -O" in r.detail
    dense = {"scalar", "avx2", "avx512", "scalar-int8", "avx2-int8", "avx512-int8", "avx512vnni-int8",
             "avx512-bf16", "avx512bf16-bf16", "avx2-fp16", "avx512-fp16", "avx512fp16-fp16"}
    expected_ok = {
        "odd": dense,
        "tiny": dense,
        "batch": {"scalar", "avx2", "avx512", "scalar-int8", "avx2-int8", "avx512-int8", "avx512vnni-int8", "amx-int8",
                  "amx-bf16"},
        "lpcnet16x1": {"scalar", "avx2", "avx512", "avx512-bf16", "avx512bf16-bf16", "avx2-fp16", "avx512-fp16",
                       "avx512fp16-fp16"},
        "sparse8x4": {"scalar-int8", "avx2-int8", "avx512-int8", "avx512vnni-int8"},
        "f64": set(),
    }
    lacking = {isa for isa in kernels.LEVELS if native.missing_cpu_flags(isa)}  # unavailable rows here
    for case, variants in expected_ok.items():
        got = {variant for (c, variant), r in rows.items() if c == case and r.status == "ok"}
        assert got == {v for v in variants if rows[(case, v)].isa not in lacking and not amx_refused(rows[(case, v)])}, case


def amx_refused(row) -> bool:
    """An AMX row Linux refused the tile state (on a CPU that has AMX): unavailable with the reason."""
    return row.status == "unavailable" and "arch_prctl(ARCH_REQ_XCOMP_PERM" in row.message


def test_amx_rows_are_judged_in_their_precision_and_carry_their_error(rows):
    for variant, precision, scheme in (("amx-int8", "int8", "w127-row-u8off"), ("amx-bf16", "bf16", "tdpbf16ps")):
        row = rows[("batch", variant)]
        if row.status == "unavailable":
            continue
        assert row.status == "ok" and row.precision == precision and scheme in row.detail
        assert row.rel_err < {"int8": 0.05, "bf16": 0.01}[precision] and "amx_" in row.detail


def test_int8_rows_are_judged_as_int8_and_carry_their_error(rows):
    row = rows[("odd", "avx512vnni-int8")]
    assert row.precision == "int8" and row.tolerance == 0.05
    assert 0.001 < row.rel_err < 0.05 and row.snr_db > 26
    assert "w127-row-u8off" in row.detail and "avx512vnni" in row.detail
    assert "w63-row-u8off" in rows[("odd", "avx2-int8")].detail  # maddubs-safe 7-bit weights
    assert rows[("odd", "avx512")].rel_err < 1e-6


def test_bf16_rows_are_judged_as_bf16_and_say_how_they_multiply(rows):
    for variant, how in (("avx512-bf16", "widened to float32"), ("avx512bf16-bf16", "vdpbf16ps")):
        row = rows.get(("odd", variant))
        if row is None or row.status == "unavailable":
            continue
        assert row.precision == "bf16" and row.tolerance == 0.01 and how in row.detail
        assert 1e-4 < row.rel_err < 0.005 and row.snr_db > 45


def test_fp16_rows_are_judged_as_fp16_and_say_how_they_multiply(rows):
    for variant, how, most in (("avx2-fp16", "widened to float32", 5e-4), ("avx512-fp16", "widened to float32", 5e-4),
                               ("avx512fp16-fp16", "vfmadd231ph", 1e-3)):
        for case in ("odd", "lpcnet16x1"):
            row = rows.get((case, variant))
            if row is None or row.status == "unavailable":
                continue
            assert row.precision == "fp16" and row.tolerance == 2e-3 and how in row.detail
            assert 1e-5 < row.rel_err < most and row.snr_db > 60


def test_skips_say_why(rows):
    assert "int8 sparse kernel takes 8x4 blocks" in rows[("lpcnet16x1", "avx2-int8")].message
    assert "float32 sparse kernel takes 16x1 blocks" in rows[("sparse8x4", "avx2")].message
    assert "bf16 sparse kernel takes 16x1 blocks" in rows[("sparse8x4", "avx512-bf16")].message
    assert "GEMMs are dense float32 and int8 (and bf16 on AMX tiles" in rows[("batch", "avx512-bf16")].message
    assert "this case is fp16" in rows[("batch", "avx2-fp16")].message
    assert "fp16 sparse kernel takes 16x1 blocks" in rows[("sparse8x4", "avx2-fp16")].message
    for variant in ("amx-int8", "amx-bf16"):
        if rows[("odd", variant)].status == "skipped":  # else unavailable here, with the reason
            assert "the AMX tile kernels run dense batched GEMM only; this case is gemv" in rows[("odd", variant)].message
            assert "this case is sparse gemv" in rows[("sparse8x4", variant)].message
    assert "does not take dtype float64" in rows[("f64", "avx2")].message


def test_batched_rows_name_the_gemm_kernels(rows):
    assert rows[("batch", "scalar")].detail.startswith("sgemm (scalar)")
    assert rows[("batch", "scalar-int8")].detail.startswith("int8_gemm (scalar)")
    assert rows[("odd", "scalar-int8")].detail.startswith("int8_gemv (scalar)")


def test_useful_flops_count_stored_weights(rows):
    sparse = rows[("lpcnet16x1", "avx512")]
    assert sparse.useful_flops < sparse.flops and sparse.density < 0.5
    assert rows[("odd", "avx512")].useful_flops == rows[("odd", "avx512")].flops


def test_a_missing_cpu_flag_makes_the_variant_unavailable_not_a_crash():
    backend = CSimdBackend()
    vnni = next(v for v in backend.variants() if v.name == "avx512vnni-int8")
    avx512 = frozenset({"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq"})
    ok, reason = backend.variant_available(vnni, avx512)
    assert not ok and reason == "CPU lacks avx512_vnni"
    fp16 = next(v for v in backend.variants() if v.name == "avx512fp16-fp16")
    assert backend.variant_available(fp16, avx512) == (False, "CPU lacks avx512_fp16")


def test_isa_cap_runs_only_levels_up_to_it(write_suite, tmp_path):
    suite = load_suite(write_suite("name: cap\nbackends: [csimd]\ncases: [{name: a, m: 32, k: 16}]\n"))
    frame = load_results(run_suite(suite, RunOptions(out_dir=tmp_path, isa="avx2", progress=False)).path)
    assert set(frame["variant"]) == {"scalar", "avx2", "scalar-int8", "avx2-int8", "avx2-fp16"}


def test_no_compiler_makes_csimd_unavailable_with_the_reason(cli, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CC"}
    env.update(PATH=str(tmp_path), GEMMBENCH_CACHE=str(tmp_path / "cache"))
    result = cli("list", env=env)
    assert result.returncode == 0, result.stderr
    line = next(l for l in result.stdout.splitlines() if l.startswith("csimd"))
    assert "unavailable" in line and "no C compiler found" in line
    numpy_line = next(l for l in result.stdout.splitlines() if l.startswith("numpy"))
    assert " available" in numpy_line  # every other backend still runs


def build_report(stdout: str) -> dict[str, str]:
    """`gemmbench build`'s csimd line as {'avx2': 'cached', 'iir scalar': 'compiled', ...}."""
    what = stdout.split("csimd kernels: ", 1)[1].splitlines()[0].strip()
    return dict(item.removesuffix(")").rsplit(" (", 1) for item in what.split(", "))


@pytest.mark.slow  # two CLI builds and a compile: seconds
def test_build_command_compiles_then_reuses(cli, tmp_path, monkeypatch):
    """Into a cache holding every library this (simulated AVX2) CPU runs but one, copied from the test run's
    cache: the first build compiles that one and finds the others, the second finds all."""
    monkeypatch.setenv("GEMMBENCH_CPU_FLAGS", "-avx512f")  # at most scalar and avx2 on any host
    runs_here = [(family, level) for family in ("csimd", *kernels.FAMILIES) for level in kernels.family_levels(family)
                 if not native.missing_cpu_flags(level)]
    fresh = ("iir", "scalar")  # the cheapest library to compile
    for family, level in runs_here:
        if (family, level) != fresh:  # built once per test run (conftest.native_cache)
            name = "csimd" if family == "csimd" else f"csimd-{family}"
            shutil.copy2(native.build(kernels.sources(family), level, name=name), tmp_path)
    env = dict(os.environ, GEMMBENCH_CACHE=str(tmp_path))
    first = cli("build", "--backend", "csimd", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    names = {(family, level): level if family == "csimd" else f"{family} {level}" for family, level in runs_here}
    assert build_report(first.stdout) == {name: "compiled" if key == fresh else "cached" for key, name in names.items()}
    second = cli("build", "--backend", "csimd", env=env)
    assert build_report(second.stdout) == {name: "cached" for name in names.values()}
    assert len(list(tmp_path.glob("csimd-*.so"))) == len(runs_here)  # one library per family and level
