"""gemmbench: measure GEMM/GEMV backends on the small matrix products neural vocoders run.

The public API (what the CLI is built on):

    suite = gemmbench.load_suite("suites/gru384.yaml")
    outcome = gemmbench.run_suite(suite)            # rows written to results/<suite>-<run>.parquet
    frame = gemmbench.load_results("results/")      # pandas DataFrame of every run under results/
    gemmbench.backend_status()                      # registry status of each backend
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_suite", "run_suite", "resume_run", "RunOptions", "load_results",
           "register_backend", "register_op", "register_method", "backend_status", "Backend", "Variant", "Op",
           "Method", "Case", "UsageError"]

# Imported on first use so that `import gemmbench` (and each worker) stays light.
_LAZY = {
    "load_suite": ("gemmbench.cases.suite", "load_suite"),
    "run_suite": ("gemmbench.measure.runner", "run_suite"),
    "resume_run": ("gemmbench.measure.runner", "resume_run"),
    "RunOptions": ("gemmbench.measure.runner", "RunOptions"),
    "load_results": ("gemmbench.data.results", "load_results"),
    "register_backend": ("gemmbench.registry", "register_backend"),
    "register_op": ("gemmbench.registry", "register_op"),
    "register_method": ("gemmbench.registry", "register_method"),
    "Backend": ("gemmbench.backend", "Backend"),
    "Variant": ("gemmbench.backend", "Variant"),
    "Op": ("gemmbench.op", "Op"),
    "Method": ("gemmbench.method", "Method"),
    "Case": ("gemmbench.op", "Case"),
    "UsageError": ("gemmbench.errors", "UsageError"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'gemmbench' has no attribute {name!r}")


def backend_status():
    """The status of every registered backend: name, availability, reason, variants (asked of a child
    process: no backend's code runs in the caller's)."""
    from gemmbench.measure import probe

    return list(probe.statuses().values())
