"""The OpenVINO peer: precision hint explicit, primitive recorded, and the bf16 trap caught by the gate."""

import pytest

from gemmbench import register_backend, registry
from gemmbench.backends.peers.openvino_runtime import OpenVinoBackend
from gemmbench.machine.fingerprint import cpu_flags
from peerstest import check_allocates_no_output, check_in_place, check_odd_rows, need


@pytest.fixture(autouse=True)
def openvino():
    need("openvino")


def needs_bf16() -> None:
    if "avx512_bf16" not in cpu_flags():
        pytest.skip("this CPU lacks avx512_bf16: OpenVINO computes in f32 whatever the hint, so there is no trap")


def test_every_variant_is_right_on_odd_shapes_and_records_what_ran(run_rows):
    rows = check_odd_rows(run_rows, OpenVinoBackend())
    f32 = rows[("odd_gemv", "f32", 2)].detail
    assert "INFERENCE_PRECISION_HINT=float32" in f32 and "INFERENCE_NUM_THREADS=2" in f32
    assert "ran: FullyConnected " in f32 and "(f32)" in f32
    assert "FullyConnected" in rows[("odd_gemm", "int8-weights", 1)].detail
    assert "(i8)" in rows[("odd_gemm", "int8-weights", 1)].detail  # the weights stayed int8


@pytest.mark.parametrize("variant", ["f32", "int8-weights"])
@pytest.mark.parametrize("n", [1, 3])
def test_the_bound_call_reads_and_writes_the_harness_arrays_in_place(variant, n):
    check_in_place(OpenVinoBackend(), variant, n=n)


def test_the_default_hint_on_this_cpu_is_the_trap():
    """Why the hint is always given: without it an 'f32' model computes in bf16 here."""
    needs_bf16()
    import openvino as ov

    assert str(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")) == "<Type: 'bfloat16'>"


def test_a_variant_computing_in_another_precision_than_it_claims_fails(plugins, run_rows):
    """f32 compiled with the bf16 hint comes out 'wrong' at the float32 tolerance, not passed at a looser
    one; bf16 compiled with the f32 hint (more exact than claimed, which no tolerance sees) is refused
    from the runtime graph."""
    needs_bf16()
    register_backend("test-openvino-swapped-hints", "gemmbench_testplugins.openvino_hints:SwappedHintsBackend")
    try:
        rows = run_rows("""
            name: swapped-hints
            backends: [test-openvino-swapped-hints]
            cases:
              - {name: gru_b, m: 48, k: 384}
            """, key=("variant",))
    finally:
        registry.backends.unregister("test-openvino-swapped-hints")
    f32 = rows[("f32",)]
    assert f32.status == "wrong" and f32.tolerance == 1e-4, f32
    assert 5e-4 < f32.rel_err < 1e-2, f32  # bf16's error: caught at float32's tolerance
    assert "exceeds the float32 tolerance" in f32.message
    bf16 = rows[("bf16",)]
    assert bf16.status == "error" and "the bf16 hint was not applied" in bf16.message, bf16
    assert rows[("int8-weights",)].status == "ok"


@pytest.mark.parametrize("variant", ["f32", "int8-weights"])
def test_the_measured_call_allocates_no_output(variant):
    check_allocates_no_output(OpenVinoBackend(), variant)
