"""ONNX Runtime, a peer: a one-product ONNX graph built in `prepare` with onnx's helper, run on the
CPU execution provider.

Variants:
- `f32`: MatMul(W, X), float32;
- `int8-dynamic`: com.microsoft DynamicQuantizeMatMul, int8 weights with one scale per output row,
  activations quantized to uint8 on every call (what `quantize_dynamic` and ORT's fusion give);
- `matmulnbits-8bit`: com.microsoft MatMulNBits with 8-bit weights in blocks of 32 along k
  (accuracy_level 4: the activations are quantized to int8 per block and the sums run in int8).

The quantized products take the activations first (x^T W^T): a GEMV binds x and y as 1 x k and
1 x m views, free; a GEMM transposes X in and the result out, and the row's detail says so.
The measured call is the session's run with an IOBinding made once in `bind`, whose input and
output are OrtValues sharing the harness's own arrays: ORT reads X and writes y in place,
allocating nothing. It is the native `run_with_iobinding` on the binding's native half, which
the public `InferenceSession.run_with_iobinding` calls after its WebGPU graph-capture checks. Session options are one thread (the row's count) intra-op, one
inter-op, sequential execution, all graph optimizations; the detail records them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from gemmbench.backend import Variant
from gemmbench.backends.peers.base import BoundCall, PeerBackend, int8_rows, threads, transposes_note
from gemmbench.op import Workload

OPSET, MS_DOMAIN = 17, "com.microsoft"
IR_VERSION = 8  # the IR of opset 17: onnx's newest default is more than an older onnxruntime reads
NBITS_BLOCK = 32
NBITS_ACCURACY = 4  # MatMulNBits accuracy_level 4: int8 activations, int8 sums
PROVIDER = "CPUExecutionProvider"
DETAILS = {
    "f32": (None, "MatMul(W, X) float32"),
    "int8-dynamic": ("int8", "DynamicQuantizeMatMul: int8 weights per output row, uint8 activations quantized per call"),
    "matmulnbits-8bit": ("int8", f"MatMulNBits bits=8 block_size={NBITS_BLOCK} accuracy_level={NBITS_ACCURACY}: "
                                 "8-bit weights per block of 32 along k, int8 activations per block"),
}


@dataclass(frozen=True, eq=False)
class OrtModel:
    session: Any  # onnxruntime.InferenceSession
    activations_first: bool
    n: int
    options: str  # the session options, as recorded in the detail


def _product_nodes(variant: str, weights: np.ndarray, source: str, target: str) -> tuple[list, list]:
    """(nodes, initializers) computing `target` from `source`: W x (f32), else x^T W^T (activations first)."""
    from onnx import helper, numpy_helper

    m, k = weights.shape
    if variant == "f32":
        return [helper.make_node("MatMul", ["W", source], [target])], [numpy_helper.from_array(weights, "W")]
    if variant == "int8-dynamic":
        rows = int8_rows(weights)
        return ([helper.make_node("DynamicQuantizeMatMul", [source, "B", "b_scale"], [target], domain=MS_DOMAIN)],
                [numpy_helper.from_array(np.ascontiguousarray(rows.q.T), "B"),
                 numpy_helper.from_array(rows.scale, "b_scale")])
    blob, scales = nbits8_blocks(weights)
    return ([helper.make_node("MatMulNBits", [source, "B", "scales"], [target], domain=MS_DOMAIN, K=k, N=m, bits=8,
                              block_size=NBITS_BLOCK, accuracy_level=NBITS_ACCURACY)],
            [numpy_helper.from_array(blob, "B"), numpy_helper.from_array(scales, "scales")])


def nbits8_blocks(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MatMulNBits' 8-bit layout: (m, blocks, 32) uint8 holding q + 128 (its default zero point),
    q symmetric in [-127, 127] per block of 32 along k, k padded with zeros; and the block scales."""
    m, k = weights.shape
    blocks = -(-k // NBITS_BLOCK)
    padded = np.zeros((m, blocks * NBITS_BLOCK), np.float32)
    padded[:, :k] = weights
    grouped = padded.reshape(m, blocks, NBITS_BLOCK)
    scales = (np.abs(grouped).max(axis=2) / 127).astype(np.float32)
    scales[scales == 0] = 1.0
    q = np.clip(np.rint(grouped / scales[:, :, None]), -127, 127)
    return (q + 128).astype(np.uint8), scales.reshape(-1)


def build_graph(variant: str, weights: np.ndarray, n: int):
    """The ONNX model of y = W X for X of k x n; the activations-first products wrapped to meet that layout."""
    from onnx import TensorProto, helper

    m, k = weights.shape
    x_shape, y_shape = [k, n], [m, n]
    if variant == "f32":
        nodes, initializers = _product_nodes(variant, weights, "x", "y")
    elif n == 1:  # x and y bound as 1 x k and 1 x m views of the same memory
        x_shape, y_shape = [1, k], [1, m]
        nodes, initializers = _product_nodes(variant, weights, "x", "y")
    else:
        product, initializers = _product_nodes(variant, weights, "xt", "yt")
        nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0]), *product,
                 helper.make_node("Transpose", ["yt"], ["y"], perm=[1, 0])]
    graph = helper.make_graph(nodes, "gemmbench_product",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], initializers)
    return helper.make_model(graph, ir_version=IR_VERSION,
                             opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS_DOMAIN, 1)])


def session_options(thread_count: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = thread_count
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: a warning per session would fill the worker's stderr
    described = (f"{PROVIDER}; session options intra_op_num_threads={thread_count}, inter_op_num_threads=1, "
                 f"ORT_SEQUENTIAL, ORT_ENABLE_ALL")
    return options, described


class OnnxRuntimeBackend(PeerBackend):
    name = "onnxruntime"
    modules = ("onnxruntime", "onnx")

    def variants(self) -> list[Variant]:
        return [Variant(name, precision=precision, detail=what) for name, (precision, what) in DETAILS.items()]

    def prepare(self, workload: Workload, variant: Variant) -> OrtModel:
        import onnxruntime as ort

        n = workload.case.spec.n
        model = build_graph(variant.name, np.asarray(workload.weights, np.float32), n)
        options, described = session_options(threads())
        session = ort.InferenceSession(model.SerializeToString(), options, providers=[PROVIDER])
        return OrtModel(session, variant.name != "f32", n, described)

    def bind_call(self, model: OrtModel, x: np.ndarray, out: np.ndarray) -> BoundCall:
        import onnxruntime as ort

        shape_x, shape_out = (x.size // model.n, model.n), (out.size // model.n, model.n)
        if model.activations_first and model.n == 1:
            shape_x, shape_out = shape_x[::-1], shape_out[::-1]
        binding = model.session.io_binding()
        # OrtValues over views of the harness's arrays: same memory, never copied
        values = (ort.OrtValue.ortvalue_from_numpy(x.reshape(shape_x)),
                  ort.OrtValue.ortvalue_from_numpy(out.reshape(shape_out)))
        binding.bind_ortvalue_input("x", values[0])
        binding.bind_ortvalue_output("y", values[1])
        return BoundCall(functools.partial(model.session._sess.run_with_iobinding, binding._iobinding, None),
                         "; the native run_with_iobinding (what InferenceSession.run_with_iobinding calls after its "
                         "WebGPU graph-capture checks)",
                         (binding, values))

    def describe_model(self, model: OrtModel, variant: Variant) -> str:
        import onnxruntime as ort

        return (f"onnxruntime {ort.__version__}, {variant.detail}; {model.options}; io_binding onto the harness's "
                f"arrays, bound once{transposes_note(model.n) if model.activations_first else ''}")
