"""3DiVi Image API "service pipelines" on the same daemon: POST /<service>/{v1|v2}/process/{sample|image}.

Each service takes a sample ({"$image": base64, "objects": [...]} in v1, {"_image": {"blob",
"format"}, "objects": [...]} in v2) and answers the same sample with its attributes merged into
the objects, so the response of one service is the request of the next. Detector services
(face-detector-*) find the faces themselves and also take a raw image (`process/image`,
multipart field `image`); the estimators take the objects' `bbox` and never re-detect; the
verify-matcher compares two objects' templates. The un-versioned /<service>/process/... paths
of Image API 1.x are v1. Validation errors are HTTP 422 {"detail": [{"loc", "msg", "type"}]}.

Everything about pixels and models is pipeline.py's: this module only parses, validates,
converts between normalized and pixel coordinates and renders. docs/imageapi.md documents
the protocol as served.
"""

import base64
import binascii
import json
import math
import re

import numpy as np
from tornado import httputil

from .. import headpose, matching, pipeline, sources
from .errors import ApiError
from .handler import JsonHandler

FITTER = "face-detector-face-fitter"
TEMPLATE = "face-detector-template-extractor"
LIVENESS = "face-detector-liveness-estimator"
AGE, GENDER, EMOTION = "age-estimator", "gender-estimator", "emotion-estimator"
VERIFY = "verify-matcher"
DETECTORS = {FITTER: pipeline.Options(), TEMPLATE: pipeline.Options(need_facen=True),
             LIVENESS: pipeline.Options(need_liveness=True)}
ESTIMATORS = {AGE: pipeline.Options(need_age=True), GENDER: pipeline.Options(need_gender=True),
              EMOTION: pipeline.Options(need_emotions=True)}
SERVICES = (*DETECTORS, *ESTIMATORS, VERIFY)

IMAGE_KEY = {"v1": "$image", "v2": "_image"}
OTHER = {"v1": "v2", "v2": "v1"}
# Our five landmarks under the names 3DiVi's 21-point `fda` fitter uses for the same points
# ("left"/"right" are the subject's), in our order: the subject's right eye first.
KEYPOINTS = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")
FITTER_TYPE = "ffea_5"
EMOTIONS = {"angry": "ANGRY", "disgust": "DISGUSTED", "fear": "SCARED", "happy": "HAPPY",
            "neutral": "NEUTRAL", "sad": "SAD", "surprise": "SURPRISED"}
TEMPLATE_SIZE = 128
BBOX_RANGE = (-0.25, 1.25)  # normalized; a little past the edges for faces cut by the frame
MIN_BOX_PIXELS = 4


class ImageApiError(Exception):
    """An error answer: HTTP status and FastAPI-style `detail` (a list of {loc, msg, type} or a string)."""

    def __init__(self, status, detail):
        super().__init__(detail)
        self.status, self.detail = status, detail


def invalid(loc, msg, kind):
    """A 422 validation error at `loc` (relative to the body)."""
    return ImageApiError(422, [{"loc": ["body", *loc], "msg": msg, "type": kind}])


def routes(service):
    """Tornado routes for every service, versioned and (as v1) un-versioned."""
    args = {"service": service}
    return [(r"/(?P<name>[A-Za-z0-9_.-]+)/(?P<version>v1|v2)/process/(?P<kind>sample|image)", ImageApiHandler, args),
            (r"/(?P<name>[A-Za-z0-9_.-]+)/process/(?P<kind>sample|image)", ImageApiHandler, args)]


