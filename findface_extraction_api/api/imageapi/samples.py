"""Image API envelopes: the v1/v2 sample, its image, its objects' boxes and templates, validated.

Every problem is an ImageApiError; validation problems are 422s whose `loc` points into the
body, as FastAPI (which 3DiVi's Image API runs on) writes them.
"""

import base64
import binascii
import math
import re
from typing import Any

import numpy as np

from .. import json_input
from ..render import clip_text

IMAGE_KEY = {"v1": "$image", "v2": "_image"}
OTHER = {"v1": "v2", "v2": "v1"}
TEMPLATE_SIZE = 128  # floats in an SFace template; the service's own comes from Pipeline.facen_dimension
BBOX_RANGE = (-0.25, 1.25)  # normalized; a little past the edges for faces cut by the frame
MIN_BOX_PIXELS = 4


class ImageApiError(Exception):
    """An error answer: HTTP status and FastAPI-style `detail` (a list of {loc, msg, type} or a string)."""

    def __init__(self, status: int, detail: Any):
        super().__init__(detail)
        self.status, self.detail = status, detail


def invalid(loc: list[Any], msg: str, kind: str, reason: str | None = None) -> ImageApiError:
    """A 422 validation error at `loc` (relative to the body). `reason`, when given, goes in
    `ctx` (where pydantic puts an error's details) so that `msg` can stay the vendor's exact text."""
    loc = [clip_text(part, 100) if isinstance(part, str) else part for part in loc]
    error: dict[str, Any] = {"loc": ["body", *loc], "msg": clip_text(msg, 1000), "type": kind}
    if reason is not None:
        error["ctx"] = {"reason": clip_text(reason, 1000)}
    return ImageApiError(422, [error])


def parse_sample(raw: bytes, version: str) -> tuple[dict[str, Any], bytes | None]:
    """process/sample: the JSON body -> (body dict, image bytes or None)."""
    try:
        body = json_input.loads(raw)
    except json_input.BadJson as e:
        raise invalid([], f"the request body is not valid JSON ({e})", "value_error.jsondecode") from None
    if not isinstance(body, dict):
        raise invalid([], "the body must be a JSON object: a sample with an image and objects", "type_error.dict")
    other = IMAGE_KEY[OTHER[version]]
    if other in body:
        raise invalid(
            [other],
            f"'{other}' belongs to the {OTHER[version]} envelope but this is a {version} path: "
            f"every service in a pipeline must use the same API version",
            "value_error.version",
        )
    objects = body.get("objects", [])
    if not isinstance(objects, list):
        raise invalid(["objects"], "'objects' must be a list of objects", "type_error.list")
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise invalid(["objects", index], "each object must be a JSON object", "type_error.dict")
        if version == "v2":
            binary = [key for key in obj if key.startswith("$")]
            if binary:
                raise invalid(
                    ["objects", index, binary[0]],
                    f"'{binary[0]}' is a v1 ($-prefixed) key on a v2 path: "
                    f"every service in a pipeline must use the same API version",
                    "value_error.version",
                )
    key = IMAGE_KEY[version]
    if key not in body:
        return body, None
    return body, decode_base64(*image_field(body[key], version))


def image_field(value: Any, version: str) -> tuple[str, list[Any]]:
    """(base64 text, loc) of the v1 `$image` string or the v2 `_image` {blob, format} object."""
    if version == "v1":
        if not isinstance(value, str):
            raise invalid(["$image"], "'$image' must be a base64 string", "type_error.str")
        return value, ["$image"]
    if not isinstance(value, dict):
        raise invalid(["_image"], '\'_image\' must be an object {"blob": base64, "format": "IMAGE"}', "type_error.dict")
    if value.get("format", "IMAGE") != "IMAGE":
        raise invalid(
            ["_image", "format"],
            "'format' must be \"IMAGE\" (an encoded JPEG, PNG, BMP, WebP ... file)",
            "value_error.const",
        )
    if not isinstance(value.get("blob"), str):
        raise invalid(["_image", "blob"], "field required: '_image.blob', the base64 image", "value_error.missing")
    return value["blob"], ["_image", "blob"]


ASCII_WHITESPACE = b" \t\n\r\x0b\x0c"


