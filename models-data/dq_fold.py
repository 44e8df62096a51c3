"""Graph surgery shared by the YuNet and SFace fixes.

The int8 "block-quantized" OpenCV Zoo graphs keep their weights as
DequantizeLinear(int8 initializer) [-> Reshape]. onnxruntime does not
constant-fold these, so it dequantizes on every run (2.5x slower); it also
rejects stray block_size attributes on 1-element scales. We fold the weights to
float32 initializers here with exactly the DequantizeLinear arithmetic.
"""

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _initializers(graph) -> dict:
    return {i.name: i for i in graph.initializer}


def strip_stray_block_attrs(model) -> int:
    """Drop block_size/axis from DequantizeLinear nodes with a 1-element scale of rank <= 1.

    onnxruntime 1.31 treats such a scale as per-tensor and then refuses a
    non-zero block_size; the attributes do not change the result.
    """
    inits = _initializers(model.graph)
    count = 0
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[1] not in inits:
            continue
        dims = list(inits[node.input[1]].dims)
        if int(np.prod(dims)) == 1 and len(dims) <= 1:
            keep = [a for a in node.attribute if a.name not in ("block_size", "axis")]
            if len(keep) != len(node.attribute):
                del node.attribute[:]
                node.attribute.extend(keep)
                count += 1
    return count


def _expand(param: np.ndarray, q_shape, axis: int, block_size: int) -> np.ndarray:
    """Broadcast a scale/zero-point to the quantized tensor's shape."""
    if param.size == 1 and param.ndim <= 1:
        return param.reshape(())  # per-tensor
    axis = axis % len(q_shape)
    if block_size > 0:  # blocked: each scale covers block_size elements along axis
        rep = np.repeat(param, block_size, axis=axis)
        return np.take(rep, np.arange(q_shape[axis]), axis=axis)
    shape = [1] * len(q_shape)  # per-axis
    shape[axis] = q_shape[axis]
    return param.reshape(shape)


def dequantize(q: np.ndarray, scale: np.ndarray, zero_point, attrs: dict) -> np.ndarray:
    """(q - zp) * scale in float32, as onnxruntime computes it."""
    if scale.dtype != np.float32:
        raise ValueError(f"unsupported DequantizeLinear scale dtype {scale.dtype}")
    axis, block = attrs.get("axis", 1), attrs.get("block_size", 0)
    s = _expand(scale, q.shape, axis, block)
    zp = 0 if zero_point is None else _expand(zero_point, q.shape, axis, block).astype(np.int32)
    return ((q.astype(np.int32) - zp).astype(np.float32) * s).astype(np.float32)


def _onnx_reshape(x: np.ndarray, shape: np.ndarray, allowzero: int) -> np.ndarray:
    shape = [int(d) for d in shape]
    if not allowzero:
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def fold_dequantize(model) -> tuple[int, int]:
    """Replace constant DequantizeLinear (+ a following constant Reshape) by float32 initializers.

    Returns (DequantizeLinear nodes folded, Reshape nodes folded).
    """
    graph = model.graph
    inits = _initializers(graph)
    graph_outputs = {o.name for o in graph.output}
    nodes = list(graph.node)
    consumers: dict[str, list] = {}
    for n in nodes:
        for name in n.input:
            consumers.setdefault(name, []).append(n)

    drop, new_inits = set(), []
    n_dq = n_reshape = 0
    for node in nodes:
        if node.op_type != "DequantizeLinear":
            continue
        if not all(name in inits for name in node.input if name):
            continue
        arrays = [numpy_helper.to_array(inits[name]) if name else None for name in node.input]
        q, scale = arrays[0], arrays[1]
        zp = arrays[2] if len(arrays) > 2 else None
        value, out_name = dequantize(q, scale, zp, _attrs(node)), node.output[0]
        drop.add(id(node))
        n_dq += 1
        users = consumers.get(out_name, [])
        if (
            len(users) == 1
            and out_name not in graph_outputs
            and users[0].op_type == "Reshape"
            and users[0].input[0] == out_name
            and users[0].input[1] in inits
        ):
            reshape = users[0]
            shape = numpy_helper.to_array(inits[reshape.input[1]])
            value = _onnx_reshape(value, shape, _attrs(reshape).get("allowzero", 0))
            out_name = reshape.output[0]
            drop.add(id(reshape))
            n_reshape += 1
        new_inits.append(numpy_helper.from_array(value, out_name))

    kept = [n for n in nodes if id(n) not in drop]
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(new_inits)
    remove_unused_initializers(model)
    return n_dq, n_reshape


def remove_unused_initializers(model) -> int:
    graph = model.graph
    used = {name for n in graph.node for name in n.input} | {o.name for o in graph.output}
    keep = [i for i in graph.initializer if i.name in used]
    removed = len(graph.initializer) - len(keep)
    del graph.initializer[:]
    graph.initializer.extend(keep)
    return removed


def set_dims(value_info, dims) -> None:
    """Overwrite a graph input/output's shape; str -> symbolic dim, None -> unknown dim."""
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        elif d is not None:
            dim.dim_value = d


def dims_of(value_info) -> list:
    return [
        d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else None)
        for d in value_info.type.tensor_type.shape.dim
    ]


def count_ops(model, op_type: str) -> int:
    return sum(1 for n in model.graph.node if n.op_type == op_type)


def check(model, what: str) -> None:
    """onnx.checker with full shape inference; raises ValueError naming the model."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # onnx raises several types
        raise ValueError(f"onnx.checker rejected {what}: {e}") from None
