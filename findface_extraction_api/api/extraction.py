"""FindFace Extraction API protocol: POST / with a `requests` envelope, JSON or multipart.

The event loop parses the envelope, fetches URLs and awaits; decoding, inference and encoding
of each request run in the service's worker pool. Each request succeeds or fails on its own.
"""

import asyncio
import base64
import json
import logging

from tornado import httputil

from .. import imaging, pipeline, sources
from .errors import BAD_PARAM, INTERNAL_ERROR, MALFORMED_JSON, ApiError, bad_param
from .handler import JsonHandler

log = logging.getLogger(__name__)

MAX_REQUESTS = 100
FLAGS = ("need_facen", "need_gender", "need_age", "need_emotions", "need_normalized", "auto_rotate",
         "need_liveness")
ROI_KEYS = ("left", "top", "right", "bottom")


class ExtractionHandler(JsonHandler):
    def initialize(self, service):
        self.service = service

    def get(self):
        """A small banner: what is serving and with which models."""
        self.write(self.service.describe())

    async def post(self):
        try:
            envelope, parts = parse_body(self.request)
        except ApiError as e:  # the envelope itself is unusable: no per-request answers possible
            self.set_status(e.status)
            self.write(e.to_json())
            return
        responses = await asyncio.gather(*(self.respond(raw, parts) for raw in envelope))
        self.write({"responses": responses})

    async def respond(self, raw, parts):
        """One element of `responses`: {"faces": [...]} or {"error": {...}}, never an exception."""
        try:
            options, image_ref = parse_request(raw)
            data = await self.image_bytes(image_ref, parts)
            faces = await self.service.run(process, self.service, data, options)
            return {"faces": faces}
        except ApiError as e:
            return {"error": e.to_json()}
        except Exception:
            log.exception("request failed")
            return {"error": {"code": INTERNAL_ERROR, "desc": "internal error while processing this image; "
                                                              "the server log has the details"}}

    async def image_bytes(self, ref, parts):
        if ref.startswith("multipart:"):
            name = ref[len("multipart:"):]
            if name not in parts:
                raise bad_param("image", f"no multipart part named '{name}' in the request body")
            return parts[name]
        return await self.service.fetcher.fetch(ref)


def parse_body(request):
    """(list of raw requests, {part name: bytes}) from a JSON or multipart/form-data body."""
    content_type = request.headers.get("Content-Type", "")
    parts = {}
    if content_type.startswith("multipart/form-data"):
        arguments, files = {}, {}
        httputil.parse_body_arguments(content_type, request.body, arguments, files)
        parts = {name: values[0] for name, values in arguments.items()}
        parts.update({name: uploads[0]["body"] for name, uploads in files.items()})
        if "request" not in parts:
            raise ApiError(BAD_PARAM, "multipart body has no 'request' part with the JSON envelope", param="request")
        body = parts.pop("request")
    else:
        body = request.body
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(MALFORMED_JSON, f"the request body is not valid JSON ({e})") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("requests"), list):
        raise bad_param("requests", "the JSON body must be an object with a 'requests' list")
    if len(envelope["requests"]) > MAX_REQUESTS:
        raise bad_param("requests", f"at most {MAX_REQUESTS} requests per call")
    return envelope["requests"], parts


def parse_request(raw):
    """(pipeline.Options, image reference) from one request object, or BAD_PARAM naming the key."""
    if not isinstance(raw, dict):
        raise bad_param("requests", "each request must be a JSON object")
    image = raw.get("image")
    if not isinstance(image, str) or not image:
        raise bad_param("image", "'image' is required: 'multipart:<part>' or an http(s) URL")
    if not image.startswith(("multipart:", "http://", "https://")):
        raise bad_param("image", "'image' must be 'multipart:<part>' or an http(s) URL")
    detector = raw.get("detector", "nnd")
    if detector not in pipeline.DETECTORS:
        raise bad_param("detector", f"unknown detector {json.dumps(detector)}; use one of {', '.join(pipeline.DETECTORS)}")
    flags = {}
    for flag in FLAGS:
        value = raw.get(flag, False)
        if value is not None and not isinstance(value, bool):
            raise bad_param(flag, f"'{flag}' must be true or false")
        flags[flag] = bool(value)
    if flags["auto_rotate"] and detector != "nnd":
        raise bad_param("auto_rotate", "auto_rotate works only with the nnd detector (as FindFace documents)")
    return pipeline.Options(detector=detector, roi=parse_roi(raw.get("roi")), **flags), image


def parse_roi(roi):
    if roi is None:
        return None
    if not isinstance(roi, dict) or not all(isinstance(roi.get(k), int) and not isinstance(roi.get(k), bool)
                                            for k in ROI_KEYS):
        raise bad_param("roi", "'roi' must be an object with integer left, top, right and bottom")
    left, top, right, bottom = (roi[k] for k in ROI_KEYS)
    if right <= left or bottom <= top:
        raise bad_param("roi", "'roi' must have right > left and bottom > top")
    return left, top, right, bottom


def process(service, data, options):
    """Worker-thread part of one request: decode, run the pipeline, render the faces."""
    image = sources.decode(data, service.settings.max_dimension)
    quality_scores = service.settings.quality_estimator
    try:
        faces = pipeline.extract(service.models, image, options, service.settings.min_face_size,
                                 service.settings.max_face_size, with_quality=quality_scores)
    except pipeline.Unsupported as e:  # e.g. need_liveness without the liveness pack
        raise bad_param(e.param, str(e)) from None
    return [render_face(face, options, quality_scores) for face in faces]


def render_face(face, options, quality_scores=False):
    """A face as FindFace documents it (key order as in the vendor's examples).

    `detection_score` is the face's quality (0 best) when the quality estimator is on, else the
    detector's confidence; auto-rotated faces also say by how much the image was turned.
    """
    left, top, right, bottom = (int(round(v)) for v in face.box)
    out = {"bbox": {"left": left, "top": top, "right": right, "bottom": bottom},
           "detection_score": round(face.quality if quality_scores else face.score, 7)}
    if options.auto_rotate:
        out["rotation"] = face.rotation
    if options.need_facen:
        out["facen"] = base64.b64encode(face.facen.astype("<f4").tobytes()).decode("ascii")
    if options.need_gender:
        male = face.male_probability > 0.5
        out["gender"] = {"gender": "MALE" if male else "FEMALE",
                         "score": round(face.male_probability if male else 1 - face.male_probability, 6)}
    if options.need_age:
        out["age"] = round(face.age, 4)
    if options.need_emotions:
        ranked = sorted(face.emotions.items(), key=lambda item: -item[1])
        out["emotions"] = [{"emotion": name, "score": round(score, 6)} for name, score in ranked]
    if options.need_normalized:
        out["normalized"] = base64.b64encode(imaging.encode_png(face.normalized)).decode("ascii")
    if options.need_liveness:
        out["liveness"] = {"score": round(face.liveness, 6), "value": "REAL" if face.real else "FAKE"}
    return out

