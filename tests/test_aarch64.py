"""csimd's aarch64 levels (scalar, neon, neon-dotprod): every kernel on small, odd and vocoder shapes.

On an x86 host the library is cross-built by gemmbench.machine.native with the level's flags and run under
qemu-aarch64 (tests/qemu_aarch64.py), fed the very buffers kernels.py and lpcnet.py prepare; on an
aarch64 host the same cases run natively through kernels.py. Correctness only, never timing:
float32 against gemmbench's float64 reference within float32's summation bound, int8 bit for bit
against int8-numpy running the scheme the variant names, the fused step against the float64 step.
Also: the disassembly shows NEON (fmla, sdot; smull without the dot product extension) and the
dotprod build dies of SIGILL on a core without it (qemu's cortex-a53).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import numpy as np
import pytest

import qemu_aarch64 as Q
from gemmbench.backend import Variant
from gemmbench.backends.csimd import kernels as K
from gemmbench.backends.csimd import lpcnet
from gemmbench.backends.csimd.backend import CSimdBackend
from gemmbench.backends.int8_numpy import Int8NumpyBackend
from gemmbench.cases.workload import make_workload
from gemmbench.machine import isa, native
from gemmbench.measure import verify
from gemmbench.op import Case
from gemmbench.ops.lpcnet_step import LpcnetStep, StepSpec, judge_draws
from gemmbench.ops.matrix import Sparsity, matrix_case

NATIVE = Q.NATIVE
EPS32 = float(np.finfo(np.float32).eps)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(native.find_compiler() is None, reason="no C compiler found")]
needs_tools = pytest.mark.skipif(bool(Q.missing_tools()), reason=Q.missing_tools() or "-")
emulated_only = pytest.mark.skipif(NATIVE or bool(Q.missing_tools()), reason=Q.missing_tools() or "emulation only")


def aarch64_variants() -> list[Variant]:
    """csimd's variants as an aarch64 machine lists them (the backend's own rule, on that arch's levels)."""
    original = isa.host_arch
    isa.host_arch = lambda: "aarch64"
    try:
        return [v for v in CSimdBackend().variants() if v.ops is None]  # the products and the step, not conv1d or iir
    finally:
        isa.host_arch = original


VARIANTS = {v.name: v for v in aarch64_variants()}
LPCNET_16X1 = Sparsity((0.05, 0.05, 0.2), (16, 1), True)
# (m, k, n, sparsity) per kernel: GRU-A 1152x384 and GRU-B 48x384, the output layer 512x16, and
# ragged ones (rows not a multiple of 16, k not a multiple of 4 or 16). With a diagonal, a gate's
# rows equal k (the workload puts it at r % (m / gates), the kernels at r % k).
SHAPES = {
    "dense": [(1152, 384, 1, None), (48, 384, 1, None), (512, 16, 1, None), (37, 13, 1, None),
              (1000, 383, 1, None), (17, 1, 1, None), (5, 7, 1, None), (33, 130, 1, None)],
    "gemm": [(40, 24, 5, None), (37, 13, 3, None), (48, 384, 8, None)],
    "16x1": [(1152, 384, 1, LPCNET_16X1), (48, 16, 1, LPCNET_16X1), (96, 37, 1, Sparsity((0.2,), (16, 1)))],
    "8x4": [(1152, 384, 1, Sparsity((0.1, 0.1, 0.1), (8, 4), True)), (48, 16, 1, Sparsity((0.3,) * 3, (8, 4), True)),
            (88, 40, 1, Sparsity((0.25,), (8, 4)))],
}
KERNELS = {"float32": ("dense", "gemm", "16x1"), "int8": ("dense", "8x4")}
# The fused step: (GRU-A kind, k, sparsity, sizes, steps, start); the ragged sizes put no vector loop
# on a multiple of 16, and 158 + 4 samples cross a frame boundary (new conditioning).
LPCNET = dict(hidden_b=16, cond_size=128, levels=256, frame_size=160)
RAGGED = dict(hidden_b=8, cond_size=12, levels=40, frame_size=7)
STEPS = {
    "float32": [("dense", 384, None, LPCNET, 3, 0), ("16x1", 384, LPCNET_16X1, LPCNET, 4, 158),
                ("dense-ragged", 40, None, RAGGED, 9, 0), ("16x1-ragged", 48, LPCNET_16X1, RAGGED, 9, 0)],
    "int8": [("dense", 384, None, LPCNET, 3, 0), ("8x4", 384, Sparsity((0.1,), (8, 4)), LPCNET, 4, 158),
             ("dense-ragged", 40, None, RAGGED, 9, 0),
             ("8x4-diag-ragged", 40, Sparsity((0.1, 0.1, 0.3), (8, 4), True), RAGGED, 9, 0)],
}


