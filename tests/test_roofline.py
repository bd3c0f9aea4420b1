"""The roofline: real probes give ordered plateaus; rows get their attainable bound."""

import json
import os

import pytest

from gemmbench.data.results import load_results, read_metadata
from gemmbench.machine import isa, native, roofline

ROOF = roofline.Roof(
    feature_key="test", measured="2026-01-01T00:00:00+00:00", cpu=0,
    peak_gflops={"scalar": 10.0, "avx2": 100.0, "avx512": 200.0},
    peak_int8_gops={"scalar": 10.0, "avx2": 200.0, "avx512": 400.0, "avx512vnni": 800.0},
    sweep=[(16 << 10, 400.0), (256 << 10, 160.0), (4 << 20, 100.0), (512 << 20, 30.0)],
    caches={"L1": 48 << 10, "L2": 1 << 20, "L3": 32 << 20},
    bandwidth={"L1": 400.0, "L2": 160.0, "L3": 100.0, "memory": 30.0},
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GEMMBENCH_CACHE", str(tmp_path))
    return tmp_path


def test_real_probes_give_levels_from_the_sweep(cache):
    roof = roofline.measure_in_worker(max_bytes=128 << 20)
    names = [level.name for level in roof.levels]
    assert roof.bandwidth == {level.name: level.gbps for level in roof.levels}
    # which caches get a plateau of their own is the sweep's finding (a busy neighbour can blur L1 into L2,
    # test_roofline_levels.py checks the naming on recorded sweeps); every cache is named or said not measured
    assert names[0] != "memory" and roof.levels[0].first == roof.sweep[0][0]
    assert all(name in names or any(note.startswith(f"{name}: not measured") for note in roof.notes)
               for name in roof.caches)
    speeds = [level.gbps for level in roof.levels]
    assert speeds == sorted(speeds, reverse=True) and speeds[-1] > 0  # plateaus apart by STEP, fastest first
    # memory is measured when the sweep got past the last cache plateau, else a note says it was not
    assert "memory" in names or any(note.startswith("memory: not measured") for note in roof.notes)
    assert all(peak > 0 for peak in [*roof.peak_gflops.values(), *roof.peak_int8_gops.values()])
    assert "scalar" in roof.peak_gflops and set(roof.peak_gflops) <= set(roof.peak_int8_gops)
    # bf16 dot products and fp16 multiply-adds are probed on the levels this CPU has, and only there
    halves = {name for name in ("avx512bf16", "avx512fp16") if not native.missing_cpu_flags(isa.get(name))}
    assert set(roof.peak_half_gflops) == halves and all(peak > 0 for peak in roof.peak_half_gflops.values())
    assert [size for size, _ in roof.sweep] == sorted(size for size, _ in roof.sweep)
    assert roof.sweep[0][0] == 16 << 10 and roof.sweep[-1][0] == roofline.sweep_sizes(128 << 20)[-1]


def test_probes_run_only_the_levels_a_simulated_cpu_keeps(cache, monkeypatch):
    monkeypatch.setenv("GEMMBENCH_CPU_FLAGS", "-avx")  # no AVX at all: the scalar probes only, on any host
    roof = roofline.measure_in_worker(max_bytes=64 << 10)
    assert set(roof.peak_gflops) == set(roof.peak_int8_gops) == {"scalar"}
    assert roof.feature_key.endswith("+simulated") and roofline.cache_file().name.startswith(roof.feature_key)


def test_the_sweep_stays_within_a_quarter_of_memory():
    assert roofline.sweep_sizes(512 << 20, memory=1 << 30)[-1] == 256 << 20
    assert roofline.sweep_sizes(1 << 20, memory=1 << 40) == [16 << 10 << i for i in range(7)]


def test_roof_is_cached_per_machine(cache):
    roofline.cache_file().parent.mkdir(parents=True)
    roofline.cache_file().write_text(ROOF.to_json())
    assert roofline.load_or_measure() == ROOF  # the cached roof, not a new measurement
    roofline.cache_file().write_text("{not json")
    fresh = roofline.load_or_measure(max_bytes=1 << 20)  # unreadable cache: measured again
    assert fresh.measured != ROOF.measured and json.loads(roofline.cache_file().read_text())
    older = json.loads(ROOF.to_json())
    del older["format"], older["peak_half_gflops"]  # cached before the half-precision probe
    roofline.cache_file().write_text(json.dumps(older))
    again = roofline.load_or_measure(max_bytes=1 << 20)
    assert again.measured != ROOF.measured and again.format == roofline.ROOF_FORMAT


def row(**overrides):
    base = dict(status="ok", op="gemv", backend="csimd", isa="avx512", precision="float32", dtype="float32",
                m=1152, k=384, n=1, density=1.0, sparsity="", useful_flops=2 * 1152 * 384,
                median_ns=25000.0, native_median_ns=20000.0)
    return {**base, **overrides}


def test_each_level_serves_what_it_holds_of_the_weights():
    l1, l2, l3 = 48 << 10, 1 << 20, 32 << 20
    assert roofline.attainable_bandwidth(16 << 10, ROOF) == pytest.approx(400.0)
    seconds = l1 / 400.0 + (l2 - l1) / 160.0 + (3_000_000 - l2) / 100.0
    assert roofline.attainable_bandwidth(3_000_000, ROOF) == pytest.approx(3_000_000 / seconds)
    huge = 64 * l3
    assert 30.0 < roofline.attainable_bandwidth(huge, ROOF) < 32.0  # mostly memory, L3's share is 1/64
    no_l3 = roofline.Roof(**{**ROOF.__dict__, "caches": {"L1": l1, "L2": l2},
                             "bandwidth": {"L1": 400.0, "L2": 160.0, "memory": 30.0}})
    seconds = l1 / 400.0 + (l2 - l1) / 160.0 + (3_000_000 - l2) / 30.0
    assert roofline.attainable_bandwidth(3_000_000, no_l3) == pytest.approx(3_000_000 / seconds)


def test_dense_float32_gemv_is_bound_by_l2_and_l3_together():
    columns = roofline.row_columns(ROOF, row())
    weights = 1152 * 384 * 4
    assert columns["weight_bytes"] == weights and columns["roof_level"] == "L3"  # 1.77 MB > 1 MiB L2
    intensity = 2 * 1152 * 384 / (weights + 384 * 4 + 1152 * 4)
    bandwidth = roofline.attainable_bandwidth(weights, ROOF)
    assert 100.0 < bandwidth < 160.0  # L2 keeps over half of the weights between calls
    assert columns["roof_gflops"] == pytest.approx(intensity * bandwidth)
    assert columns["roof_pct"] == pytest.approx(100 * (2 * 1152 * 384 / 20000.0) / columns["roof_gflops"])


def test_int8_and_sparse_rows_read_what_their_format_stores():
    int8 = roofline.row_columns(ROOF, row(precision="int8", isa="avx512vnni"))
    assert int8["weight_bytes"] == 1152 * 384 and int8["roof_level"] == "L2"
    sparse = row(sparsity="8x4@0.1", density=0.1, precision="int8", useful_flops=2 * round(0.1 * 1152 * 384))
    blocks = round(0.1 * 1152 * 384) // 32
    assert roofline.weight_bytes(sparse) == round(0.1 * 1152 * 384) + 4 * (blocks + 1152 // 8)
    numpy_dense = row(backend="numpy", isa="", sparsity="16x1@0.1", density=0.1)
    assert roofline.weight_bytes(numpy_dense) == 1152 * 384 * 4  # numpy multiplies the pruned matrix dense


def test_compute_bound_rows_hit_the_peak_and_failed_rows_get_nothing():
    batch = roofline.row_columns(ROOF, row(op="gemm", n=64, m=64, k=64, useful_flops=2 * 64 ** 3, isa="avx2"))
    assert batch["roof_level"] == "L1" and batch["roof_gflops"] == 100.0  # the avx2 peak caps it
    assert roofline.row_columns(ROOF, row(status="wrong")) == {}
    assert roofline.row_columns(ROOF, row(op="lpcnet_step")) == {}
    for level, precision in (("amx-int8", "int8"), ("amx-bf16", "bf16")):  # no probe measures tile peaks
        amx = row(op="gemm", n=64, m=64, k=64, useful_flops=2 * 64 ** 3, isa=level, precision=precision)
        assert roofline.row_columns(ROOF, amx) == {}
    f64 = roofline.row_columns(ROOF, row(op="gemm", n=64, m=64, k=64, useful_flops=2 * 64 ** 3,
                                         dtype="float64", precision="float64"))
    assert f64["roof_gflops"] == 100.0  # half the float32 peak of avx512


def test_run_with_roofline_fills_columns_and_stores_the_roof(cache, cli, write_suite, tmp_path):
    roofline.cache_file().parent.mkdir(parents=True)
    roofline.cache_file().write_text(ROOF.to_json())
    suite = write_suite("name: r\nbackends: [numpy]\ncases: [{name: a, m: 64, k: 32}]\n")
    result = cli("run", suite, "-o", tmp_path / "out", "-q", "--roofline", env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip()
    (r,) = load_results(path).itertuples()
    assert r.roof_level == "L1" and r.roof_gflops > 0 and r.roof_pct > 0 and r.weight_bytes == 64 * 32 * 4
    assert read_metadata(path)["roofline"]["bandwidth"]["L2"] == 160.0


def test_roofline_command_prints_the_cached_roof(cache, cli):
    roofline.cache_file().parent.mkdir(parents=True)
    roofline.cache_file().write_text(ROOF.to_json())
    result = cli("roofline", env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert "avx512vnni" in result.stdout and "800.0" in result.stdout and "L3" in result.stdout
    assert json.loads(cli("roofline", "--json", env=dict(os.environ)).stdout)["feature_key"] == "test"


def test_roofline_command_shows_the_levels_found_and_what_was_not_measured(cache, cli):
    sweep = [(16 << 10 << i, gbps) for i, gbps in enumerate([330, 331, 177, 177, 178, 175, 154, 57, 28, 28, 26])]
    found, notes = roofline.levels(sweep, {"L1": 48 << 10, "L2": 2 << 20, "L3": 480 << 20})
    roof = roofline.Roof(**{**ROOF.__dict__, "sweep": sweep, "levels": tuple(found), "notes": tuple(notes),
                            "bandwidth": {level.name: level.gbps for level in found}})
    roofline.cache_file().parent.mkdir(parents=True)
    roofline.cache_file().write_text(roof.to_json())
    result = cli("roofline", env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.split()[:4] == ["L3", "480", "MiB", "4"] and line.split()[-1] == "28.0" for line in lines)
    assert "note: memory: not measured (the sweep, up to 16 MiB, found no plateau beyond L3's)" in result.stdout


def test_bf16_rows_read_two_bytes_a_weight():
    dense = row(precision="bf16", isa="avx512")
    sparse = row(precision="bf16", sparsity="16x1@0.1", density=0.1, useful_flops=2 * round(0.1 * 1152 * 384))
    blocks = round(0.1 * 1152 * 384) // 16
    assert roofline.weight_bytes(dense) == 1152 * 384 * 2
    assert roofline.weight_bytes(sparse) == 2 * round(0.1 * 1152 * 384) + 4 * (blocks + 1152 // 16)


def test_rows_computing_with_a_half_precision_instruction_take_its_peak():
    halves = roofline.Roof(**{**ROOF.__dict__, "peak_half_gflops": {"avx512bf16": 50.0, "avx512fp16": 400.0}})
    dot = roofline.row_columns(halves, row(precision="bf16", isa="avx512bf16"))  # vdpbf16ps
    assert dot["roof_gflops"] == 50.0
    widened = row(precision="bf16", isa="avx512")  # widened to float32: the FMA peak, and bandwidth
    assert roofline.row_columns(halves, widened) == roofline.row_columns(ROOF, widened)
    fp16 = roofline.row_columns(halves, row(precision="fp16", isa="avx512fp16"))
    assert fp16["roof_gflops"] < 400.0 and fp16["roof_level"] == "L2"  # bandwidth binds below its peak
    cached = json.loads(ROOF.to_json())
    del cached["peak_half_gflops"], cached["format"]  # a roof from before the probe reads as format 1
    assert roofline.Roof.from_json(json.dumps(cached)).format == 1


def test_block_sparse_rows_get_an_in_core_bound_beside_the_roof():
    """One block per cycle at the measured clock; the roof itself does not change with it."""
    sparse = row(sparsity="8x4@0.1", density=0.1, precision="int8", isa="avx512vnni",
                 useful_flops=2 * round(0.1 * 1152 * 384), native_median_ns=700.0)
    blocks = round(0.1 * 1152 * 384) // 32
    clocked = roofline.Roof(**{**ROOF.__dict__, "clock_ghz": 4.0})
    columns = roofline.row_columns(clocked, sparse)
    assert columns["core_bound_ns"] == pytest.approx(blocks / 4.0)
    assert columns["core_pct"] == pytest.approx(100 * blocks / 4.0 / 700.0)
    unclocked = roofline.row_columns(ROOF, sparse)
    assert "core_bound_ns" not in unclocked and unclocked["roof_gflops"] == columns["roof_gflops"]
    assert "core_bound_ns" not in roofline.row_columns(clocked, row())  # dense: bandwidth, not issue


def test_the_clock_probe_measures_a_plausible_clock(cache):
    if native.find_compiler() is None:
        pytest.skip("no C compiler found")
    ghz = roofline.clock_ghz(roofline._library("scalar"))
    assert ghz == 0.0 or 0.3 < ghz < 7.0  # 0 where no multiply latency is known for the architecture
