"""The ONNX Runtime peer: an ONNX graph built in prepare, run through io_binding on the harness's arrays."""

import pytest

from gemmbench.backends.peers.onnx_runtime import OnnxRuntimeBackend
from peerstest import check_allocates_no_output, check_in_place, check_odd_rows, need


@pytest.fixture(autouse=True)
def onnxruntime():
    need("onnxruntime", "onnx")


def test_every_variant_is_right_on_odd_shapes_and_records_its_session(run_rows):
    rows = check_odd_rows(run_rows, OnnxRuntimeBackend())
    two = rows[("odd_gemv", "int8-dynamic", 2)].detail
    assert "CPUExecutionProvider" in two and "intra_op_num_threads=2, inter_op_num_threads=1" in two
    assert "transposes X in" in rows[("odd_gemm", "matmulnbits-8bit", 1)].detail
    assert "transposes" not in rows[("odd_gemm", "f32", 1)].detail  # MatMul(W, X) takes the k x n layout as it is


@pytest.mark.parametrize("variant", ["f32", "int8-dynamic", "matmulnbits-8bit"])
@pytest.mark.parametrize("n", [1, 3])
def test_the_bound_call_reads_and_writes_the_harness_arrays_in_place(variant, n):
    check_in_place(OnnxRuntimeBackend(), variant, n=n)


@pytest.mark.parametrize("variant", ["f32", "int8-dynamic"])
def test_the_measured_call_allocates_no_output(variant):
    check_allocates_no_output(OnnxRuntimeBackend(), variant)