class ImageApiHandler(JsonHandler):
    def initialize(self, service):
        self.service = service

    def write_error(self, status_code, **kwargs):
        """Errors as FastAPI writes them: {"detail": "<reason>"} (404, 405, 500)."""
        self.finish({"detail": self._reason})

    async def post(self, name, kind, version="v1"):
        try:
            if name not in SERVICES:
                raise ImageApiError(404, f"Not Found: no service '{name}'; services: {', '.join(SERVICES)}")
            if kind == "image" and name not in DETECTORS:
                raise ImageApiError(404, f"Not Found: {name} has no process/image (it needs objects from a "
                                         f"detector service): use process/sample")
            body, data = self.parse_image_request(version) if kind == "image" else parse_sample(self.request.body, version)
            self.write(await self.service.run(process, self.service, name, version, body, data))
        except ImageApiError as e:
            self.set_status(e.status)
            self.write({"detail": e.detail})

    def parse_image_request(self, version):
        """process/image: the multipart field `image` -> (a sample with the image, its bytes)."""
        content_type = self.request.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            raise invalid(["image"], "process/image takes multipart/form-data with the image in a field "
                                     "named 'image' (process/sample takes JSON)", "value_error.missing")
        arguments, files = {}, {}
        httputil.parse_body_arguments(content_type, self.request.body, arguments, files)
        if "image" in files:
            data = files["image"][0]["body"]
        elif "image" in arguments:
            data = arguments["image"][0]
        else:
            raise invalid(["image"], "field required: the multipart body has no field named 'image'",
                          "value_error.missing")
        encoded = base64.b64encode(data).decode("ascii")
        image = encoded if version == "v1" else {"blob": encoded, "format": "IMAGE"}
        return {IMAGE_KEY[version]: image, "objects": []}, data


# ---------------------------------------------------------------- parsing

def parse_sample(raw, version):
    """process/sample: the JSON body -> (body dict, image bytes or None)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise invalid([], f"the request body is not valid JSON ({e})", "value_error.jsondecode") from None
    if not isinstance(body, dict):
        raise invalid([], "the body must be a JSON object: a sample with an image and objects", "type_error.dict")
    other = IMAGE_KEY[OTHER[version]]
    if other in body:
        raise invalid([other], f"'{other}' belongs to the {OTHER[version]} envelope but this is a {version} path: "
                               f"every service in a pipeline must use the same API version", "value_error.version")
    objects = body.get("objects", [])
    if not isinstance(objects, list):
        raise invalid(["objects"], "'objects' must be a list of objects", "type_error.list")
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise invalid(["objects", index], "each object must be a JSON object", "type_error.dict")
        if version == "v2":
            binary = [key for key in obj if key.startswith("$")]
            if binary:
                raise invalid(["objects", index, binary[0]], f"'{binary[0]}' is a v1 ($-prefixed) key on a v2 path: "
                                                             f"every service in a pipeline must use the same API version",
                              "value_error.version")
    key = IMAGE_KEY[version]
    if key not in body:
        return body, None
    return body, decode_base64(*image_field(body[key], version))


def image_field(value, version):
    """(base64 text, loc) of the v1 `$image` string or the v2 `_image` {blob, format} object."""
    if version == "v1":
        if not isinstance(value, str):
            raise invalid(["$image"], "'$image' must be a base64 string", "type_error.str")
        return value, ["$image"]
    if not isinstance(value, dict):
        raise invalid(["_image"], "'_image' must be an object {\"blob\": base64, \"format\": \"IMAGE\"}",
                      "type_error.dict")
    if value.get("format", "IMAGE") != "IMAGE":
        raise invalid(["_image", "format"], "'format' must be \"IMAGE\" (an encoded JPEG, PNG, BMP, WebP ... file)",
                      "value_error.const")
    if not isinstance(value.get("blob"), str):
        raise invalid(["_image", "blob"], "field required: '_image.blob', the base64 image", "value_error.missing")
    return value["blob"], ["_image", "blob"]


def decode_base64(text, loc):
    """Bytes of a base64 string (whitespace and a data: URL prefix are tolerated)."""
    text = re.sub(r"^data:[^,]*;base64,", "", text.strip())
    try:
        data = base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        raise invalid(loc, "Image not in base64 format", "value_error.base64") from None
    if not data:
        raise invalid(loc, "the image is empty", "value_error.missing")
    return data


def pixel_box(obj, index, width, height):
    """The object's normalized [x1, y1, x2, y2] bbox in pixels (left, top, right, bottom)."""
    loc = ["objects", index, "bbox"]
    bbox = obj.get("bbox")
    if bbox is None:
        raise invalid(loc, "field required: a face object needs its 'bbox' [x1, y1, x2, y2] (normalized 0..1); "
                           "get one from a face-detector-* service", "value_error.missing")
    if (not isinstance(bbox, list) or len(bbox) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bbox)):
        raise invalid(loc, "'bbox' must be 4 numbers [x1, y1, x2, y2]", "type_error.list")
    x1, y1, x2, y2 = bbox
    if not all(BBOX_RANGE[0] <= v <= BBOX_RANGE[1] for v in bbox):
        raise invalid(loc, "'bbox' must be normalized to 0..1 (x by the image width, y by its height), "
                           "not in pixels", "value_error.number.not_in_range")
    box = np.array([x1 * width, y1 * height, x2 * width, y2 * height])
    if box[2] - box[0] < MIN_BOX_PIXELS or box[3] - box[1] < MIN_BOX_PIXELS:
        raise invalid(loc, f"'bbox' must have x2 > x1 and y2 > y1 and cover at least {MIN_BOX_PIXELS}x"
                           f"{MIN_BOX_PIXELS} pixels", "value_error")
    return box


