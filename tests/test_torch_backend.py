"""The optional torch backend: runs only where torch is installed; its absence is a clear 'unavailable'."""

import sys

import pytest

from gemmbench.backends.torch_backend import INSTALL_HINT, TorchBackend

SUITE = """
name: torch
backends: [torch]
cases:
  - {name: gru_a_recurrent, m: 1152, k: 384}
  - {name: gru_a_batch, op: gemm, m: 1152, k: 384, n: 16}
  - name: gru_a_lpcnet
    m: 1152
    k: 384
    density: {update: 0.05, reset: 0.05, state: 0.2}
    block: 16x1
    keep_diagonal: true
  - {name: odd, op: gemm, m: 101, k: 67, n: 33}
  - {name: f64, m: 64, k: 32, dtype: float64}
"""


def test_without_torch_it_is_unavailable_with_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # what `import torch` sees when it is not installed
    assert TorchBackend().available() == (False, f"torch not installed ({INSTALL_HINT})")


def test_fp32_and_dynamic_int8_are_right_on_vocoder_and_odd_shapes(run_rows):
    pytest.importorskip("torch")
    rows = run_rows(SUITE, key=("case", "variant", "threads"), threads=(1, 2))
    for threads in (1, 2):
        for case in ("gru_a_recurrent", "gru_a_batch", "gru_a_lpcnet", "odd"):
            fp32 = rows[(case, "fp32", threads)]
            assert fp32.status == "ok" and fp32.precision == "float32" and fp32.rel_err < 1e-5, fp32
            assert f"{threads} intra-op thread(s)" in fp32.detail
            int8 = rows[(case, "int8-dynamic", threads)]
            assert int8.status == "ok" and int8.precision == "int8" and int8.tolerance == 5e-2
            assert 1e-4 < int8.rel_err < 5e-2, int8  # really quantized, and within the int8 gate
            assert any(f"quantized engine {e}" in int8.detail for e in ("x86", "fbgemm", "onednn", "qnnpack"))
    f64 = rows[("f64", "fp32", 1)]
    assert f64.status == "skipped" and "does not take dtype float64" in f64.message
