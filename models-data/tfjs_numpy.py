"""Independent numpy forward pass of a TFJS graph model with TensorFlow semantics.

The reference every tfjs_onnx.py conversion is checked against: it interprets the GraphDef
nodes directly in NHWC and float64 (TF filter layouts, TF 'SAME' padding via keras_numpy's
helpers), so it shares no layout, padding or ONNX code with the converter, only the weight
decoding of tfjs_onnx.read. Add an op here when you add it to tfjs_onnx.OPS.
"""

from collections.abc import Callable

import keras_numpy as kn
import numpy as np
from tfjs_onnx import Node, TfjsModel


def _window(node: Node) -> tuple[tuple[int, int], str]:
    if node.get("data_format", "NHWC") != "NHWC":
        raise ValueError(f"{node.name}: NHWC only")
    if node.get("dilations", [1, 1, 1, 1]) != [1, 1, 1, 1]:
        raise ValueError(f"{node.name}: dilation not supported by the reference")
    strides = node.get("strides", [1, 1, 1, 1])
    padding = node.get("padding")
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"{node.name}: padding {padding} not supported by the reference")
    return (strides[1], strides[2]), padding.lower()


def _conv(x, w, node: Node, depthwise: bool):
    strides, padding = _window(node)
    if depthwise:
        if w.shape[3] != 1:
            raise ValueError(f"{node.name}: depth multiplier {w.shape[3]} not supported by the reference")
        return kn.depthwise2d(x, w, strides, padding)
    return kn.conv2d(x, w, strides, padding)


def _pool(x, node: Node, kind: str):
    strides, padding = _window(node)
    ksize = node.get("ksize")[1:3]
    if kind == "max":
        return kn.maxpool2d(x, ksize, strides, padding)
    # TF's AvgPool with SAME padding averages only the real pixels under the window.
    ones = np.ones(x.shape[:3] + (1,))
    total = kn._windows(kn._pad(x, ksize, strides, padding), ksize, strides).sum(axis=(4, 5))
    count = kn._windows(kn._pad(ones, ksize, strides, padding), ksize, strides).sum(axis=(4, 5))
    return total / count


def _activation(kind: str, x, extra, node: Node):
    if kind == "Relu":
        return np.maximum(x, 0)
    if kind == "Relu6":
        return np.clip(x, 0, 6)
    if kind == "Elu":
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))
    if kind == "LeakyRelu":
        return np.where(x > 0, x, x * node.get("leakyrelu_alpha", 0.2))
    if kind == "Prelu":
        return np.where(x > 0, x, x * extra[0])
    if kind == "Sigmoid":
        return 1 / (1 + np.exp(-x))
    if kind == "Tanh":
        return np.tanh(x)
    raise ValueError(f"{node.name}: activation {kind} not supported by the reference")


def _fused(base: Callable, node: Node, args):
    ops = node.get("fused_ops", [])
    y = base(args[0], args[1])
    rest, extra = ops, args[2:]
    if ops and ops[0] == "BiasAdd":
        y, rest, extra = y + extra[0], ops[1:], extra[1:]
    for kind in rest:
        y = _activation(kind, y, extra, node)
    return y


def _matmul(a, b, node: Node):
    a = a.T if node.get("transpose_a") else a
    b = b.T if node.get("transpose_b") else b
    return a @ b


def _reduce(fn):
    def run(node: Node, args):
        axes = tuple(int(a) % args[0].ndim for a in np.atleast_1d(args[1]))
        return fn(args[0], axis=axes, keepdims=bool(node.get("keep_dims", False)))

    return run


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _resize_bilinear(x, size, node: Node):
    """TF ResizeBilinear (align_corners false): source coordinate (o + 0.5) * scale - 0.5 with
    half_pixel_centers, o * scale without; top/left index floored and clamped at 0, bottom/right
    min(ceil, size - 1), weights from the fractional part."""
    out_h, out_w = (int(v) for v in size)
    half = bool(node.get("half_pixel_centers", False))

    def axis(out, size_in):
        scale = size_in / out
        src = (np.arange(out) + 0.5) * scale - 0.5 if half else np.arange(out) * scale
        low = np.floor(src)
        frac = src - low
        lo = np.clip(low, 0, size_in - 1).astype(int)
        hi = np.clip(np.ceil(src), 0, size_in - 1).astype(int)
        return lo, hi, frac

    y0, y1, fy = axis(out_h, x.shape[1])
    x0, x1, fx = axis(out_w, x.shape[2])
    top = x[:, y0][:, :, x0] * (1 - fx)[None, None, :, None] + x[:, y0][:, :, x1] * fx[None, None, :, None]
    bottom = x[:, y1][:, :, x0] * (1 - fx)[None, None, :, None] + x[:, y1][:, :, x1] * fx[None, None, :, None]
    return top * (1 - fy)[None, :, None, None] + bottom * fy[None, :, None, None]