def parse_template(obj, index, version):
    """The float32 vector of an object's template (v1 `$template`, v2 `template` {blob, dtype, shape})."""
    if version == "v1":
        if "template" in obj and "$template" not in obj:
            raise invalid(["objects", index, "template"], "'template' is the v2 form on a v1 path: every service "
                                                          "in a pipeline must use the same API version",
                          "value_error.version")
        value, loc = obj.get("$template"), ["objects", index, "$template"]
        if not isinstance(value, str):
            raise invalid(loc, "field required: '$template' (base64) from face-detector-template-extractor",
                          "value_error.missing")
    else:
        value, loc = obj.get("template"), ["objects", index, "template"]
        if isinstance(value, dict) and "blob" not in value and len(value) == 1:
            (name, value), = value.items()  # 3DiVi platform style: {"<extractor name>": {blob, ...}}
            loc = loc + [name]
        if not isinstance(value, dict) or not isinstance(value.get("blob"), str):
            raise invalid(loc, "field required: 'template' {blob, format, dtype, shape} from "
                               "face-detector-template-extractor", "value_error.missing")
        if value.get("dtype", "float32") != "float32":
            raise invalid(loc + ["dtype"], "'dtype' must be float32", "value_error.const")
        value, loc = value["blob"], loc + ["blob"]
    try:
        raw = base64.b64decode(re.sub(r"\s+", "", value), validate=True)
    except (binascii.Error, ValueError):
        raise invalid(loc, "template not in base64 format", "value_error.base64") from None
    if len(raw) != TEMPLATE_SIZE * 4:
        raise invalid(loc, f"not a template of this service ({TEMPLATE_SIZE} little-endian float32, "
                           f"{TEMPLATE_SIZE * 4} bytes; got {len(raw)})", "value_error")
    vector = np.frombuffer(raw, "<f4")
    if not np.all(np.isfinite(vector)) or not np.any(vector):
        raise invalid(loc, "the template is not a finite non-zero vector", "value_error")
    return vector


# ---------------------------------------------------------------- processing (worker thread)

def process(service, name, version, body, data):
    """Run one service on one sample; returns the response sample."""
    if name == VERIFY:
        return verify(body, version)
    if data is None:
        key = IMAGE_KEY[version]
        raise invalid([key], f"field required: '{key}', the image", "value_error.missing")
    loc = ["$image"] if version == "v1" else ["_image", "blob"]
    settings = service.settings
    try:
        image = sources.decode(data, settings.max_dimension)
    except ApiError as e:
        message = "This image format is not supported" if e.code == "IMAGE_DECODING_FAILED" else "Image is too large"
        raise invalid(loc, f"{message}: {e.desc}", "value_error.image") from None
    height, width = image.shape[:2]
    try:
        if name in DETECTORS:
            faces = pipeline.extract(service.models, image, DETECTORS[name], settings.min_face_size,
                                     settings.max_face_size)
            objects = [detected(index, face, name, version, width, height) for index, face in enumerate(faces)]
        else:
            objects = estimate(service.models, image, body.get("objects", []), ESTIMATORS[name], version)
    except pipeline.Unsupported as e:  # the liveness pack is not installed
        raise ImageApiError(501, [{"loc": ["path", "service"], "msg": str(e), "type": "model_not_installed"}]) from None
    response = dict(body)
    response["objects"] = objects
    return response


