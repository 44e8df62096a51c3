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

# Our five landmarks under the names 3DiVi's 21-point `fda` fitter uses for the same points
# ("left"/"right" are the subject's), in our order: the subject's right eye first.
KEYPOINTS = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")
FITTER_TYPE = "ffea_5"
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


def write_fitter(obj: dict[str, Any], face: Face, frame: Frame) -> None:
    points = face.landmarks / [frame.width, frame.height]
    yaw, pitch, roll = face.pose or (0.0, 0.0, 0.0)
    if frame.version == "v1":
        obj["fitter"] = {
            "fitter_type": FITTER_TYPE,
            "keypoints": [round(float(v), 6) for x, y in points for v in (x, y, 0.0)],
            "left_eye": [round(float(v), 6) for v in points[1]],
            "right_eye": [round(float(v), 6) for v in points[0]],
        }
        obj["angles"] = {"yaw": yaw, "pitch": pitch, "roll": roll}
    else:
        named = {
            key: {"proj": [round(float(v), 6) for v in point]} for key, point in zip(KEYPOINTS, points, strict=True)
        }
        obj["keypoints"] = {"fitter_type": FITTER_TYPE, "points": list(named.values()), **named}
        obj["pose"] = {"yaw": yaw, "pitch": pitch, "roll": roll}


def write_template(obj: dict[str, Any], face: Face, frame: Frame) -> None:
    blob = render.vector_base64(face.facen if face.facen is not None else np.zeros(0))
    if frame.version == "v1":
        obj["$template"] = blob
    else:
        size = TEMPLATE_SIZE if face.facen is None else len(face.facen)
        obj["template"] = {"blob": blob, "format": "NDARRAY", "dtype": "float32", "shape": [size]}


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
    facen = pipeline.facen_identity()
    first, second = (
        parse_template(obj, index, version, facen["dimension"], facen["model"]) for index, obj in enumerate(objects)
    )
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
