"""The registry of Image API services: what each asks of the pipeline and what it writes per face.

A new service is one entry: its pipeline Options, whether it detects faces itself (and so also
serves process/image) or reads the objects' boxes, and a function that writes its keys into a
face object. verify-matcher compares templates and runs no model; it is the one MATCHER.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...face import Face
from ...pipeline import Options, Pipeline
from .. import render
from .samples import TEMPLATE_SIZE, invalid, parse_template

# 3DiVi's 21 named `fda` points, in its order, as FaceMesh points (mesh indices, averaged when
# several): "left"/"right" are the subject's throughout (the subject's left eye is on the image's
# right; its "left" end is its outer corner). The eye centres average the corners and the lids.
FITTER_TYPE = "facemesh_21"
FDA_POINTS: dict[str, tuple[int, ...]] = {
    "left_eye_brow_left": (300,),
    "left_eye_brow_up": (334,),
    "left_eye_brow_right": (336,),
    "right_eye_brow_left": (107,),
    "right_eye_brow_up": (105,),
    "right_eye_brow_right": (70,),
    "left_eye_left": (263,),
    "left_eye": (263, 362, 386, 374),
    "left_eye_right": (362,),
    "right_eye_left": (133,),
    "right_eye": (33, 133, 159, 145),
    "right_eye_right": (33,),
    "left_ear_bottom": (361,),
    "nose_left": (327,),
    "nose": (1,),
    "nose_right": (98,),
    "right_ear_bottom": (132,),
    "mouth_left": (291,),
    "mouth": (13, 14),
    "mouth_right": (61,),
    "chin": (152,),
}
EMOTIONS = {
    "angry": "ANGRY",
    "disgust": "DISGUSTED",
    "fear": "SCARED",
    "happy": "HAPPY",
    "neutral": "NEUTRAL",
    "sad": "SAD",
    "surprise": "SURPRISED",
}  # our labels -> 3DiVi's


@dataclass(frozen=True)
class Frame:
    """What a writer needs besides the face: the API version and the image size (for normalized coordinates)."""

    version: str
    width: int
    height: int


Writer = Callable[[dict[str, Any], Face, Frame], None]


@dataclass(frozen=True)
class ImageService:
    options: Options
    detects: bool  # finds the faces itself (process/image too); otherwise reads the objects' bboxes
    write: Writer
    finds: str = "face"  # the class of the objects a detecting service finds: "face" or "body"


def fitted_points(face: Face, frame: Frame) -> dict[str, np.ndarray]:
    """The 21 named points as (x, y, z), x and z normalized by the image width, y by its height."""
    mesh = face.mesh if face.mesh is not None else np.zeros((468, 3))
    scale = np.array([frame.width, frame.height, frame.width], np.float64)
    return {name: mesh[list(indices)].mean(0) / scale for name, indices in FDA_POINTS.items()}


def rounded(values: Any) -> list[float]:
    return [round(float(v), 6) for v in values]


def write_fitter(obj: dict[str, Any], face: Face, frame: Frame) -> None:
    points = fitted_points(face, frame)
    yaw, pitch, roll = face.pose or (0.0, 0.0, 0.0)
    if frame.version == "v1":
        obj["fitter"] = {
            "fitter_type": FITTER_TYPE,
            "keypoints": [v for point in points.values() for v in rounded(point)],
            "left_eye": rounded(points["left_eye"][:2]),
            "right_eye": rounded(points["right_eye"][:2]),
        }
        obj["angles"] = {"yaw": yaw, "pitch": pitch, "roll": roll}
    else:
        named = {name: {"proj": rounded(point[:2])} for name, point in points.items()}
        obj["keypoints"] = {"fitter_type": FITTER_TYPE, "points": list(named.values()), **named}
        obj["pose"] = {"yaw": yaw, "pitch": pitch, "roll": roll}


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def write_quality(obj: dict[str, Any], face: Face, frame: Frame) -> None:
    """v1 (3DiVi's demo and docs): `quality.qaa` with camelCase fields; v2: the Face SDK block's
    own form, `quality` with snake_case fields (`quality.total_score`)."""
    checks = face.qaa or {}
    if frame.version == "v1":
        obj["quality"] = {"qaa": {camel_case(key): value for key, value in checks.items()}}
    else:
        obj["quality"] = dict(checks)


def write_nothing(obj: dict[str, Any], face: Face, frame: Frame) -> None:
    """body-detector: id, class, confidence and bbox are all there is."""


def write_template(obj: dict[str, Any], face: Face, frame: Frame) -> None:
    blob = render.vector_base64(face.facen if face.facen is not None else np.zeros(0))
    if frame.version == "v1":
        obj["$template"] = blob
    else:
        obj["template"] = {"blob": blob, "format": "NDARRAY", "dtype": "float32", "shape": [TEMPLATE_SIZE]}


def write_liveness(obj: dict[str, Any], face: Face, frame: Frame) -> None:
    obj["liveness"] = {"confidence": round(face.liveness or 0.0, 6), "value": render.liveness_label(face)}


def write_age(obj: dict[str, Any], face: Face, frame: Frame) -> None:
    obj["age"] = int(round(face.age or 0.0))


def write_gender(obj: dict[str, Any], face: Face, frame: Frame) -> None:
    obj["gender"] = render.gender_label(face)


def write_emotions(obj: dict[str, Any], face: Face, frame: Frame) -> None:
    obj["emotions"] = [
        {"confidence": p, "emotion": EMOTIONS.get(label, label.upper())} for label, p in render.ranked_emotions(face)
    ]


SERVICES: dict[str, ImageService] = {
    "face-detector-face-fitter": ImageService(Options(pose=True), True, write_fitter),
    "face-detector-template-extractor": ImageService(Options(facen=True), True, write_template),
    "face-detector-liveness-estimator": ImageService(Options(liveness=True), True, write_liveness),
    "age-estimator": ImageService(Options(age=True), False, write_age),
    "gender-estimator": ImageService(Options(gender=True), False, write_gender),
    "emotion-estimator": ImageService(Options(emotions=True), False, write_emotions),
    "quality-assessment-estimator": ImageService(Options(qaa=True), False, write_quality),
    "body-detector": ImageService(Options(), True, write_nothing, finds="body"),
    "mask-estimator": ImageService(Options(mask=True), False, write_nothing),  # 501: no model (pipeline.py)
}


def verify(pipeline: Pipeline, body: dict[str, Any], version: str) -> dict[str, Any]:
    """verify-matcher: the two objects' templates compared; the sample comes back with `verification`."""
    objects = body.get("objects")
    if not isinstance(objects, list) or len(objects) != 2:
        count = len(objects) if isinstance(objects, list) else 0
        raise invalid(
            ["objects"],
            f"verify-matcher compares exactly 2 objects with a template; got {count}",
            "value_error.list.size",
        )
    first, second = (parse_template(obj, index, version) for index, obj in enumerate(objects))
    match = pipeline.compare(first, second)
    response = dict(body)
    response["verification"] = {
        "score": round(match.score, 6),
        "distance": round(match.distance, 6),
        "threshold": match.threshold,
        "value": "SAME" if match.same_person else "DIFFERENT",
    }
    return response


MATCHERS = {"verify-matcher": verify}
NAMES = (*SERVICES, *MATCHERS)
