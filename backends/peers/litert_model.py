"""LiteRT (TFLite) models of y = W x, written with the flatbuffer schema ai-edge-litert ships
(`ai_edge_litert.schema_py_generated`): no TensorFlow, no converter.

The product is one FULLY_CONNECTED op (y = x W^T over rows of x). LiteRT's host-memory tensor
buffers are flat (their shape is their element count), so the model's input and output are flat
too: a GEMV is FC on x[k] into y[m] directly; a GEMM reshapes the harness's X (k x n) and
transposes it to the n rows FC takes, and transposes the n x m result back.

Weights come in three forms:
- float32;
- `dynamic`: int8 with one scale per output row, float32 activations quantized by the kernel
  per call ("dynamic range", hybrid);
- `static`: the same int8 weights, and int8 activations in and out at fixed scales from a
  calibration (QUANTIZE before the product, DEQUANTIZE after it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gemmbench.formats.quant import QuantizedWeights

INPUT, OUTPUT = "x", "y"
SIGNATURE = "serving_default"
SCHEMA_VERSION = 3
FILE_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class StaticScales:
    """The fixed int8 scales of a full-integer model (zero points 0: symmetric)."""

    x: float
    y: float


class _Graph:
    """Tensors, buffers and operators of a one-subgraph model, added in order."""

    def __init__(self, schema):
        self.s = schema
        self.tensors: list = []
        self.buffers: list = [schema.BufferT()]  # buffer 0 is the empty one tensors without data point to
        self.operators: list = []
        self.codes: list = []  # operatorCodes
        self.opcodes: dict[int, int] = {}  # builtin code -> index in codes

    def tensor(self, name: str, shape: list[int], dtype: int, data: np.ndarray | None = None,
               scale: np.ndarray | float | None = None, axis: int = 0) -> int:
        s = self.s
        tensor = s.TensorT()
        tensor.name, tensor.shape, tensor.type = name, list(shape), dtype
        tensor.buffer = 0
        if data is not None:
            buffer = s.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self.buffers.append(buffer)
            tensor.buffer = len(self.buffers) - 1
        if scale is not None:
            scales = np.atleast_1d(np.asarray(scale, dtype=np.float32))
            quant = s.QuantizationParametersT()
            quant.scale, quant.zeroPoint, quant.quantizedDimension = scales.tolist(), [0] * scales.size, axis
            tensor.quantization = quant
        self.tensors.append(tensor)
        return len(self.tensors) - 1

    def op(self, code: int, inputs: list[int], outputs: list[int], options_type: int = 0, options=None,
           version: int = 1) -> int:
        s = self.s
        if code not in self.opcodes:
            opcode = s.OperatorCodeT()
            opcode.builtinCode, opcode.deprecatedBuiltinCode, opcode.version = code, min(code, 127), version
            self.opcodes[code] = len(self.codes)
            self.codes.append(opcode)
        operator = s.OperatorT()
        operator.opcodeIndex, operator.inputs, operator.outputs = self.opcodes[code], inputs, outputs
        operator.builtinOptionsType, operator.builtinOptions = options_type, options
        self.operators.append(operator)
        return outputs[0]

    def reshape(self, source: int, shape: list[int], dtype: int, name: str, scale: float | None) -> int:
        s = self.s
        target = self.tensor(name, shape, dtype, scale=scale)
        new_shape = self.tensor(f"{name}_shape", [len(shape)], s.TensorType.INT32, np.array(shape, np.int32))
        return self.op(s.BuiltinOperator.RESHAPE, [source, new_shape], [target],
                       s.BuiltinOptions.ReshapeOptions, s.ReshapeOptionsT())

    def transpose(self, source: int, shape: list[int], dtype: int, name: str, scale: float | None) -> int:
        s = self.s
        target = self.tensor(name, shape, dtype, scale=scale)
        perm = self.tensor(f"{name}_perm", [2], s.TensorType.INT32, np.array([1, 0], np.int32))
        return self.op(s.BuiltinOperator.TRANSPOSE, [source, perm], [target],
                       s.BuiltinOptions.TransposeOptions, s.TransposeOptionsT())

    def finish(self, first: int, last: int) -> bytes:
        import flatbuffers

        s = self.s
        subgraph = s.SubGraphT()
        subgraph.tensors, subgraph.inputs, subgraph.outputs = self.tensors, [first], [last]
        subgraph.operators, subgraph.name = self.operators, "main"
        signature = s.SignatureDefT()
        signature.signatureKey, signature.subgraphIndex = SIGNATURE, 0
        signature.inputs, signature.outputs = [_tensor_map(s, INPUT, first)], [_tensor_map(s, OUTPUT, last)]
        model = s.ModelT()
        model.version, model.description = SCHEMA_VERSION, "gemmbench: y = W x"
        model.operatorCodes, model.subgraphs, model.buffers = self.codes, [subgraph], self.buffers
        model.signatureDefs = [signature]
        builder = flatbuffers.Builder(1024 + sum(len(b.data) for b in self.buffers if b.data is not None))
        builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
        return bytes(builder.Output())


def _tensor_map(schema, name: str, index: int):
    tensor_map = schema.TensorMapT()
    tensor_map.name, tensor_map.tensorIndex = name, index
    return tensor_map


def product_model(weights: np.ndarray | QuantizedWeights, n: int, static: StaticScales | None = None) -> bytes:
    """A flatbuffer model computing W x for x of k (n = 1) or k x n values, flat in and out.

    `weights` float32 (m, k): float32 FC; QuantizedWeights: int8 per-row weights, dynamic range, or
    full integer with `static` scales."""
    from ai_edge_litert import schema_py_generated as s

    types = s.TensorType
    graph = _Graph(s)
    quantized = isinstance(weights, QuantizedWeights)
    m, k = weights.q.shape if quantized else weights.shape
    inner = types.INT8 if static else types.FLOAT32  # what flows between the ops
    sx = static.x if static else None
    sy = static.y if static else None

    first = graph.tensor(INPUT, [k * n], types.FLOAT32)
    x = first
    if static:
        x = graph.op(s.BuiltinOperator.QUANTIZE, [x], [graph.tensor("xq", [k * n], inner, scale=sx)],
                     s.BuiltinOptions.QuantizeOptions, s.QuantizeOptionsT(), version=2)
    if n > 1:
        x = graph.reshape(x, [k, n], inner, "x_kn", sx)
        x = graph.transpose(x, [n, k], inner, "x_nk", sx)
    if quantized:
        w = graph.tensor("w", [m, k], types.INT8, weights.q, scale=weights.scale, axis=0)
    else:
        w = graph.tensor("w", [m, k], types.FLOAT32, np.asarray(weights, np.float32))
    y_shape = [m] if n == 1 else [n, m]
    y = graph.tensor("y_nm", y_shape, inner, scale=sy)
    options = s.FullyConnectedOptionsT()
    options.keepNumDims = True
    # Op versions: FC 7 takes int8 per-channel weights (and hybrid inputs), QUANTIZE 2 / DEQUANTIZE 2 int8.
    y = graph.op(s.BuiltinOperator.FULLY_CONNECTED, [x, w, -1], [y], s.BuiltinOptions.FullyConnectedOptions,
                 options, version=7 if quantized else 1)
    if n > 1:
        y = graph.transpose(y, [m, n], inner, "y_mn", sy)
        y = graph.reshape(y, [m * n], inner, "y_flat", sy)
    if static:
        y = graph.op(s.BuiltinOperator.DEQUANTIZE, [y], [graph.tensor(OUTPUT, [m * n], types.FLOAT32)],
                     s.BuiltinOptions.DequantizeOptions, s.DequantizeOptionsT(), version=2)
    else:
        graph.tensors[y].name = OUTPUT
    return graph.finish(first, y)