def decode_base64(text: str, loc: list[Any]) -> bytes:
    """Bytes of a base64 string (ASCII whitespace and a data: URL prefix are tolerated).

    Whitespace goes with bytes.translate: re.sub(r"\\s+") took 0.83 s of the event loop on a 90 MB
    image (1.5 s with the rest: every client waited), translate takes a few tens of ms."""
    text = re.sub(r"^data:[^,]*;base64,", "", text.strip())
    try:
        data = base64.b64decode(text.encode("ascii").translate(None, ASCII_WHITESPACE), validate=True)
    except (binascii.Error, ValueError):  # UnicodeEncodeError is a ValueError: base64 is ASCII
        raise invalid(loc, "Image not in base64 format", "value_error.base64") from None
    if not data:
        raise invalid(loc, "the image is empty", "value_error.missing")
    return data


def pixel_box(obj: dict[str, Any], index: int, width: int, height: int) -> np.ndarray:
    """The object's normalized [x1, y1, x2, y2] bbox in pixels (left, top, right, bottom)."""
    loc = ["objects", index, "bbox"]
    bbox = obj.get("bbox")
    if bbox is None:
        raise invalid(
            loc,
            "field required: a face object needs its 'bbox' [x1, y1, x2, y2] (normalized 0..1); "
            "get one from a face-detector-* service",
            "value_error.missing",
        )
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(is_finite_number(v) for v in bbox):
        raise invalid(loc, "'bbox' must be 4 numbers [x1, y1, x2, y2]", "type_error.list")
    x1, y1, x2, y2 = bbox
    if not all(BBOX_RANGE[0] <= v <= BBOX_RANGE[1] for v in bbox):
        raise invalid(
            loc,
            "'bbox' must be normalized to 0..1 (x by the image width, y by its height), not in pixels",
            "value_error.number.not_in_range",
        )
    box = np.array([x1 * width, y1 * height, x2 * width, y2 * height])
    if box[2] - box[0] < MIN_BOX_PIXELS or box[3] - box[1] < MIN_BOX_PIXELS:
        raise invalid(
            loc,
            f"'bbox' must have x2 > x1 and y2 > y1 and cover at least {MIN_BOX_PIXELS}x{MIN_BOX_PIXELS} pixels",
            "value_error",
        )
    return box


def parse_template(
    obj: dict[str, Any], index: int, version: str, size: int = TEMPLATE_SIZE, model: str = "sface"
) -> np.ndarray:
    """The float32 vector of an object's template (v1 `$template`, v2 `template` {blob, dtype, shape}):
    `size` floats, as facen `model` makes them; a template of another length is another model's."""
    if version == "v1":
        if "template" in obj and "$template" not in obj:
            raise invalid(
                ["objects", index, "template"],
                "'template' is the v2 form on a v1 path: every service in a pipeline must use the same API version",
                "value_error.version",
            )
        value, loc = obj.get("$template"), ["objects", index, "$template"]
        if not isinstance(value, str):
            raise invalid(
                loc, "field required: '$template' (base64) from face-detector-template-extractor", "value_error.missing"
            )
    else:
        value, loc = obj.get("template"), ["objects", index, "template"]
        if isinstance(value, dict) and "blob" not in value and len(value) == 1:
            ((name, value),) = value.items()  # 3DiVi platform style: {"<extractor name>": {blob, ...}}
            loc = loc + [name]
        if not isinstance(value, dict) or not isinstance(value.get("blob"), str):
            raise invalid(
                loc,
                "field required: 'template' {blob, format, dtype, shape} from face-detector-template-extractor",
                "value_error.missing",
            )
        if value.get("dtype", "float32") != "float32":
            raise invalid(loc + ["dtype"], "'dtype' must be float32", "value_error.const")
        value, loc = value["blob"], loc + ["blob"]
    try:
        raw = base64.b64decode(re.sub(r"\s+", "", value), validate=True)
    except (binascii.Error, ValueError):
        raise invalid(loc, "template not in base64 format", "value_error.base64") from None
    if len(raw) != size * 4:
        raise invalid(
            loc,
            f"not a template of this service (facen {model}: {size} little-endian float32, "
            f"{size * 4} bytes; got {len(raw)})",
            "value_error",
        )
    vector = np.frombuffer(raw, "<f4")
    if not np.all(np.isfinite(vector)) or not np.any(vector):
        raise invalid(loc, "the template is not a finite non-zero vector", "value_error")
    return vector


def is_finite_number(value: Any) -> bool:
    """A JSON number that compares as a real: ints of any size (math.isfinite would overflow on
    a 400-digit one), finite floats; not booleans."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
