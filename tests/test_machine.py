"""The machine: simulated CPU feature sets, feature keys, per-core caches, and `gemmbench info`/`list`."""

import json
import os
import subprocess
import sys

import pytest

from gemmbench.errors import UsageError
from gemmbench.machine import caches, cpusim, featurekey, isa, native
from gemmbench.machine import fingerprint as machine

# SIMD-relevant flags of the development VM (Intel Xeon, AVX-512 FP16 and AMX) and of the AMD EPYC
# Zen 5 the committed baseline was measured on (its rows' cpu_flags).
XEON = frozenset("amx_bf16 amx_int8 amx_tile avx avx2 avx512_bf16 avx512_bitalg avx512_fp16 avx512_vbmi2 avx512_vnni "
                 "avx512_vpopcntdq avx512bw avx512cd avx512dq avx512f avx512ifma avx512vbmi avx512vl avx_vnni bmi2 "
                 "f16c fma sse4_1 sse4_2 ssse3 sse sse2 pni".split())
EPYC = frozenset("avx avx2 avx512_bf16 avx512_bitalg avx512_vbmi2 avx512_vnni avx512_vp2intersect avx512_vpopcntdq "
                 "avx512bw avx512cd avx512dq avx512f avx512ifma avx512vbmi avx512vl avx_vnni bmi2 f16c fma sse4_1 "
                 "sse4_2 sse4a ssse3 sse sse2 pni".split())
AVX512 = {f for f in XEON if f.startswith(("avx512", "amx"))}


def test_hiding_a_flag_hides_what_builds_on_it():
    simulated = cpusim.parse("-avx512f", XEON)
    assert simulated.hidden == AVX512 and simulated.flags == XEON - AVX512
    assert cpusim.parse("-avx", XEON).flags == XEON - AVX512 - {"avx", "avx2", "avx_vnni", "fma", "f16c"}
    assert cpusim.parse(" -amx_tile, -avx512_fp16 ", XEON).hidden == {"amx_tile", "amx_int8", "amx_bf16", "avx512_fp16"}


def test_a_list_keeps_the_simd_flags_it_names_and_what_they_build_on():
    simulated = cpusim.parse("avx2", XEON)
    assert {"avx2", "fma", "f16c", "bmi2", "avx", "sse4_2", "sse4_1", "ssse3", "sse", "sse2", "pni"} == simulated.flags
    assert simulated.hidden == AVX512 | {"avx_vnni"}
    assert cpusim.parse("avx512f avx512_vnni", EPYC).flags >= {"avx512f", "avx512_vnni", "avx2"}


def test_a_simulation_only_takes_flags_away():
    nothing = cpusim.parse("-amx_tile", EPYC)  # the EPYC has no AMX: nothing to hide, but still a simulation
    assert nothing.hidden == frozenset() and nothing.flags == EPYC
    assert "amx_tile" not in cpusim.parse("amx_tile,avx2", EPYC).flags  # a list never adds a flag
    assert cpusim.parse("", XEON) is None and cpusim.parse(" , ", XEON) is None


@pytest.mark.parametrize("spec, message", [
    ("-avx512f,avx2", "either hide flags (every name with a leading '-'"),
    ("-avx512", "unknown CPU flag 'avx512': neither this CPU nor gemmbench knows it"),
    ("AVX2", "unknown CPU flag 'AVX2'"),
])
def test_a_bad_simulation_is_refused_with_one_line(spec, message, cli):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        cpusim.parse(spec, XEON)
    result = cli("info", env={**os.environ, "GEMMBENCH_CPU_FLAGS": spec})
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


NUMPY_2_4 = {"dispatch": ["X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"], "baseline": ["X86_V2"]}
NUMPY_1_26 = {"dispatch": ["SSSE3", "SSE41", "POPCNT", "SSE42", "AVX", "F16C", "FMA3", "AVX2", "AVX512F",
                           "AVX512CD", "AVX512_KNL", "AVX512_KNM", "AVX512_SKX", "AVX512_CLX", "AVX512_CNL",
                           "AVX512_ICL"], "baseline": ["SSE", "SSE2", "SSE3"]}


