"""Independent numpy forward pass of a Keras 2 CNN with TensorFlow semantics.

This is the reference the ONNX conversion is checked against. It works in
NHWC and float64 straight from the Keras weights (HWIO kernels), so it shares
no layout or ONNX code with convert_fer.py.
"""

import numpy as np
from keras_h5 import KerasModel, tf_same_pads
from numpy.lib.stride_tricks import sliding_window_view


def _pad(x, kernel, strides, padding, value=0.0):
    if padding == "valid":
        return x
    (ph0, ph1), (pw0, pw1) = (
        tf_same_pads(x.shape[1], kernel[0], strides[0]),
        tf_same_pads(x.shape[2], kernel[1], strides[1]),
    )
    return np.pad(x, ((0, 0), (ph0, ph1), (pw0, pw1), (0, 0)), constant_values=value)


def _windows(x, kernel, strides):
    """(N, Ho, Wo, C, kh, kw) patches."""
    win = sliding_window_view(x, tuple(kernel), axis=(1, 2))
    return win[:, :: strides[0], :: strides[1]]


def conv2d(x, kernel, strides, padding, bias=None):
    k = kernel.astype(np.float64)  # (kh, kw, Cin, Cout)
    win = _windows(_pad(x, k.shape[:2], strides, padding), k.shape[:2], strides)
    y = np.einsum("nhwcij,ijco->nhwo", win, k, optimize=True)
    return y if bias is None else y + bias


def depthwise2d(x, kernel, strides, padding):
    k = kernel.astype(np.float64)[:, :, :, 0]  # (kh, kw, C), depth_multiplier 1
    win = _windows(_pad(x, k.shape[:2], strides, padding), k.shape[:2], strides)
    return np.einsum("nhwcij,ijc->nhwc", win, k, optimize=True)


def maxpool2d(x, pool, strides, padding):
    win = _windows(_pad(x, pool, strides, padding, value=-np.inf), pool, strides)
    return win.max(axis=(4, 5))


def batchnorm(x, w, eps):
    return (x - w["moving_mean"]) / np.sqrt(w["moving_variance"].astype(np.float64) + eps) * w["gamma"] + w["beta"]


def activation(x, name):
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f"activation {name} not supported")


def forward(model: KerasModel, x_nhwc: np.ndarray) -> np.ndarray:
    """Evaluate the model on an NHWC batch; returns the output layer's value (float64)."""
    values = {}
    for layer in model.layers:
        c, w = layer.config, layer.weights
        args = [values[name] for name in layer.inputs]
        if layer.kind == "InputLayer":
            y = x_nhwc.astype(np.float64)
        elif layer.kind == "Conv2D":
            y = conv2d(args[0], w["kernel"], c["strides"], c["padding"], w.get("bias"))
            y = activation(y, c["activation"])
        elif layer.kind == "SeparableConv2D":
            y = depthwise2d(args[0], w["depthwise_kernel"], c["strides"], c["padding"])
            y = conv2d(y, w["pointwise_kernel"], (1, 1), "valid", w.get("bias"))
            y = activation(y, c["activation"])
        elif layer.kind == "BatchNormalization":
            y = batchnorm(args[0], w, c["epsilon"])
        elif layer.kind == "Activation":
            y = activation(args[0], c["activation"])
        elif layer.kind == "MaxPooling2D":
            y = maxpool2d(args[0], c["pool_size"], c["strides"], c["padding"])
        elif layer.kind == "Add":
            y = sum(args)
        elif layer.kind == "GlobalAveragePooling2D":
            y = args[0].mean(axis=(1, 2))
        else:
            raise ValueError(f"layer type {layer.kind} not supported")
        values[layer.name] = y
    return values[model.output_layer]
