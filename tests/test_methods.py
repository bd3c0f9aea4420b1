"""Methods are plugins: one from outside gemmbench (tests/plugins) runs on a built-in backend and on a
third-party one, through the same entry-point group the built-in conv1d and IIR methods use."""

from __future__ import annotations

import pytest

from gemmbench import registry
from gemmbench.backends.numpy_blas import NumpyBackend

CONV = """\
name: methods
cases:
  - {name: c, op: conv1d, c_in: 5, c_out: 6, k: 3, t: 17, dilation: 2, padding: causal}
  - {name: last, op: conv1d, c_in: 5, c_out: 6, k: 3, t: 17, layout: channels-last}
"""


def test_a_backend_gets_the_variants_of_the_methods_registered_for_it():
    numpy = registry.backends.get("numpy")
    assert [v.name for v in NumpyBackend().variants()] == ["matmul"]  # its own list holds no other op's variants
    offered = {v.name: v for v in registry.variants_of(numpy)}
    assert offered["matmul"].method == "" and offered["matmul"].ops is None
    assert offered["im2col"].method == "conv1d-im2col" and offered["im2col"].ops == {"conv1d"}
    assert offered["block-L32"].method == "iir-block" and offered["block-L32"].ops == {"iir_bank"}
    assert "sosfilt" not in offered and "sosfilt" in registry.status("scipy").variants


def test_a_third_party_method_runs_on_a_builtin_and_on_a_third_party_backend(plugins, run_rows):
    rows = run_rows(CONV + "backends: ['numpy:test-tapsum', 'numpy:im2col', test-good]\n")
    for backend in ("numpy", "test-good"):
        row = rows[("c", backend, "test-tapsum")]
        assert row.status == "ok" and row.rel_err < 1e-5 and row.median_ns > 0, row.message
        assert "one np.matmul per tap" in row.detail and "3 products of (6 x 5)" in row.detail
        skipped = rows[("last", backend, "test-tapsum")]
        assert skipped.status == "skipped" and "channels-first convolutions only" in skipped.message
    assert rows[("c", "numpy", "im2col")].status == "ok"  # the built-in methods beside it
    assert not any(b == "test-good" and v != "test-tapsum" for _, b, v in rows)  # no matrix variant on conv1d


def test_a_method_registered_at_run_time_reaches_the_workers(plugins, run_rows):
    registry.register_method("runtime-tapsum", "gemmbench_testplugins.conv_method:RuntimeTapSum")
    try:
        rows = run_rows(CONV + "backends: ['numpy:test-tapsum-runtime']\n")
    finally:
        registry.methods.unregister("runtime-tapsum")
    assert rows[("c", "numpy", "test-tapsum-runtime")].status == "ok"


def test_a_variant_name_a_backend_already_has_is_left_out_with_the_reason(plugins):
    from gemmbench_testplugins.conv_method import TapSum

    numpy = registry.backends.get("numpy")
    registry.register_method("test-tapsum-again", TapSum)
    try:
        names = [v.name for v in registry.variants_of(numpy)]
        problems = registry.method_problems(numpy)
    finally:
        registry.methods.unregister("test-tapsum-again")
    assert names.count("test-tapsum") == 1
    assert problems == ["method 'test-tapsum-again': numpy already has a variant 'test-tapsum'; the method's is left out"]
    with pytest.raises(ValueError, match="already registered"):
        registry.register_method("conv1d-im2col", TapSum)


def test_list_names_a_method_plugin_that_fails_to_load_and_the_backends_stay_whole(plugins, cli):
    result = cli("list")
    assert result.returncode == 0, result.stderr
    assert "methods not offered:" in result.stdout
    assert "method 'test-broken-method' could not be loaded" in result.stdout and "ModuleNotFoundError" in result.stdout
    numpy_line = next(line for line in result.stdout.splitlines() if line.startswith("numpy "))
    assert "im2col" in numpy_line and "test-tapsum" in numpy_line