def _sparse_to_dense(indices, shape, values, default):
    dense = np.full([int(d) for d in np.atleast_1d(shape)], default)
    indices = np.asarray(indices).astype(int)
    if indices.size == 0:
        return dense
    for row, value in zip(indices.reshape(len(indices), -1), np.broadcast_to(values, len(indices)), strict=True):
        dense[tuple(row)] = value
    return dense


OPS: dict[str, Callable[[Node, list], np.ndarray]] = {
    "Identity": lambda n, a: a[0],
    "Conv2D": lambda n, a: _conv(a[0], a[1], n, False),
    "DepthwiseConv2dNative": lambda n, a: _conv(a[0], a[1], n, True),
    "_FusedConv2D": lambda n, a: _fused(lambda x, w: _conv(x, w, n, False), n, a),
    "FusedDepthwiseConv2dNative": lambda n, a: _fused(lambda x, w: _conv(x, w, n, True), n, a),
    "MaxPool": lambda n, a: _pool(a[0], n, "max"),
    "AvgPool": lambda n, a: _pool(a[0], n, "avg"),
    "Add": lambda n, a: a[0] + a[1],
    "AddV2": lambda n, a: a[0] + a[1],
    "BiasAdd": lambda n, a: a[0] + a[1],
    "Sub": lambda n, a: a[0] - a[1],
    "Mul": lambda n, a: a[0] * a[1],
    "RealDiv": lambda n, a: a[0] / a[1],
    "Maximum": lambda n, a: np.maximum(a[0], a[1]),
    "Minimum": lambda n, a: np.minimum(a[0], a[1]),
    "Relu": lambda n, a: _activation("Relu", a[0], [], n),
    "Relu6": lambda n, a: _activation("Relu6", a[0], [], n),
    "Sigmoid": lambda n, a: _activation("Sigmoid", a[0], [], n),
    "Tanh": lambda n, a: _activation("Tanh", a[0], [], n),
    "Elu": lambda n, a: _activation("Elu", a[0], [], n),
    "Prelu": lambda n, a: _activation("Prelu", a[0], [a[1]], n),
    "Mean": _reduce(np.mean),
    "Sum": _reduce(np.sum),
    "Max": _reduce(np.max),
    "Softmax": lambda n, a: _softmax(a[0]),
    "MatMul": lambda n, a: _matmul(a[0], a[1], n),
    "_FusedMatMul": lambda n, a: _fused(lambda x, w: _matmul(x, w, n), n, a),
    "Reshape": lambda n, a: a[0].reshape([int(d) for d in a[1]]),
    "ConcatV2": lambda n, a: np.concatenate(a[:-1], axis=int(a[-1])),
    "Pad": lambda n, a: np.pad(a[0], np.asarray(a[1], np.int64).reshape(-1, 2)),
    "PadV2": lambda n, a: np.pad(a[0], np.asarray(a[1], np.int64).reshape(-1, 2), constant_values=float(a[2])),
    "LeakyRelu": lambda n, a: _activation("LeakyRelu", a[0], [], n),
    "Transpose": lambda n, a: np.transpose(a[0], [int(p) for p in a[1]]),
    "ResizeBilinear": lambda n, a: _resize_bilinear(a[0], a[1], n),
    "SplitV": lambda n, a: tuple(np.split(a[0], np.cumsum([int(v) for v in a[1]])[:-1], axis=int(a[2]))),
    "SparseToDense": lambda n, a: _sparse_to_dense(*a),
}


def forward(model: TfjsModel, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
    """Evaluate `outputs` ("node" or "node:0") for NHWC `feeds` {placeholder: array}, in float64."""
    values: dict[str, np.ndarray] = {}
    for node in model.nodes:
        if node.op == "Const":
            value = model.weights[node.name]
            values[node.name] = value.astype(np.float64) if value.dtype.kind == "f" else value
        elif node.op == "Placeholder":
            if node.name in feeds:
                values[node.name] = np.asarray(feeds[node.name], np.float64)
        else:
            args = [_output(values.get(name), index, node) for name, index in node.inputs]
            if any(a is None for a in args):
                continue  # fed by a placeholder we were not given: not needed
            if node.op not in OPS:
                raise ValueError(f"{node.name}: TF op {node.op} not in tfjs_numpy.OPS")
            values[node.name] = OPS[node.op](node, args)
    return [_output(values[name.partition(":")[0]], int(name.partition(":")[2] or 0), None) for name in outputs]


def _output(value, index: int, node: Node | None):
    """Output `index` of a producer's value: multi-output ops (SplitV) store a tuple."""
    if isinstance(value, tuple):
        return value[index]
    if index != 0 and value is not None:
        raise ValueError(f"{node.name if node else 'output'}: output {index} of a one-output op")
    return value
