"""Every filter-bank implementation against the float64 reference: odd sizes, state carried
across calls, subnormal tails, the floating-point control word left as found."""

import numpy as np
import pytest

from gemmbench import registry
from gemmbench.backends.csimd import kernels
from gemmbench.backends.iir import csimd_direct
from gemmbench.backends.iir.csimd_direct import CsimdDirect
from gemmbench.backends.iir.numpy_block import NumpyBlock
from gemmbench.backends.iir.numpy_loop import NumpyLoop
from gemmbench.backends.iir.scipy_sosfilt import ScipySosfilt
from gemmbench.cases.workload import aligned_empty
from gemmbench.machine import native
from gemmbench.op import Calls, Case
from gemmbench.ops.iir_bank import IirBank, IirBankSpec, make

pytestmark = pytest.mark.slow  # every kernel x variant x shape: .ci/run and `pytest --slow`

OP = IirBank()
LEVELS = [level.name for level in kernels.float32_levels()]


def level_or_skip(level: str) -> str:
    missing = native.missing_cpu_flags(level)
    if missing:
        pytest.skip(f"CPU lacks {', '.join(missing)}")
    return level


def torch_or_skip(name: str):
    torch_lfilter = pytest.importorskip("gemmbench.backends.iir.torch_lfilter")
    pytest.importorskip("torchaudio" if name == "TorchLfilter" else "torch")
    return getattr(torch_lfilter, name)


IMPLEMENTATIONS = {
    "numpy-loop": NumpyLoop,
    "torch-lfilter": lambda w: torch_or_skip("TorchLfilter")(w),
    "torch-loop": lambda w: torch_or_skip("TorchLoop")(w),
    "numpy-block16": lambda w: NumpyBlock(w, 16),
    "numpy-block128": lambda w: NumpyBlock(w, 128),
    "scipy": ScipySosfilt,
    **{f"csimd-{level}": (lambda w, level=level: CsimdDirect(w, level_or_skip(level))) for level in LEVELS},
    **{f"csimd-block{length}-{level}": (lambda w, level=level, length=length:
                                        CsimdDirect(w, level_or_skip(level), length=length))
       for level in ("avx2", "avx512") for length in (16, 128)},
}
# T = 1001: a multiple of neither 16 nor 8 nor any block length; F = 21: of neither 8 nor 16; S > 1
ODD = [IirBankSpec(b=3, t=1001, f=21, s=2, output="full"),
       IirBankSpec(b=3, t=1001, f=21, s=2, output="energy", frame=77),
       IirBankSpec(b=1, t=300, f=5, s=3, pole_radius=0.999, output="full"),
       IirBankSpec(b=9, t=256, f=16, s=1, design="log", output="energy", frame=1)]


def verdict(run, workload, native_call=False):
    out = aligned_empty(workload.reference.shape, np.float32)
    native = (lambda: run.run_native(workload.x, out, 1)) if run.overrides("run_native") else None
    calls = Calls(out, lambda: run.run(workload.x, out), native, run.reset)
    return OP.verify(workload, calls, "float32", native=native_call), out


@pytest.fixture(scope="module", params=range(len(ODD)), ids=lambda i: f"{ODD[i].output}-s{ODD[i].s}-b{ODD[i].b}")
def workload(request):
    return make(Case("odd", "iir_bank", ODD[request.param], "float32", seed=3))


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_first_and_second_call_match_the_reference(name, workload):
    run = IMPLEMENTATIONS[name](workload)
    result, _ = verdict(run, workload)
    assert result.ok, result.message
    if run.overrides("run_native"):
        result, _ = verdict(run, workload, native_call=True)
        assert result.ok, result.message


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_reset_forgets_the_state_and_calls_continue_it(name):
    w = make(Case("s", "iir_bank", IirBankSpec(b=2, t=200, f=9, s=2, pole_radius=0.99, output="full"), seed=4))
    run = IMPLEMENTATIONS[name](w)
    out = aligned_empty(w.reference.shape, np.float32)
    run.run(w.x, out)
    first = out.copy()
    run.run(w.x, out)
    assert np.allclose(out, w.second_reference, rtol=0, atol=1e-5)
    assert not np.allclose(out, first, rtol=0, atol=1e-3)  # the state moved on
    run.reset()
    run.run(w.x, out)
    assert np.array_equal(out, first)


def test_a_wrong_state_is_caught_by_verify():
    w = make(Case("s", "iir_bank", IirBankSpec(b=2, t=200, f=9, pole_radius=0.99), seed=4))
    run = NumpyLoop(w)
    forgetful = Calls(aligned_empty(w.reference.shape, np.float32), lambda: (run.reset(), run.run(w.x, forgetful.out)),
                      None, run.reset)
    result = OP.verify(w, forgetful, "float32")
    assert not result.ok and result.message.startswith("the second call (continuing the first)")


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("ftz", [True, False])
def test_subnormal_tails_and_the_control_word(level, ftz):
    """A burst then silence: every filter's tail decays through the subnormal range."""
    level_or_skip(level)
    spec = IirBankSpec(b=2, t=4000, f=19, pole_radius=0.9, output="full", signal="burst")
    w = make(Case("tail", "iir_bank", spec, "float32", seed=5))
    run = CsimdDirect(w, level, ftz=ftz)
    before = csimd_direct.library(level).gb_iir_fp_control()
    result, out = verdict(run, w)
    assert result.ok, result.message
    assert csimd_direct.library(level).gb_iir_fp_control() == before
    tiny = np.finfo(np.float32).tiny
    subnormal = np.count_nonzero((out != 0) & (np.abs(out) < tiny))
    assert (subnormal == 0) if ftz else (subnormal > 0)
    assert np.float32(tiny) / np.float32(4) != 0  # numpy after the call still sees subnormals


def test_csimd_refuses_more_sections_than_its_kernel_takes():
    case = Case("deep", "iir_bank", IirBankSpec(b=1, t=10, f=2, s=5))
    method = registry.methods.get("iir-csimd")
    assert "up to 4 sections" in method.skip_reason(case, method.variants()[0])


def test_block_error_grows_with_the_pole_radius_not_past_the_gate():
    """The block form in float32 at L = 128, radius 0.9999: its error is measured, and stays inside
    the tolerance the op sets for that radius (1e-3)."""
    w = make(Case("r", "iir_bank", IirBankSpec(b=2, t=2048, f=6, pole_radius=0.9999, output="full"), seed=6))
    result, _ = verdict(NumpyBlock(w, 128), w)
    assert result.ok and result.tolerance == pytest.approx(1e-3, rel=1e-3), result
