"""What the peer backends' tests share: odd shapes run for real, and the bound call checked in place."""

from __future__ import annotations

import numpy as np
import pytest

from gemmbench.measure.verify import TOLERANCE, check

# m and k no multiple of 8 (no kernel's tile fits), a GEMV on one and two threads, a GEMM of n = 5.
ODD_SUITE = """
name: peers-odd
backends: [{backend}]
cases:
  - {{name: odd_gemv, op: gemv, m: 37, k: 29, threads: [1, 2]}}
  - {{name: odd_gemm, op: gemm, m: 37, k: 29, n: 5}}
"""
ODD_ROWS = (("odd_gemv", 1), ("odd_gemv", 2), ("odd_gemm", 1))


def need(*modules: str) -> None:
    for module in modules:
        pytest.importorskip(module, reason=f"{module} not installed (pip install 'gemmbench[peers]')")


def check_odd_rows(run_rows, backend) -> dict:
    """Every variant of `backend` on the odd shapes: verified against the float64 reference at its
    precision's tolerance (int8 really quantized), with its call floor. Returns the rows."""
    rows = run_rows(ODD_SUITE.format(backend=backend.name), key=("case", "variant", "threads"))
    for variant in backend.variants():
        for case, threads in ODD_ROWS:
            row = rows[(case, variant.name, threads)]
            if row.status == "unavailable":  # a variant this CPU lacks a flag for (openvino's bf16)
                assert row.message.startswith("CPU lacks"), row
                continue
            precision = variant.precision or "float32"
            assert row.status == "ok", (row.variant, row.message)
            assert row.precision == precision and row.rel_err < TOLERANCE[precision], row
            if precision == "int8":
                assert row.rel_err > 1e-4, row  # quantized for real, not float32 under an int8 label
            assert row.call_floor_ns > 0 and "bound once" in row.detail, row
            if case == "odd_gemv":
                assert "transposes" not in row.detail, row  # a GEMV binds x and y as they are
    return rows


def check_in_place(backend, variant_name: str, m: int = 37, k: int = 29, n: int = 1) -> None:
    """The bound call reads the very input array and writes the very output array it was bound to."""
    from gemmbench.cases.workload import aligned_copy, make_workload
    from gemmbench.op import Case
    from gemmbench.ops.matrix import MatrixSpec

    op = "gemv" if n == 1 else "gemm"
    workload = make_workload(Case("in_place", op, MatrixSpec(m, k, n), "float32", seed=3))
    variant = next(v for v in backend.variants() if v.name == variant_name)
    x, out = aligned_copy(workload.x), aligned_copy(np.zeros(workload.reference.shape, np.float32))
    bound = backend.bind(backend.prepare(workload, variant), x, out)
    call = backend.caller(bound, x, out)
    precision = variant.precision or "float32"
    call()
    assert check(out, workload.reference, precision).ok
    x *= -0.5  # changed in place after binding: a copy taken at bind time would not see it
    call()
    verdict = check(out, -0.5 * workload.reference, precision)
    assert verdict.ok, verdict.message  # a stale output would be off by 300%


def check_allocates_no_output(backend, variant_name: str) -> None:
    """The bound call allocates no array as large as its output (1152 floats: 4.5 KiB) on the Python
    side: no copy of the result, no fresh output per call (the libraries' own malloc is not seen)."""
    from gbtest import bound_backend, traced_peak
    from gemmbench.op import Case
    from gemmbench.ops.matrix import MatrixSpec

    prepared, _, x, out = bound_backend(backend, Case("alloc", "gemv", MatrixSpec(1152, 16)), variant_name)
    peak = traced_peak(backend.caller(prepared, x, out))
    assert peak < out.nbytes // 2, f"{backend.name}:{variant_name} allocated {peak} bytes in a call"