def detected(index, face, name, version, width, height):
    """A face found by a detector service, as a 3DiVi object."""
    scale = np.array([width, height, width, height], np.float64)
    out = {"id": index, "class": "face", "confidence": round(face.score, 6),
           "bbox": [float(v) for v in np.clip(face.box / scale, 0.0, 1.0)]}  # unrounded: estimators re-read it
    if name == FITTER:
        points = face.landmarks / [width, height]
        yaw, pitch, roll = headpose.estimate(face.landmarks)
        if version == "v1":
            out["fitter"] = {"fitter_type": FITTER_TYPE,
                             "keypoints": [round(float(v), 6) for x, y in points for v in (x, y, 0.0)],
                             "left_eye": [round(float(v), 6) for v in points[1]],
                             "right_eye": [round(float(v), 6) for v in points[0]]}
            out["angles"] = {"yaw": yaw, "pitch": pitch, "roll": roll}
        else:
            named = {key: {"proj": [round(float(v), 6) for v in point]} for key, point in zip(KEYPOINTS, points)}
            out["keypoints"] = {"fitter_type": FITTER_TYPE, "points": list(named.values()), **named}
            out["pose"] = {"yaw": yaw, "pitch": pitch, "roll": roll}
    elif name == TEMPLATE:
        blob = base64.b64encode(face.facen.astype("<f4").tobytes()).decode("ascii")
        if version == "v1":
            out["$template"] = blob
        else:
            out["template"] = {"blob": blob, "format": "NDARRAY", "dtype": "float32", "shape": [TEMPLATE_SIZE]}
    elif name == LIVENESS:
        out["liveness"] = liveness(face)
    return out


def estimate(models, image, objects, options, version):
    """Age, gender or emotions for the face objects at their bboxes, merged into copies of them."""
    height, width = image.shape[:2]
    targets = [index for index, obj in enumerate(objects) if obj.get("class", "face") == "face"]
    boxes = [pixel_box(objects[index], index, width, height) for index in targets]
    faces = pipeline.faces_from_boxes(models, image, boxes)
    pipeline.describe(models, faces, options)
    merged = [dict(obj) for obj in objects]
    for index, face in zip(targets, faces):
        if options.need_age:
            merged[index]["age"] = int(round(face.age))
        if options.need_gender:
            merged[index]["gender"] = "MALE" if face.male_probability > 0.5 else "FEMALE"
        if options.need_emotions:
            ranked = sorted(face.emotions.items(), key=lambda item: -item[1])
            merged[index]["emotions"] = [{"confidence": round(p, 6), "emotion": EMOTIONS[label]} for label, p in ranked]
    return merged


def liveness(face):
    return {"confidence": round(face.liveness, 6), "value": "REAL" if face.real else "FAKE"}


def verify(body, version):
    """verify-matcher: the two objects' templates compared; the sample comes back with `verification`."""
    objects = body.get("objects")
    if not isinstance(objects, list) or len(objects) != 2:
        count = len(objects) if isinstance(objects, list) else 0
        raise invalid(["objects"], f"verify-matcher compares exactly 2 objects with a template; got {count}",
                      "value_error.list.size")
    first, second = (parse_template(obj, index, version) for index, obj in enumerate(objects))
    score, distance, same = matching.compare(first, second)
    response = dict(body)
    response["verification"] = {"score": round(score, 6), "distance": round(distance, 6),
                                "threshold": matching.SAME_PERSON_THRESHOLD,
                                "value": "SAME" if same else "DIFFERENT"}
    return response
