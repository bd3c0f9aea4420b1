"""LiteRT (ai-edge-litert, formerly TFLite), a peer: a one-op FULLY_CONNECTED model on XNNPACK or on
LiteRT's built-in kernels.

Variants, named kernels-weights:
- `xnnpack-*`: the XNNPACK delegate (LiteRT's default CPU path); `builtin-*`: LiteRT's own
  optimized kernels with XNNPACK off (CpuKernelMode.BUILTIN);
- `*-f32`: float32 weights and arithmetic;
- `*-int8-dynamic`: int8 weights, one scale per output row, float32 activations quantized by
  the kernel on every call (dynamic range);
- `*-int8-static`: full integer: the same weights, activations quantized to int8 at a fixed scale
  before the product and the int8 result dequantized after it; the scales are calibrated in
  `prepare` on 64 activation vectors uniform in [-1, 1) (the distribution the suites generate),
  not on the case's own inputs, so inputs outside that range saturate and the gate says so.

The model is written with the flatbuffer schema the package ships (litert_model.py). The measured
call is the CompiledModel's run (its native RunByIndex, on capsule lists made once) on host-memory
TensorBuffers made in `bind` over the harness's own input and output arrays: LiteRT reads and
writes them in place. LiteRT takes host
memory only on 64-byte boundaries; an array off one (the output arrays numpy allocates are
16-byte aligned) is staged through an aligned buffer the call copies into or out of, and the
row's detail says so. The Interpreter API is not used: its `invoke()` refuses to run while any
array from `tensor()` is alive, so reading its output costs an allocation per call.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from gemmbench.backend import Variant
from gemmbench.backends.peers.base import BoundCall, PeerBackend, int8_rows, threads, transposes_note
from gemmbench.cases.workload import aligned_empty
from gemmbench.op import Workload

ALIGNMENT = 64  # LiteRT's host-memory buffers start on a 64-byte boundary
CALIBRATION_VECTORS = 64
CALIBRATION_SEED = 20240624
KERNELS = {  # variant prefix -> (CpuKernelMode name, what runs)
    "xnnpack": ("XNNPACK", "XNNPACK delegate"),
    "builtin": ("BUILTIN", "LiteRT's built-in kernels, XNNPACK off"),
}
WEIGHTS = {  # variant suffix -> (precision, what the model holds)
    "f32": (None, "float32 FULLY_CONNECTED"),
    "int8-dynamic": ("int8", "FULLY_CONNECTED with int8 weights per output row, float32 activations "
                             "quantized per call (dynamic range)"),
    "int8-static": ("int8", "full integer: QUANTIZE, int8 FULLY_CONNECTED (weights per output row), "
                            f"DEQUANTIZE; activation and result scales calibrated on {CALIBRATION_VECTORS} "
                            "inputs uniform in [-1, 1)"),
}


@dataclass(frozen=True, eq=False)
class LiteModel:
    compiled: Any  # ai_edge_litert CompiledModel
    kernel: str
    threads: int
    fully_accelerated: bool
    n: int


@functools.cache
def environment():
    """One LiteRT environment per process (each model would otherwise create and register its own)."""
    import ai_edge_litert
    from ai_edge_litert.environment import Environment, EnvironmentOptions

    return Environment.create(options=EnvironmentOptions(runtime_path=os.path.dirname(ai_edge_litert.__file__)))


def static_scales(weights: np.ndarray):
    """int8 scales of x and of W x from calibration inputs drawn as the suites draw activations."""
    from gemmbench.backends.peers.litert_model import StaticScales

    calibration = np.random.default_rng(CALIBRATION_SEED).uniform(-1.0, 1.0, (weights.shape[1], CALIBRATION_VECTORS))
    x_max, y_max = float(np.abs(calibration).max()), float(np.abs(weights @ calibration).max())
    return StaticScales(x_max / 127, (y_max or 1.0) / 127)


def compile_model(data: bytes, kernel: str, thread_count: int):
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.cpu_kernel_mode import CpuKernelMode
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator
    from ai_edge_litert.options import CpuOptions, Options

    options = Options(hardware_accelerators=HardwareAccelerator.CPU,
                      cpu_options=CpuOptions(num_threads=thread_count, kernel_mode=CpuKernelMode[KERNELS[kernel][0]]))
    return CompiledModel.from_buffer(data, environment=environment(), options=options)


def native_run(compiled, x_buffer, out_buffer) -> Callable[[], object]:
    """The compiled model's native RunByIndex on the two buffers' capsules, listed once
    (`run_by_index` rebuilds the lists on every call before making this call)."""
    return functools.partial(compiled._model.RunByIndex, 0, [x_buffer.capsule], [out_buffer.capsule])


def host_buffer(array: np.ndarray) -> tuple[np.ndarray, Any]:
    """(the flat array LiteRT will use, its TensorBuffer): `array` itself when aligned, else an aligned stand-in."""
    from ai_edge_litert.tensor_buffer import TensorBuffer

    flat = array.reshape(-1)
    if flat.ctypes.data % ALIGNMENT:
        flat = aligned_empty(flat.size, flat.dtype)
    return flat, TensorBuffer.create_from_host_memory(flat)


class LiteRTBackend(PeerBackend):
    name = "litert"
    modules = ("ai_edge_litert", "flatbuffers")

    def variants(self) -> list[Variant]:
        return [Variant(f"{kernel}-{weights}", precision=precision, detail=f"{what}; {how}")
                for weights, (precision, what) in WEIGHTS.items() for kernel, (_, how) in KERNELS.items()]

    def prepare(self, workload: Workload, variant: Variant) -> LiteModel:
        from gemmbench.backends.peers.litert_model import product_model

        kernel, _, weights = variant.name.partition("-")
        n = workload.case.spec.n
        if weights == "f32":
            data = product_model(workload.weights, n)
        else:
            quantized = int8_rows(workload.weights)
            data = product_model(quantized, n, static_scales(workload.weights) if weights == "int8-static" else None)
        compiled = compile_model(data, kernel, threads())
        return LiteModel(compiled, kernel, threads(), bool(compiled.is_fully_accelerated()), n)

    def bind_call(self, model: LiteModel, x: np.ndarray, out: np.ndarray) -> BoundCall:
        x_flat, x_buffer = host_buffer(x)
        out_flat, out_buffer = host_buffer(out)
        run = native_run(model.compiled, x_buffer, out_buffer)
        entry = "; the native RunByIndex on capsule lists made once (run_by_index rebuilds them every call)"
        keep = (x_buffer, out_buffer, x_flat, out_flat)
        copy_in, copy_out = not np.shares_memory(x_flat, x), not np.shares_memory(out_flat, out)
        if not (copy_in or copy_out):
            return BoundCall(run, entry, keep)
        source, target = x.reshape(-1), out.reshape(-1)

        def call() -> None:
            if copy_in:
                np.copyto(x_flat, source)
            run()
            if copy_out:
                np.copyto(target, out_flat)
        staged = " and ".join(name for name, copied in (("input", copy_in), ("output", copy_out)) if copied)
        return BoundCall(call, f"{entry}; the harness's {staged} not 64-byte aligned: staged through an aligned "
                               f"buffer the call copies", keep)

    def describe_model(self, model: LiteModel, variant: Variant) -> str:
        import importlib.metadata

        delegated = ""
        if model.kernel == "xnnpack":
            delegated = "; fully delegated" if model.fully_accelerated else "; NOT fully delegated (some ops on built-in kernels)"
        return (f"ai-edge-litert {importlib.metadata.version('ai-edge-litert')} CompiledModel, {variant.detail}"
                f"{delegated}; CpuOptions.num_threads={model.threads}; host-memory TensorBuffers over the "
                f"harness's arrays, bound once{transposes_note(model.n)}")
