"""FindFace Extraction API protocol: POST / with a `requests` envelope, JSON or multipart.

The event loop parses the envelope, fetches URLs and awaits; decoding, inference and encoding
of each request run in the service's worker pool. Each request succeeds or fails on its own.
FindFace's names (nnd, legacy, need_*, auto_rotate) are translated to the pipeline's here.
"""

import asyncio
import json
import logging
from typing import Any

from .. import metrics, pipeline
from ..face import Face
from ..sources.errors import DecodeFailed, FetchFailed, ImageTooLarge, SourceError
from ..sources.fetch import check_url
from . import json_input, multipart, render
from .errors import (
    BAD_PARAM,
    IMAGE_DECODING_FAILED,
    IMAGE_FETCH_FAILED,
    IMAGE_TOO_LARGE,
    INTERNAL_ERROR,
    MALFORMED_JSON,
    ApiError,
    bad_param,
)
from .handler import CLIENT_GONE, ClientGone, JsonHandler
from .service import RequestLimits, Service

log = logging.getLogger(__name__)

MAX_REQUESTS = 100
DETECTORS = {"nnd": "yunet", "legacy": "hog", "prenormalized": "prenormalized"}
FLAGS = {
    "need_facen": "facen",
    "need_gender": "gender",
    "need_age": "age",
    "need_emotions": "emotions",
    "need_normalized": "crop",
    "auto_rotate": "rotate",
    "need_liveness": "liveness",
}
PARAMS = {option: flag for flag, option in FLAGS.items()} | {"detector": "detector"}
ROI_KEYS = ("left", "top", "right", "bottom")
SOURCE_CODES = {DecodeFailed: IMAGE_DECODING_FAILED, ImageTooLarge: IMAGE_TOO_LARGE, FetchFailed: IMAGE_FETCH_FAILED}


class ExtractionHandler(JsonHandler):
    protocol = "extraction"
    route = "/"
    service: Service

    def get(self) -> None:
        """A small banner: what is serving and with which models."""
        self.write(self.service.describe())

    async def post(self) -> None:
        try:
            envelope, parts = parse_body(self.request.headers.get("Content-Type", ""), self.body)
        except ApiError as e:  # the envelope itself is unusable: no per-request answers possible
            self.outcome = e.code
            self.set_status(e.status)
            self.write(e.to_json())
            return
        calls = Envelope(self.service.limits)
        responses = await asyncio.gather(*(self.respond(raw, parts, calls) for raw in envelope))
        if self.gone:
            self.outcome = CLIENT_GONE
            return
        for response in responses:
            metrics.IMAGES.labels("extraction", response["error"]["code"] if "error" in response else "ok").inc()
        self.outcome = "ok"
        self.write({"responses": responses})

    async def respond(self, raw: Any, parts: dict[str, bytes], envelope: "Envelope") -> dict[str, Any]:
        """One element of `responses`: {"faces": [...]} or {"error": {...}}, never an exception.

        Everything cheap (parsing, the header probe, the envelope's pixel budget) happens before
        the request takes one of its envelope's worker slots, so a refusal never waits for inference.
        """
        try:
            options, image_ref = parse_request(raw)
            self.service.pipeline.check(options)
            self.check_client()
            async with envelope.fetch_slots:
                data = await self.image_bytes(image_ref, parts)
            try:
                envelope.spend(self.service.probe(data).pixels)
            except ImageTooLarge:
                metrics.DECODE_REFUSALS.labels("envelope_budget").inc()
                raise
            if options.crop:
                envelope.check_normalized()
            async with envelope.work_slots:
                if options.crop:
                    envelope.check_normalized()  # the envelope's earlier requests may have spent it meanwhile
                faces = await self.service.run(self.process, data, options, client=self.client)
            if options.crop:
                envelope.spend_normalized(sum(len(face.get("normalized", "")) for face in faces))
            return {"faces": faces}
        except ClientGone:
            return {"error": {"code": "CLIENT_GONE", "desc": "the client closed the connection"}}  # never sent
        except pipeline.Unsupported as e:  # e.g. need_liveness without the liveness pack
            return {"error": bad_param(PARAMS.get(e.option, e.option), str(e)).to_json()}
        except SourceError as e:
            return {"error": ApiError(SOURCE_CODES[type(e)], str(e)).to_json()}
        except ApiError as e:
            return {"error": e.to_json()}
        except Exception:
            log.exception("request failed", extra=self.log_extra())
            return {
                "error": {
                    "code": INTERNAL_ERROR,
                    "desc": "internal error while processing this image; the server log has the details",
                }
            }

    async def image_bytes(self, ref: str, parts: dict[str, bytes]) -> bytes:
        if ref.startswith("multipart:"):
            name = ref[len("multipart:") :]
            if name not in parts:
                raise bad_param("image", f"no multipart part named '{render.clip_text(name)}' in the request body")
            return parts[name]
        return await self.service.fetcher.fetch(ref)

    def process(self, data: bytes, options: pipeline.Options) -> list[dict[str, Any]]:
        """Worker-thread part of one request: decode, run the pipeline, render the faces."""
        self.check_client()  # it may have hung up while this waited for a worker
        image = self.service.decode(data)
        quality_scores = self.service.pipeline.quality_scores
        return [render_face(face, options, quality_scores) for face in self.service.pipeline.extract(image, options)]


