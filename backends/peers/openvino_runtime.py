"""OpenVINO, a peer: a one-MatMul model built in `prepare` with OpenVINO's opset, compiled for the CPU
with its precision hint set explicitly.

Variants, one per precision:
- `f32`: INFERENCE_PRECISION_HINT f32. OpenVINO's default hint on a CPU with AVX512_BF16 (or AMX)
  is bf16, so a model compiled without it silently computes in bf16 (relative error near 2e-3,
  twenty times the float32 gate): the hint is always given, and a variant that computes in a
  lower precision than it claims fails the correctness gate like any other wrong row;
- `bf16`: INFERENCE_PRECISION_HINT bf16, on CPUs with avx512_bf16;
- `int8-weights`: int8 weights with one scale per output row, written as OpenVINO's weight
  decompression pattern (Constant i8 -> Convert -> Multiply), which the CPU plugin folds into its
  FullyConnected; hint f32, activations as the plugin's dynamic quantization leaves them.

A variant claiming a lower precision than float32 must have run in it: `prepare` reads the
compiled model's runtime graph and refuses a bf16 product that ran in f32 or int8 weights that
were decompressed (the gate cannot see a product more exact than claimed). The primitive each
layer ran as is recorded in the row's detail.

The product takes the activations first (x^T W^T, OpenVINO's FullyConnected): a GEMV binds x and
y as 1 x k and 1 x m views, free; a GEMM transposes X in and the result out. The measured call is
an inference on a request made once in `bind`, whose input and output tensors share the
harness's own arrays: the native `infer` with no new inputs and shared outputs (the public
`InferRequest.infer` dispatches its inputs and wraps the results in an OVDict around that call).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from gemmbench.backend import Variant
from gemmbench.backends.peers.base import BoundCall, PeerBackend, int8_rows, threads, transposes_note
from gemmbench.op import Workload

PRODUCT_LAYERS = ("FullyConnected", "MatMul")  # what the CPU plugin runs a MatMul as
HIDDEN_LAYERS = ("Input", "Output", "Parameter", "Result", "Const")


@dataclass(frozen=True, eq=False)
class OvModel:
    compiled: Any  # openvino.CompiledModel
    n: int
    properties: str  # the compile properties as the compiled model reports them
    layers: str  # the runtime graph's layers: type, primitive, runtime precision


def product_model(weights: np.ndarray, n: int, int8: bool):
    """y = W X as an OpenVINO model: MatMul(X^T, W^T), plus transposes for the k x n layout of a GEMM."""
    import openvino as ov
    import openvino.opset13 as ops

    m, k = weights.shape
    if int8:
        rows = int8_rows(weights)
        w = ops.multiply(ops.convert(ops.constant(rows.q), ov.Type.f32), ops.constant(rows.scale.reshape(m, 1)))
    else:
        w = ops.constant(np.asarray(weights, np.float32))
    x = ops.parameter([1, k] if n == 1 else [k, n], ov.Type.f32, name="x")
    y = ops.matmul(x, w, transpose_a=n > 1, transpose_b=True)
    if n > 1:
        y = ops.transpose(y, ops.constant(np.array([1, 0], np.int64)))
    return ov.Model([ops.result(y)], [x], "gemmbench_product")


def runtime_layers(compiled) -> list[dict[str, str]]:
    """The layers the CPU plugin runs, in order, as its runtime graph describes them."""
    layers = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer = {key: info[key].astype(str) for key in ("layerType", "primitiveType", "runtimePrecision",
                                                        "outputPrecisions") if key in info}
        if layer.get("layerType") not in HIDDEN_LAYERS:
            layers.append(layer)
    return layers


def claimed_precision_refusal(variant: str, layers: list[dict[str, str]]) -> str:
    """Why a variant claiming a reduced precision did not run in it ('' when it did)."""
    products = [layer for layer in layers if layer.get("layerType") in PRODUCT_LAYERS]
    if not products:
        return f"OpenVINO's runtime graph has no {' or '.join(PRODUCT_LAYERS)} layer: {describe_layers(layers)}"
    product = products[0]
    if variant == "bf16" and "bf16" not in product.get("primitiveType", ""):
        return f"the bf16 hint was not applied: the product ran as {describe_layers([product])}"
    if variant == "int8-weights" and product.get("runtimePrecision") != "i8":
        return f"the int8 weights were not kept: the product ran as {describe_layers([product])}"
    return ""


def describe_layers(layers: list[dict[str, str]]) -> str:
    return ", ".join(f"{layer.get('layerType')} {layer.get('primitiveType')} ({layer.get('runtimePrecision')})"
                     for layer in layers)


class OpenVinoBackend(PeerBackend):
    name = "openvino"
    modules = ("openvino",)
    hints: ClassVar[dict[str, str]] = {"f32": "f32", "bf16": "bf16", "int8-weights": "f32"}  # INFERENCE_PRECISION_HINT

    def variants(self) -> list[Variant]:
        return [Variant("f32", detail="MatMul float32, precision hint f32"),
                Variant("bf16", precision="bf16", requires=("avx512_bf16",),
                        detail="MatMul with the precision hint bf16 (weights and activations in bf16)"),
                Variant("int8-weights", precision="int8",
                        detail="MatMul on int8 weights per output row (Convert, Multiply: weight decompression), "
                               "precision hint f32")]

    def prepare(self, workload: Workload, variant: Variant) -> OvModel:
        import openvino as ov

        n = workload.case.spec.n
        model = product_model(workload.weights, n, int8=variant.name == "int8-weights")
        config = {"INFERENCE_PRECISION_HINT": self.hints[variant.name], "INFERENCE_NUM_THREADS": threads(),
                  "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
        compiled = ov.Core().compile_model(model, "CPU", config)
        layers = runtime_layers(compiled)
        refusal = claimed_precision_refusal(variant.name, layers)
        if refusal:
            raise RuntimeError(refusal)
        names = ("INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "NUM_STREAMS", "PERFORMANCE_HINT",
                 "DYNAMIC_QUANTIZATION_GROUP_SIZE")
        properties = ", ".join(f"{name}={_property(compiled, name)}" for name in names)
        return OvModel(compiled, n, properties, describe_layers(layers))

    def bind_call(self, model: OvModel, x: np.ndarray, out: np.ndarray) -> BoundCall:
        import openvino as ov

        request = model.compiled.create_infer_request()
        tensors = (ov.Tensor(x.reshape((1, -1) if model.n == 1 else x.shape), shared_memory=True),
                   ov.Tensor(out.reshape((1, -1) if model.n == 1 else out.shape), shared_memory=True))
        request.set_input_tensor(tensors[0])
        request.set_output_tensor(tensors[1])
        native = functools.partial(native_request_class().infer, request, {}, True, False)
        return BoundCall(native, "; the native infer with no new inputs, outputs shared (InferRequest.infer "
                                 "less its input dispatch and OVDict)", (request, tensors))

    def describe_model(self, model: OvModel, variant: Variant) -> str:
        import openvino as ov

        return (f"openvino {ov.get_version()}, {variant.detail}; {model.properties}; ran: {model.layers}; "
                f"an infer request whose tensors share the harness's arrays, bound once"
                f"{transposes_note(model.n)}")


def native_request_class():
    """The compiled class under openvino.InferRequest, whose infer(inputs, share_outputs, decode_strings)
    runs the request (on no new inputs when given an empty dict) and returns views of its outputs."""
    from openvino._pyopenvino import InferRequest

    return InferRequest


def _property(compiled, name: str) -> str:
    try:
        value = compiled.get_property(name)
    except RuntimeError:  # not every release knows every property
        return "?"
    return str(value).removeprefix("<Type: '").removesuffix("'>")
