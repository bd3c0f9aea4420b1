"""The LiteRT peer: a FULLY_CONNECTED model written with the package's own schema, run in place."""

import numpy as np
import pytest

from gemmbench.backends.peers.litert import LiteRTBackend
from peerstest import check_allocates_no_output, check_in_place, check_odd_rows, need


@pytest.fixture(autouse=True)
def litert():
    need("ai_edge_litert", "flatbuffers")


def test_every_variant_is_right_on_odd_shapes_and_honours_the_thread_count(run_rows):
    rows = check_odd_rows(run_rows, LiteRTBackend())
    for variant in ("xnnpack-f32", "builtin-int8-static"):
        assert "CpuOptions.num_threads=2" in rows[("odd_gemv", variant, 2)].detail
    assert "; fully delegated" in rows[("odd_gemm", "xnnpack-int8-dynamic", 1)].detail
    assert "XNNPACK off" in rows[("odd_gemv", "builtin-f32", 1)].detail


@pytest.mark.parametrize("variant", ["xnnpack-f32", "builtin-int8-dynamic"])
@pytest.mark.parametrize("n", [1, 3])
def test_the_bound_call_reads_and_writes_the_harness_arrays_in_place(variant, n):
    check_in_place(LiteRTBackend(), variant, n=n)


def test_an_output_off_a_64_byte_boundary_is_staged_and_the_detail_says_so():
    from gbtest import bound_backend
    from gemmbench.cases.workload import aligned_empty
    from gemmbench.op import Case
    from gemmbench.ops.matrix import MatrixSpec

    backend = LiteRTBackend()
    prepared, workload, x, _ = bound_backend(backend, Case("staged", "gemv", MatrixSpec(37, 29)), "xnnpack-f32")
    out = aligned_empty(38, np.float32)[1:]  # 4 bytes past a 64-byte boundary
    bound = backend.bind(prepared, x, out)
    backend.caller(bound, x, out)()
    np.testing.assert_allclose(out, workload.reference, rtol=1e-5, atol=1e-6)
    assert "output not 64-byte aligned: staged" in backend.describe(bound, backend.variants()[0])
    aligned = aligned_empty(37, np.float32)
    assert "staged" not in backend.describe(backend.bind(prepared, x, aligned), backend.variants()[0])


@pytest.mark.parametrize("variant", ["xnnpack-f32", "xnnpack-int8-static"])
def test_the_measured_call_allocates_no_output(variant):
    check_allocates_no_output(LiteRTBackend(), variant)