def disabled(spec, tables, flags=XEON, enabled=None):
    enabled = enabled or {name: True for name in tables["dispatch"] if name not in ("AVX512_KNL", "AVX512_KNM")}
    return cpusim.numpy_disabled(cpusim.parse(spec, flags), enabled, tables["dispatch"], tables["baseline"], "x")


def test_numpy_is_told_which_of_its_dispatch_targets_the_simulated_cpu_lacks():
    assert disabled("-avx512f", NUMPY_2_4) == ["X86_V4", "AVX512_ICL", "AVX512_SPR"]
    assert disabled("-avx2", NUMPY_2_4) == NUMPY_2_4["dispatch"]
    assert disabled("-avx512_fp16", NUMPY_2_4) == ["AVX512_SPR"]
    assert disabled("-amx_tile", NUMPY_2_4) == []
    assert disabled("-avx512_vnni", NUMPY_1_26) == ["AVX512_CLX", "AVX512_ICL"]  # SKX and CNL stay
    assert disabled("-avx512f", {**NUMPY_2_4, "dispatch": ["X86_V5"]}) == ["X86_V5"]  # unknown: assume the worst
    assert disabled("-avx512f", NUMPY_2_4, enabled={"X86_V3": True}) == []  # what numpy does not use stays off


def test_a_flag_numpy_cannot_run_without_cannot_be_hidden():
    with pytest.raises(UsageError, match=r"hides sse4_2, which numpy x cannot run without \(its baseline: X86_V2\)"):
        disabled("-sse4_2", NUMPY_2_4)


