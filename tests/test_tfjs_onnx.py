"""models-data/tfjs_onnx.py on a small hand-written TFJS graph: the ops and weight encodings
the two bundled TFJS models do not exercise (PReLU, Relu6, AvgPool, ConcatV2, Reshape, float16
and uint8 weights) and the Relu/Minimum/Maximum -> Clip fusion, checked against the numpy
TF-semantics reference (tfjs_numpy.py)."""

import base64
import json
import os
import sys

import numpy as np
import onnxruntime as ort
import pytest

from findface_extraction_api.testing import ROOT

sys.path.insert(0, os.path.join(ROOT, "models-data"))
import tfjs_numpy  # noqa: E402
import tfjs_onnx  # noqa: E402
from dq_fold import check  # noqa: E402

pytestmark = pytest.mark.unit


def _attr(**kw):
    out = {}
    for key, value in kw.items():
        if isinstance(value, str):
            out[key] = {"s": base64.b64encode(value.encode()).decode()}
        elif isinstance(value, bool):
            out[key] = {"b": value}
        elif isinstance(value, int):
            out[key] = {"i": str(value)}
        elif isinstance(value, list) and value and isinstance(value[0], str):
            out[key] = {"list": {"s": [base64.b64encode(v.encode()).decode() for v in value]}}
        elif isinstance(value, list):
            out[key] = {"list": {"i": [str(v) for v in value]}}
    return out


def _graph(rng):
    """A small NHWC net: fused conv+PReLU, depthwise+Relu6, avg/max pools, concat, mean, reshape, dense."""
    w = {
        "k1": rng.normal(0, 0.3, (3, 3, 3, 4)).astype(np.float32),
        "b1": rng.normal(0, 0.1, 4).astype(np.float32),
        "a1": rng.uniform(0.05, 0.3, 4).astype(np.float32),
        "dw": rng.normal(0, 0.3, (3, 3, 4, 1)).astype(np.float32),
        "axis": np.array(3, np.int32),
        "mean_axes": np.array([1, 2], np.int32),
        "shape": np.array([-1, 8], np.int32),
        "dense": rng.normal(0, 0.3, (8, 5)).astype(np.float32),
        "bias": rng.normal(0, 0.1, 5).astype(np.float32),
        "six": np.array(6, np.float32),
        "zero": np.array(0, np.float32),
    }
    same = "SAME"
    s1, s2 = [1, 1, 1, 1], [1, 2, 2, 1]
    nodes = [{"name": k, "op": "Const", "attr": {}} for k in w]
    nodes += [
        {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [{"size": "-1"}, {"size": "9"},
                                                                                  {"size": "9"}, {"size": "3"}]}}}},
        {"name": "c1", "op": "_FusedConv2D", "input": ["x", "k1", "b1", "a1"],
         "attr": _attr(strides=s2, padding=same, data_format="NHWC", fused_ops=["BiasAdd", "Prelu"], num_args=2)},
        {"name": "d1", "op": "DepthwiseConv2dNative", "input": ["c1", "dw"],
         "attr": _attr(strides=s1, padding=same, data_format="NHWC")},
        {"name": "r6", "op": "Relu6", "input": ["d1"]},
        {"name": "ap", "op": "AvgPool", "input": ["r6"], "attr": _attr(ksize=[1, 3, 3, 1], strides=s2, padding=same)},
        {"name": "r", "op": "Relu", "input": ["d1"]},  # Keras's ReLU6: relu, then clip_by_value
        {"name": "mn", "op": "Minimum", "input": ["r", "six"]},
        {"name": "mx", "op": "Maximum", "input": ["mn", "zero"]},
        {"name": "mp", "op": "MaxPool", "input": ["mx"], "attr": _attr(ksize=[1, 2, 2, 1], strides=s2, padding=same)},
        {"name": "cat", "op": "ConcatV2", "input": ["ap", "mp", "axis"]},
        {"name": "m", "op": "Mean", "input": ["cat", "mean_axes"], "attr": _attr(keep_dims=False)},
        {"name": "flat", "op": "Reshape", "input": ["m", "shape"]},
        {"name": "fc", "op": "_FusedMatMul", "input": ["flat", "dense", "bias"],
         "attr": _attr(fused_ops=["BiasAdd", "Relu"], transpose_a=False, transpose_b=False)},
        {"name": "out", "op": "Softmax", "input": ["fc"]},
    ]  # fmt: skip
    return nodes, w


def _manifest(weights, encodings):
    """model.json weightsManifest + one shard, each weight stored as `encodings` says."""
    specs, chunks = [], []
    for name, value in weights.items():
        spec = {"name": name, "shape": list(value.shape), "dtype": "int32" if value.dtype == np.int32 else "float32"}
        how = encodings.get(name)
        if how == "float16":
            spec["quantization"] = {"dtype": "float16"}
            chunks.append(value.astype(np.float16).tobytes())
        elif how == "uint8":
            lo, hi = float(value.min()), float(value.max())
            scale = (hi - lo) / 255
            q = np.round((value - lo) / scale).astype(np.uint8)
            spec["quantization"] = {"dtype": "uint8", "min": lo, "scale": scale}
            chunks.append(q.tobytes())
        else:
            chunks.append(value.tobytes())
        specs.append(spec)
    return [{"paths": ["group1-shard1of1.bin"], "weights": specs}], b"".join(chunks)


@pytest.mark.parametrize("encodings", [{}, {"k1": "float16", "dense": "uint8"}])
def test_synthetic_graph_matches_the_numpy_reference(encodings):
    rng = np.random.default_rng(7)
    nodes, weights = _graph(rng)
    manifest, shard = _manifest(weights, encodings)
    doc = {"format": "graph-model", "modelTopology": {"node": nodes}, "weightsManifest": manifest}
    model = tfjs_onnx.read(json.dumps(doc).encode(), {"group1-shard1of1.bin": shard}.__getitem__)
    if encodings:  # decoded as TFJS does: float16 widened, uint8 = q * scale + min
        assert model.weights["k1"].dtype == np.float32
        assert np.abs(model.weights["dense"] - weights["dense"]).max() <= (np.ptp(weights["dense"]) / 255) / 2 + 1e-6
    onnx_model = tfjs_onnx.convert(model, {"x": ("x", "NHWC")}, {"out": "p", "c1": "features"}, "synthetic")
    check(onnx_model, "synthetic")
    ops = [n.op_type for n in onnx_model.graph.node]
    assert ops.count("Clip") == 2 and "Min" not in ops and "Max" not in ops  # Relu6 and the fused chain
    x = rng.uniform(-1, 1, (3, 9, 9, 3)).astype(np.float32)
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x})
    want = tfjs_numpy.forward(model, {"x": x}, ["out", "c1"])
    assert [g.shape for g in got] == [(3, 5), (3, 5, 5, 4)]
    for g, r in zip(got, want, strict=True):
        assert np.abs(g - r).max() < 1e-5


def test_unknown_op_is_named():
    doc = {
        "format": "graph-model",
        "modelTopology": {
            "node": [
                {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [{"size": "1"}]}}}},
                {"name": "y", "op": "Erfinv", "input": ["x"]},
            ]
        },
        "weightsManifest": [],
    }
    model = tfjs_onnx.read(json.dumps(doc).encode(), lambda path: b"")
    with pytest.raises(ValueError, match="Erfinv"):
        tfjs_onnx.convert(model, {"x": ("x", "NHWC")}, {"y": "y"}, "bad")