def variant_params(*precisions: str) -> list:
    return [pytest.param(v, id=name) for name, v in VARIANTS.items() if (v.precision or "float32") in precisions]


# ---- executing on the target: under qemu here, natively on an aarch64 host ----

@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    """level -> qemu_aarch64.Target, built on first use (one cross build per level, cached by native)."""
    built: dict[str, Q.Target] = {}
    directory = tmp_path_factory.mktemp("aarch64")

    def get(level: str) -> Q.Target:
        if level not in built:
            built[level] = Q.make_target(level, directory)
        return built[level]
    return get


@dataclass
class Executor:
    """Prepares with the target's facts and runs batches of calls and steps, on the target."""

    level: str
    target: Q.Target | None  # None: natively

    @property
    def kernels(self) -> K.Kernels:
        return K.load_kernels(self.level) if self.target is None else self.target.packer

    def calls(self, jobs: list[tuple[K.Operand, np.ndarray, np.ndarray]], runs: int = 2) -> list[list[np.ndarray]]:
        """Each (operand, x, y) called `runs` times (forwards, then backwards where it alternates): the outputs."""
        if self.target is None:
            return [self._native_calls(K.bind(operand, x, y), x, y, runs) for operand, x, y in jobs]
        return Q.run_images(self.target, [Q.call_image(K.bind(op), x, y, runs) for op, x, y in jobs])

    @staticmethod
    def _native_calls(call: K.Call, x: np.ndarray, y: np.ndarray, runs: int) -> list[np.ndarray]:
        outputs = []
        for _ in range(runs):
            K.run(call, x, y)
            outputs.append(y.copy())
        return outputs

    def steps(self, jobs: list[tuple[lpcnet.LpcnetStep, np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        if self.target is None:
            for step, x, out in jobs:
                lpcnet.run(step, x, out)
            return [out for _, _, out in jobs]
        return [o[0] for o in Q.run_images(self.target, [Q.step_image(step, x, out) for step, x, out in jobs])]


@pytest.fixture
def on_target(targets):
    def make(variant: Variant) -> Executor:
        if not NATIVE and Q.missing_tools():
            pytest.skip(Q.missing_tools())
        if NATIVE:
            missing = native.missing_cpu_flags(variant.isa)
            if missing:
                pytest.skip(f"CPU lacks {', '.join(missing)}")
            return Executor(variant.isa, None)
        return Executor(variant.isa, targets(variant.isa))
    return make


# ---- the products ----

def gemv_jobs(executor: Executor, precision: str, kind: str):
    for m, k, n, sparsity in SHAPES[kind]:
        case = matrix_case(f"{kind}-{m}x{k}", m, k, n, sparsity=sparsity)
        wl = make_workload(case)
        operand = K.prepare_gemv(executor.kernels, wl.weights, precision,
                                 wl.block_mask if sparsity else None, wl.diagonal)
        yield wl, operand, np.full(wl.reference.shape, np.nan, np.float32)


def int8_numpy_output(wl) -> np.ndarray:
    """int8-numpy's w127-row-u8off on the same workload: what the aarch64 int8 kernels must return."""
    backend, variant = Int8NumpyBackend(), Variant("w127-row-u8off", precision="int8")
    out = np.empty(wl.reference.shape, np.float32)
    backend.run(backend.prepare(wl, variant), wl.x, out)
    return out


@pytest.mark.parametrize("variant", variant_params("float32", "int8"))
def test_every_product_kernel_on_vocoder_and_odd_shapes(variant: Variant, on_target) -> None:
    executor = on_target(variant)
    precision = variant.precision or "float32"
    for kind in KERNELS[precision]:
        jobs = list(gemv_jobs(executor, precision, kind))
        outputs = executor.calls([(op, wl.x, y) for wl, op, y in jobs])
        for (wl, operand, _), runs in zip(jobs, outputs):
            label = f"{variant.name} {operand.kernel} {wl.case.name} n={wl.case.spec.n}"
            y = runs[0].reshape(wl.reference.shape)
            if precision == "int8":
                assert operand.scheme.name == "w127-row-u8off", label
                np.testing.assert_array_equal(y, int8_numpy_output(wl), err_msg=label)
            else:
                w64, x64 = wl.weights.astype(np.float64), wl.x.astype(np.float64)
                bound = wl.case.spec.k * EPS32 * (np.abs(w64) @ np.abs(x64))
                assert (np.abs(y - wl.reference) <= bound + 1e-30).all(), label
                assert verify.check(y, wl.reference, "float32").ok, label
            for again in runs[1:]:  # the next call walks the other way past 32 KiB: the same arithmetic
                np.testing.assert_array_equal(again.reshape(y.shape), y, err_msg=label)


# ---- the fused step ----

def step_case(name: str, k: int, sparsity, sizes: dict, steps: int, start: int, **choices) -> Case:
    return Case(name, "lpcnet_step", StepSpec(3 * k, k, 1, sparsity, **sizes, steps=steps, start=start, **choices))


@pytest.mark.parametrize("variant", variant_params("float32", "int8"))
def test_the_fused_lpcnet_step(variant: Variant, on_target) -> None:
    executor = on_target(variant)
    precision = variant.precision or "float32"
    jobs, workloads = [], []
    for name, k, sparsity, sizes, steps, start in STEPS[precision]:
        wl = make_workload(step_case(name, k, sparsity, sizes, steps, start))
        step = lpcnet.prepare_step(executor.kernels, wl, precision)
        assert step.products["gru_a"].kernel == {"dense": "sgemv" if precision == "float32" else "int8_gemv",
                                                 "16x1": "sparse16_sgemv", "8x4": "sparse8x4_int8_gemv"}[
                                                     name.split("-")[0]]
        jobs.append((step, wl.x, np.full(wl.reference.shape, np.nan, np.float32)))
        workloads.append(wl)
    for wl, out in zip(workloads, executor.steps(jobs)):
        verdict = verify.check(out, wl.reference, precision)
        assert verdict.ok, f"{variant.name} {wl.case.name}: {verdict.message}"
        if precision == "float32":
            assert verdict.rel_err < 2e-6, (wl.case.name, verdict.rel_err)
        levels = wl.case.spec.levels
        assert np.sum(out[-levels:], dtype=np.float64) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("variant", variant_params("float32", "int8"))
def test_the_fused_step_draws_down_the_tree_with_either_activation(variant: Variant, on_target) -> None:
    """NEON's reciprocal refinement, fold-and-compare and draws: the tree judged as the gate judges it."""
    executor = on_target(variant)
    precision = variant.precision or "float32"
    jobs, workloads = [], []
    for name, k, sparsity, sizes, steps, start in STEPS[precision]:
        for activation in ("accurate", "fast"):
            tree_sizes = {**sizes, "levels": 32 if sizes["levels"] & (sizes["levels"] - 1) else sizes["levels"]}
            wl = make_workload(step_case(name, k, sparsity, tree_sizes, 3 * steps, start, output="tree",
                                         sampling="on", activation=activation))
            step = lpcnet.prepare_step(executor.kernels, wl, precision)
            jobs.append((step, wl.x, np.full(wl.reference.shape, np.nan, np.float32)))
            workloads.append(wl)
    for wl, out in zip(workloads, executor.steps(jobs)):
        verdict = judge_draws(wl, out, precision, LpcnetStep().tolerance(wl.case, precision))
        assert verdict.ok, f"{variant.name} {wl.case.name} {wl.case.spec.activation}: {verdict.message}"
        if precision == "float32" and wl.case.spec.activation == "accurate":
            n = wl.case.spec.state_size
            np.testing.assert_array_equal(out[n:], wl.reference[n:])


# ---- the variants an aarch64 machine offers ----

def test_an_aarch64_machine_lists_the_neon_variants_and_names_their_int8_scheme() -> None:
    assert list(VARIANTS) == ["scalar", "neon", "scalar-int8", "neon-int8", "neon-dotprod-int8"]
    for name in ("neon-int8", "neon-dotprod-int8"):
        assert "int8 scheme w127-row-u8off" in VARIANTS[name].detail
    assert "sdot" in VARIANTS["neon-dotprod-int8"].detail and "smull" in VARIANTS["neon-int8"].detail
    assert "-DGB_NEON" in VARIANTS["neon"].detail and "-march=armv8.2-a+dotprod" in VARIANTS["neon-dotprod-int8"].detail
    backend = CSimdBackend()
    a53 = frozenset({"fp", "asimd"})  # Cortex-A53 (Raspberry Pi 3): Armv8.0, no dot product
    assert backend.variant_available(VARIANTS["neon-int8"], a53) == (True, "")
    assert backend.variant_available(VARIANTS["neon-dotprod-int8"], a53) == (False, "CPU lacks asimddp")


# ---- the code is NEON, and the dotprod build needs the dot product ----

@needs_tools
def test_the_disassembly_is_neon_where_it_should_be() -> None:
    entries = ("gbi_dense_f32", "gbi_sparse16_f32", "gbi_dense_int8", "gbi_sparse8x4_int8", "gb_lpcnet_step")
    code = {level: Q.disassembly(Q.build_library(level)) for level in Q.LEVELS}
    ran = {level: {entry: Q.reachable_mnemonics(code[level], entry) for entry in entries} for level in Q.LEVELS}
    for level in ("neon", "neon-dotprod"):
        for entry in ("gbi_dense_f32", "gbi_sparse16_f32", "gb_lpcnet_step"):
            assert "fmla" in ran[level][entry], (level, entry)
    for entry in ("gbi_dense_int8", "gbi_sparse8x4_int8"):
        assert "sdot" in ran["neon-dotprod"][entry] and "smull" not in ran["neon-dotprod"][entry], entry
        assert {"smull", "smull2", "sadalp"} <= ran["neon"][entry] and "sdot" not in ran["neon"][entry], entry
        for level in Q.LEVELS:
            assert "udot" not in ran[level][entry] and "usdot" not in ran[level][entry]
    for entry in entries:  # the portable build stays portable: no vector arithmetic at all
        assert not ran["scalar"][entry] & {"fmla", "sdot", "smull", "smull2", "sadalp"}, entry


@needs_tools
def test_the_roofline_probes_measure_neon_on_the_neon_levels() -> None:
    from gemmbench.machine.roofline import PROBE_SOURCES

    for level, fma, int8 in (("neon", "fmla", {"smull", "smull2", "sadalp"}), ("neon-dotprod", "fmla", {"sdot"})):
        code = Q.disassembly(Q.build_library(level, PROBE_SOURCES, name="roofline"))
        assert fma in Q.reachable_mnemonics(code, "gb_probe_fma"), level
        assert int8 <= Q.reachable_mnemonics(code, "gb_probe_int8"), level


@emulated_only
def test_the_dotprod_build_dies_on_a_core_without_it(targets, tmp_path) -> None:
    """qemu's cortex-a53 (Armv8.0) traps sdot: SIGILL. The same image passes on cortex-a76 and max,
    and the plain NEON build (smull) passes on the a53 too."""
    wl = make_workload(matrix_case("gru_b", 48, 384))
    for level, expected in (("neon-dotprod", {"cortex-a53": False, "cortex-a76": True, "max": True}),
                            ("neon", {"cortex-a53": True})):
        target = targets(level)
        operand = K.prepare_gemv(target.packer, wl.weights, "int8")
        image = tmp_path / f"{level}.img"
        image.write_bytes(Q.call_image(K.bind(operand), wl.x, np.zeros(48, np.float32)).encode())
        for cpu, passes in expected.items():
            out = tmp_path / f"{level}-{cpu}.out"
            done = subprocess.run(target.command(cpu, "run", str(image), str(out)), capture_output=True, text=True,
                                  timeout=Q.RUN_TIMEOUT)
            if passes:
                assert done.returncode == 0, (level, cpu, done.stderr)
                np.testing.assert_array_equal(np.fromfile(out, np.float32).reshape(2, -1)[0], int8_numpy_output(wl))
            else:
                assert done.returncode == -4 and "Illegal instruction" in done.stderr, (level, cpu, done)


@emulated_only
def test_the_target_reports_its_level_and_lays_out_the_structs_as_the_mirrors(targets) -> None:
    for level in Q.LEVELS:
        info = targets(level).info
        assert info.isa == level and info.abi == K.ABI_VERSION and info.int8_range == (-128, 127)
        assert info.int8_act_offset == (127 if level == "scalar" else 0) and not info.bf16_rounds_activations
        for name, mirror in (("gb_product", K.Product), ("gb_call", K.CallBlock), ("gb_lpcnet", lpcnet._Net)):
            assert info.layouts[name] == K.mirror_layout(mirror), (level, name)


@pytest.mark.skipif(NATIVE, reason="an aarch64 host needs no cross tools")
def test_without_the_tools_the_emulated_tests_skip_with_the_install_line(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert Q.missing_tools() == ("aarch64-linux-gnu-gcc, aarch64-linux-gnu-objdump, qemu-aarch64 missing: "
                                 "apt-get install -y gcc-aarch64-linux-gnu qemu-user")
