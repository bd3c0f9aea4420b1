"""PyTorch on the CPU, optional (`pip install gemmbench[torch]`): float32 mv/mm and dynamic int8 linear.

- `fp32`: `torch.mv` / `torch.mm` with `out=`; weights, input and output are tensors made by
  `torch.from_numpy`, so they share memory with the harness's arrays and nothing is copied
  or allocated per call.
- `int8-dynamic`: `torch.ao.quantization.quantize_dynamic` on an `nn.Linear` holding the
  weights: qint8 weights with one scale per output row (per-channel, like LPCNet's per-row
  scales), activations quantized to quint8 per call with a scale from their range. The
  quantized linear returns a new tensor (its API has no `out=`, and it quantizes its input
  into a fresh buffer), which is copied into the output: this variant allocates per call.
  The quantized engine (fbgemm, onednn, x86) is recorded in `detail`.

Torch's intra-op threads are set to the case's thread count, read from OMP_NUM_THREADS,
which the worker sets for each measurement group.

The methods registered for torch add their variants to its rows: conv1d's torch.nn.functional
convolutions (backends/conv1d/methods.py), iir_bank's torchaudio lfilter and plain torch loop
(backends/iir/methods.py); torchaudio pins its torch release, so it is an extra of its own:
`gemmbench[torchaudio]`.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from gemmbench.backend import Backend, Variant
from gemmbench.op import Workload

INSTALL_HINT = "pip install gemmbench[torch]"


@dataclass(frozen=True, eq=False)
class TorchPrepared:
    module: Any  # the weights as a float32 tensor (fp32) or the dynamic quantized Linear (int8)
    gemv: bool
    threads: int
    call: Callable[[], object] | None = None  # bound by `bind` to the harness's arrays


def set_threads() -> int:
    """Intra-op threads = the worker's thread count (OMP_NUM_THREADS), when it is set."""
    import torch

    wanted = os.environ.get("OMP_NUM_THREADS", "")
    if wanted.isdigit() and int(wanted) > 0 and torch.get_num_threads() != int(wanted):
        torch.set_num_threads(int(wanted))
    return torch.get_num_threads()


def quantized_linear(weights: np.ndarray):
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    m, k = weights.shape
    linear = torch.nn.Linear(k, m, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weights))
    with warnings.catch_warnings():  # torch 2.13 marks quantized tensors deprecated; describe() says so
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*deprecated")
        model = quantize_dynamic(torch.nn.Sequential(linear), {torch.nn.Linear: per_channel_dynamic_qconfig},
                                 dtype=torch.qint8)
    return model[0]


class TorchBackend(Backend):
    name = "torch"
    ops = frozenset({"gemv", "gemm"})
    dtypes = frozenset({"float32"})
    install_hint = INSTALL_HINT
    role = "peer"  # a runtime a vocoder could ship instead of our kernels

    def available(self) -> tuple[bool, str]:
        # find_spec rather than import: importing torch takes seconds, and `list` asks every backend.
        # A torch that is found but fails to import gives error rows carrying its ImportError.
        if importlib.util.find_spec("torch") is None:
            return False, f"torch not installed ({INSTALL_HINT})"
        return True, ""

    def variants(self) -> list[Variant]:
        return [Variant("fp32", detail="torch.mv/torch.mm(out=) on from_numpy tensors"),
                Variant("int8-dynamic", precision="int8",
                        detail="quantize_dynamic nn.Linear: qint8 per-channel weights, quint8 dynamic activations")]

    def prepare(self, workload: Workload, variant: Variant) -> TorchPrepared:
        import torch

        threads = set_threads()
        gemv = workload.case.op == "gemv"
        if variant.name == "int8-dynamic":
            return TorchPrepared(quantized_linear(workload.weights), gemv, threads)
        return TorchPrepared(torch.from_numpy(workload.weights), gemv, threads)

    def bind(self, prepared: TorchPrepared, x: np.ndarray, out: np.ndarray) -> TorchPrepared:
        import torch

        x_t, out_t = torch.from_numpy(x), torch.from_numpy(out)
        module = prepared.module
        if isinstance(module, torch.Tensor):
            product = torch.mv if prepared.gemv else torch.mm

            def call() -> object:
                return product(module, x_t, out=out_t)
        else:
            rows = x_t.view(1, -1) if prepared.gemv else x_t.t()  # Linear takes (batch, k)
            target = out_t.view(1, -1) if prepared.gemv else out_t.t()

            def call() -> object:
                return target.copy_(module(rows))
        return replace(prepared, call=call)

    def run(self, prepared: TorchPrepared, x: np.ndarray, out: np.ndarray) -> None:
        prepared.call()  # from_numpy tensors do not require grad: no autograd record to avoid

    def describe(self, prepared: TorchPrepared, variant: Variant) -> str:
        import torch

        what = (f"torch {torch.__version__}, {prepared.threads} intra-op thread(s), "
                f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
        if variant.name == "int8-dynamic":
            return (f"{what}; {variant.detail}; quantized engine {torch.backends.quantized.engine}; "
                    f"allocates its result per call (copied into out); torch.ao quantized tensors are "
                    f"deprecated upstream")
        blas = "MKL" if torch.backends.mkl.is_available() else "torch's default BLAS"
        return f"{what}; {variant.detail} via {blas}"