def test_blas_and_dnn_libraries_are_capped_and_openblas_forced_only_when_its_core_needs_a_hidden_flag():
    def settings(spec, core, flags=XEON, arch="x86_64"):
        return cpusim.library_settings(cpusim.parse(spec, flags), {"OPENBLAS_CORETYPE": core}, arch)

    assert settings("-avx512f", "SkylakeX") == {"OPENBLAS_CORETYPE": "Haswell", "ONEDNN_MAX_CPU_ISA": "AVX2_VNNI",
                                                "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    assert "OPENBLAS_CORETYPE" not in settings("-avx512f", "Haswell")  # its own pick runs on the smaller CPU
    assert settings("-amx_tile", "SapphireRapids")["OPENBLAS_CORETYPE"] == "Cooperlake"
    assert settings("-amx_tile", "SkylakeX") == {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_FP16",
                                                 "MKL_ENABLE_INSTRUCTIONS": "AVX512_E3"}
    neoverse = frozenset({"asimd", "asimddp", "sve", "i8mm"})
    assert settings("-sve", "NeoverseV1", neoverse, "aarch64") == {"OPENBLAS_CORETYPE": "NeoverseN1"}


# ---------------------------------------------------------------- the real path

def test_every_part_asks_cpu_flags_and_it_honours_the_simulation(monkeypatch):
    monkeypatch.delenv("GEMMBENCH_CPU_FLAGS", raising=False)
    assert machine.cpu_flags() == machine.real_cpu_flags() and not machine.machine_key().endswith("+simulated")
    monkeypatch.setenv("GEMMBENCH_CPU_FLAGS", "-avx2")
    assert "avx2" not in machine.cpu_flags() and machine.cpu_flags() <= machine.real_cpu_flags()
    assert "avx2" in native.missing_cpu_flags("avx2") and native.missing_cpu_flags("scalar") == ()
    assert machine.machine_key().endswith("+simulated") and machine.fingerprint().feature_key == machine.machine_key()
    assert "GEMMBENCH_CPU_FLAGS=-avx2 hides" in machine.fingerprint().cpu_simulation


def test_a_real_run_leaves_the_libraries_alone(monkeypatch):
    monkeypatch.delenv("GEMMBENCH_CPU_FLAGS", raising=False)
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    monkeypatch.delenv("NPY_DISABLE_CPU_FEATURES", raising=False)
    assert machine.simulation_environment() == {}  # what the supervisor adds to a worker's environment


WORKER_VIEW = """
import json, numpy
from numpy._core import _multiarray_umath as umath
from threadpoolctl import threadpool_info
print(json.dumps({"enabled": [k for k in umath.__cpu_dispatch__ if umath.__cpu_features__.get(k)],
                  "cores": [lib.get("architecture") for lib in threadpool_info() if lib["internal_api"] == "openblas"]}))
"""


def test_a_worker_s_numpy_and_openblas_see_the_simulated_cpu(monkeypatch):
    pytest.importorskip("numpy._core._multiarray_umath")
    monkeypatch.setenv("GEMMBENCH_CPU_FLAGS", "-avx512f")
    simulated = machine.simulation()
    env = {**os.environ, **machine.simulation_environment()}  # a worker's, as the supervisor starts it
    seen = json.loads(subprocess.run([sys.executable, "-c", WORKER_VIEW], env=env, capture_output=True, text=True,
                                     check=True).stdout)
    for name in seen["enabled"]:  # no numpy target the simulated CPU could not run
        assert not set(cpusim.NUMPY_FEATURES.get(name, ("?",))) & simulated.hidden, name
    needs = {value.lower(): set(flags) for lib in cpusim.LIBRARIES for value, flags in lib.choices
             if lib.variable == "OPENBLAS_CORETYPE"}
    for core in filter(None, seen["cores"]):  # what threadpoolctl says OpenBLAS really runs
        assert not needs.get(core.lower(), set()) & simulated.hidden, core


# ---------------------------------------------------------------- feature keys

XEON_CPUINFO = {"vendor_id": "GenuineIntel", "cpu family": "6", "model": "167",
                "model name": "Intel(R) Xeon(R) Processor"}
EPYC_CPUINFO = {"vendor_id": "AuthenticAMD", "cpu family": "26", "model": "2", "model name": "AMD EPYC"}
NEOVERSE_CPUINFO = {"CPU implementer": "0x41", "CPU architecture": "8", "CPU part": "0xd0c"}


def test_every_level_s_key_flag_has_its_place_in_the_key():
    for level in isa.LEVELS.values():
        if level.key_flag:
            assert level.key_flag in isa.KEY_FLAGS[level.arch], level.name


def test_feature_keys_name_vendor_family_model_and_key_flags():
    xeon = featurekey.identity(XEON_CPUINFO)
    assert machine.feature_key(xeon, XEON) == \
        "intel-6-167+avx2+avx512f+avx512_vnni+avx512_bf16+avx512_fp16+amx_tile"
    assert machine.feature_key(featurekey.identity(EPYC_CPUINFO), EPYC) == \
        "amd-26-2+avx2+avx512f+avx512_vnni+avx512_bf16"
    assert machine.feature_key(featurekey.identity(NEOVERSE_CPUINFO), {"asimd", "asimddp"}) == "arm-0xd0c+asimd+asimddp"
    assert machine.feature_key(xeon, XEON - AVX512, simulated=True) == "intel-6-167+avx2+simulated"
    assert featurekey.identity({"model name": "x"}) is None
    assert machine.feature_key("Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz", {"avx2"}) == "intel-xeon-e5-2690-v4+avx2"


def test_this_machine_s_key_is_readable(monkeypatch):
    monkeypatch.delenv("GEMMBENCH_CPU_FLAGS", raising=False)
    key = machine.machine_key()
    identity = machine.cpu_identity()
    if identity is None:
        pytest.skip("the OS reports no CPUID vendor/family/model (nor aarch64 implementer/part)")
    assert key.startswith(identity.slug + "+") or key == identity.slug
    assert "-r-" not in key and "(" not in key


# ---------------------------------------------------------------- caches

def fake_sysfs(root, cpus=4, threads_per_core=2):
    """A sysfs cpu tree: two hardware threads per core, L1d and L2 per core, one L3 for all."""
    for cpu in range(cpus):
        core = cpu // threads_per_core
        siblings = f"{core * threads_per_core}-{core * threads_per_core + threads_per_core - 1}"
        (root / f"cpu{cpu}" / "topology").mkdir(parents=True)
        (root / f"cpu{cpu}" / "topology" / "thread_siblings_list").write_text(siblings + "\n")
        for index, (level, kind, size, shared) in enumerate([(1, "Data", "48K", siblings), (1, "Instruction", "32K",
                                                              siblings), (2, "Unified", "1024K", siblings),
                                                             (3, "Unified", "32768K", f"0-{cpus - 1}")]):
            folder = root / f"cpu{cpu}" / "cache" / f"index{index}"
            folder.mkdir(parents=True)
            for name, value in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)):
                (folder / name).write_text(f"{value}\n")
    return root