class Envelope:
    """One POST's share of the service: worker and fetch slots, a pixel budget and a budget for
    its `normalized` crops.

    At most `concurrency` of its requests are in the worker pool at once, so requests of other
    clients that arrive meanwhile are served between them rather than after all of them. The
    crops are the only part of an answer that grows with the faces found (100 to 260 KB of base64
    PNG each, 100 faces an image, 100 requests): without a budget a 0.5 MB crowd photo referenced
    100 times made a ~1 GB answer, and three times that in memory while it was encoded.
    """

    def __init__(self, limits: RequestLimits):
        self.work_slots = asyncio.Semaphore(limits.concurrency)
        self.fetch_slots = asyncio.Semaphore(max(4, 2 * limits.concurrency))
        self.pixels_left = limits.envelope_pixels
        self.limit = limits.envelope_pixels
        self.normalized_left = limits.envelope_normalized
        self.normalized_limit = limits.envelope_normalized

    def spend(self, pixels: int) -> None:
        """Take an image's pixels from the budget; ImageTooLarge once it is spent."""
        if pixels > self.pixels_left:
            raise ImageTooLarge(
                f"this envelope's images exceed its budget of {self.limit} pixels ([limits] envelope_pixels); "
                f"send the rest in another request"
            )
        self.pixels_left -= pixels

    def check_normalized(self) -> None:
        """BAD_PARAM once the crops' budget is spent: refused before the request takes a worker."""
        if self.normalized_left <= 0:
            raise self.normalized_refusal()

    def spend_normalized(self, size: int) -> None:
        """Take a request's crops (bytes of base64) from the budget; BAD_PARAM if they do not fit."""
        if size > self.normalized_left:
            self.normalized_left = 0  # later requests for crops are refused before they take a worker
            raise self.normalized_refusal()
        self.normalized_left -= size

    def normalized_refusal(self) -> ApiError:
        return bad_param(
            "need_normalized",
            f"this envelope's normalized crops exceed its budget of {self.normalized_limit} bytes "
            f"([limits] envelope_normalized); ask for them in another request",
        )


def parse_body(content_type: str, body: bytes) -> tuple[list[Any], dict[str, bytes]]:
    """(list of raw requests, {part name: bytes}) from a JSON or multipart/form-data body."""
    parts: dict[str, bytes] = {}
    if content_type.lower().startswith("multipart/form-data"):
        try:
            parts = multipart.parts(content_type, body)
        except multipart.MalformedMultipart as e:
            raise ApiError(BAD_PARAM, f"malformed multipart/form-data body: {e}", param="request") from None
        if "request" not in parts:
            raise ApiError(BAD_PARAM, "multipart body has no 'request' part with the JSON envelope", param="request")
        body = parts.pop("request")
    try:
        envelope = json_input.loads(body)
    except json_input.BadJson as e:
        raise ApiError(MALFORMED_JSON, f"the request body is not valid JSON ({e})") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("requests"), list):
        raise bad_param("requests", "the JSON body must be an object with a 'requests' list")
    if len(envelope["requests"]) > MAX_REQUESTS:
        raise bad_param("requests", f"at most {MAX_REQUESTS} requests per call")
    if envelope.get("response_format") not in (None, "json"):  # FindFace 12.x clients may ask for msgpack
        shown = render.clip_text(json.dumps(envelope["response_format"]), 100)
        raise bad_param("response_format", f'response_format {shown} is not served: the answer is JSON; send "json"')
    return envelope["requests"], parts


