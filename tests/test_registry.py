import pytest

from gemmbench import registry
from gemmbench.backend import Backend
from gemmbench.errors import UsageError


def test_builtin_numpy_comes_from_the_entry_point_group():
    assert "numpy" in registry.backends.names()
    status = registry.status("numpy")
    assert status.available and status.target == "gemmbench.backends.numpy_blas:NumpyBackend"


def test_third_party_plugins_are_found_and_a_broken_one_is_only_unavailable(plugins):
    assert {"test-good", "test-wrong", "test-broken-import"} <= set(registry.backends.names())
    broken = registry.status("test-broken-import")
    assert not broken.available and "ModuleNotFoundError" in broken.reason
    assert registry.status("test-good").available


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(UsageError, match="unknown backend 'nope'; known backends: .*numpy"):
        registry.backends.get("nope")


def test_register_refuses_to_clobber_unless_asked():
    class Mine(Backend):
        name = "mine"

        def prepare(self, workload, variant):
            return workload.weights

        def run(self, prepared, x, out):
            out[:] = prepared @ x

    try:
        registry.backends.register("mine", Mine)
        with pytest.raises(ValueError, match="already registered"):
            registry.backends.register("mine", Mine)
        registry.backends.register("mine", Mine, clobber=True)
        assert isinstance(registry.backends.get("mine"), Mine)
        with pytest.raises(ValueError):
            registry.backends.register("numpy", Mine)
    finally:
        registry.backends.unregister("mine")
        registry.refresh()


def test_plugin_shows_in_the_real_cli_list(plugins, cli):
    result = cli("list")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "available" in lines["test-good"]
    assert "unavailable" in lines["test-broken-import"] and "ModuleNotFoundError" in lines["test-broken-import"]
    assert "shipped suites: " in result.stdout and "gru384" in result.stdout


def test_a_backend_missing_a_required_method_is_unavailable_at_load_with_the_reason():
    class Incomplete(Backend):  # no run(): it could never be measured
        name = "incomplete"

        def prepare(self, workload, variant):
            return workload.weights

    try:
        registry.backends.register("incomplete", Incomplete)
        status = registry.status("incomplete")
        assert not status.available and "abstract method" in status.reason and "run" in status.reason
    finally:
        registry.backends.unregister("incomplete")


def test_install_hints_join_the_unavailable_reason():
    status = registry.status("torch")
    if status.available:
        pytest.skip("torch is installed here, so its install hint is not shown")
    assert "pip install" in status.reason