def test_caches_are_reported_one_cache_each_with_how_many(tmp_path):
    found = caches.caches(fake_sysfs(tmp_path))
    assert [(c.name, c.size, c.instances, c.shared_by, c.per_core) for c in found] == [
        ("L1d", 48 << 10, 2, 2, True), ("L1i", 32 << 10, 2, 2, True), ("L2", 1 << 20, 2, 2, True),
        ("L3", 32 << 20, 1, 4, False)]
    assert [caches.describe(c) for c in found] == ["48 KiB per core, 2 of them", "32 KiB per core, 2 of them",
                                                   "1 MiB per core, 2 of them", "32 MiB shared by 4 CPUs, 1 of them"]
    assert caches.data_cache_sizes(found) == {"L1": 48 << 10, "L2": 1 << 20, "L3": 32 << 20}
    assert caches.caches(tmp_path / "nothing") == []


def test_info_prints_one_cache_per_line_and_the_simulation(cli):
    found = caches.caches()
    result = cli("info", env={**os.environ, "GEMMBENCH_CPU_FLAGS": "-avx512f"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for cache in found:
        assert f"{cache.name + ' cache':22} {caches.describe(cache)}" in lines
    assert not any(line.startswith(("l1_data_cache ", "l2_cache ")) for line in lines)  # no totals as if one cache
    assert any(line.startswith("feature_key") and line.endswith("+simulated") for line in lines)
    assert any(line.startswith("cpu_simulation         GEMMBENCH_CPU_FLAGS=-avx512f hides") for line in lines)
    as_json = json.loads(cli("info", "--json").stdout)
    assert as_json["caches"] == [dict(c.__dict__) for c in found] and as_json["simulation"] is None


def test_list_marks_the_variants_a_simulated_cpu_lacks(cli):
    result = cli("list", env={**os.environ, "GEMMBENCH_CPU_FLAGS": "-avx"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("simulated CPU: GEMMBENCH_CPU_FLAGS=-avx hides")
    csimd = next(line for line in result.stdout.splitlines() if line.startswith("csimd "))
    assert "scalar," in csimd and "avx2*" in csimd and "avx512*" in csimd
    assert "* this CPU lacks a flag the variant needs" in result.stdout


def test_info_names_the_isa_levels_this_cpu_runs_and_those_it_lacks(monkeypatch, cli):
    from gemmbench.machine import isa

    monkeypatch.setattr(isa, "host_arch", lambda: "aarch64")
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"fp", "asimd"}))  # a Cortex-A53: no dot product
    assert machine.isa_levels() == {"isa_levels": "scalar neon", "isa_levels_lacking": "neon-dotprod (asimddp)"}
    monkeypatch.undo()
    if isa.host_arch() != "x86_64":
        pytest.skip("the CLI half simulates an x86 CPU")
    result = cli("info", env={**os.environ, "GEMMBENCH_CPU_FLAGS": "-avx512f"})
    lines = result.stdout.splitlines()
    assert any(line.startswith("isa_levels             scalar") and "avx512" not in line for line in lines)
    lacking = next(line for line in lines if line.startswith("isa_levels_lacking"))
    assert "avx512 (avx512f" in lacking and "avx512vnni (avx512f" in lacking