def parse_request(raw: Any) -> tuple[pipeline.Options, str]:
    """(pipeline.Options, image reference) from one request object, or BAD_PARAM naming the key."""
    if not isinstance(raw, dict):
        raise bad_param("requests", "each request must be a JSON object")
    image = raw.get("image")
    if not isinstance(image, str) or not image:
        raise bad_param("image", "'image' is required: 'multipart:<part>' or an http(s) URL")
    if not image.startswith(("multipart:", "http://", "https://")):
        raise bad_param("image", "'image' must be 'multipart:<part>' or an http(s) URL")
    if not image.startswith("multipart:"):
        try:
            check_url(image)
        except ValueError as e:
            raise bad_param("image", f"'image' is not a URL we can fetch: {e}") from None
    detector = raw.get("detector")
    if detector is None:  # absent, or null as clients that serialize unset fields send it
        detector = "nnd"
    if not isinstance(detector, str) or detector not in DETECTORS:
        shown = render.clip_text(json.dumps(detector), 100)
        raise bad_param("detector", f"unknown detector {shown}; use one of {', '.join(DETECTORS)}")
    flags = {}
    for flag, option in FLAGS.items():
        value = raw.get(flag, False)
        if value is not None and not isinstance(value, bool):
            raise bad_param(flag, f"'{flag}' must be true or false")
        flags[option] = bool(value)
    if flags["rotate"] and detector != "nnd":
        raise bad_param("auto_rotate", "auto_rotate works only with the nnd detector (as FindFace documents)")
    return pipeline.Options(detector=DETECTORS[detector], roi=parse_roi(raw.get("roi")), **flags), image


def parse_roi(roi: Any) -> pipeline.Box | None:
    if roi is None:
        return None
    if not isinstance(roi, dict) or not all(
        isinstance(roi.get(k), int) and not isinstance(roi.get(k), bool) for k in ROI_KEYS
    ):
        raise bad_param("roi", "'roi' must be an object with integer left, top, right and bottom")
    left, top, right, bottom = (roi[k] for k in ROI_KEYS)
    if right <= left or bottom <= top:
        raise bad_param("roi", "'roi' must have right > left and bottom > top")
    return left, top, right, bottom


def render_face(face: Face, options: pipeline.Options, quality_scores: bool = False) -> dict[str, Any]:
    """A face as FindFace documents it (key order as in the vendor's examples).

    `detection_score` is the face's quality (0 best) when the quality estimator is on, else the
    detector's confidence; auto-rotated faces also say by how much the image was turned.
    """
    left, top, right, bottom = (int(round(v)) for v in face.box)
    score = face.quality if quality_scores and face.quality is not None else face.confidence
    out: dict[str, Any] = {
        "bbox": {"left": left, "top": top, "right": right, "bottom": bottom},
        "detection_score": round(score, 7),
    }
    if options.rotate:
        out["rotation"] = face.rotation
    if options.facen and face.facen is not None:
        out["facen"] = render.vector_base64(face.facen)
    if options.gender:
        out["gender"] = {"gender": render.gender_label(face), "score": render.gender_score(face)}
    if options.age and face.age is not None:
        out["age"] = round(face.age, 4)
    if options.emotions:
        out["emotions"] = [{"emotion": label, "score": p} for label, p in render.ranked_emotions(face)]
    if options.crop and face.normalized is not None:
        out["normalized"] = render.png_base64(face.normalized)
    if options.liveness and face.liveness is not None:
        out["liveness"] = {"score": round(face.liveness, 6), "value": render.liveness_label(face)}
    return out
