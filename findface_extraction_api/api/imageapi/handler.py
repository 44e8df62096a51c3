"""The Image API over HTTP: route a sample to its service, run it in the worker pool, answer JSON."""

import base64
from typing import Any

import numpy as np

from ... import metrics, pipeline
from ...face import Face
from ...sources.errors import DecodeFailed, ImageTooLarge
from .. import multipart
from ..handler import CLIENT_GONE, ClientGone, JsonHandler
from ..render import clip_text
from ..service import Service
from .samples import IMAGE_KEY, ImageApiError, invalid, parse_sample, pixel_box
from .services import MATCHERS, NAMES, SERVICES, Frame, ImageService

UNSUPPORTED_FORMAT = "This image format is not supported"  # 3DiVi's text (its demo client maps it verbatim)
IMAGE_TOO_LARGE = "Image is too large"


class ImageApiHandler(JsonHandler):
    protocol = "imageapi"
    service: Service

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors as FastAPI writes them: {"detail": "<reason>"} (404, 405, 500)."""
        self.outcome = str(status_code)
        self.set_allow(status_code)
        self.finish({"detail": self._reason})

    def prepare(self) -> None:
        """The route label of every method (OPTIONS and 405s too): the service, or "other" (bounded)."""
        name = self.path_kwargs.get("name", "")
        self.route = name if name in NAMES else "other"

    async def post(self, name: str, kind: str, version: str = "v1") -> None:
        try:
            if name not in NAMES:
                raise ImageApiError(404, f"Not Found: no service '{clip_text(name, 80)}'; services: {', '.join(NAMES)}")
            service = SERVICES.get(name)
            if kind == "image" and not (service and service.detects):
                raise ImageApiError(
                    404,
                    f"Not Found: {name} has no process/image (it needs objects from a "
                    f"detector service): use process/sample",
                )
            body, data = self.parse_image_request(version) if kind == "image" else parse_sample(self.body, version)
            objects = body.get("objects", [])
            if len(objects) > self.service.limits.max_objects:
                raise invalid(
                    ["objects"],
                    f"at most {self.service.limits.max_objects} objects per sample ([limits] max_objects); "
                    f"got {len(objects)}",
                    "value_error.list.max_items",
                )
            if service is None:
                self.write(MATCHERS[name](self.service.pipeline, body, version))
                return
            if data is None:
                key = IMAGE_KEY[version]
                raise invalid([key], f"field required: '{key}', the image", "value_error.missing")
            self.probe(data, version)
            try:
                self.service.pipeline.check(service.options)
            except pipeline.Unsupported as e:  # the liveness pack is not installed; no mask model ships
                raise ImageApiError(
                    501, [{"loc": ["path", "service"], "msg": str(e), "type": "model_not_installed"}]
                ) from None
            self.write(await self.service.run(self.process, service, version, body, data, client=self.client))
        except ImageApiError as e:
            self.outcome = str(e.status)
            self.set_status(e.status)
            self.write({"detail": e.detail})
        except ClientGone:
            self.outcome = CLIENT_GONE
        else:
            self.outcome = "ok"
        metrics.IMAGES.labels("imageapi", self.outcome).inc()

    def probe(self, data: bytes, version: str) -> None:
        """Refuse an unreadable or too large image from its header, before it waits for a worker."""
        try:
            self.service.probe(data)
        except (DecodeFailed, ImageTooLarge) as e:
            raise image_error(e, version) from None

    def parse_image_request(self, version: str) -> tuple[dict[str, Any], bytes]:
        """process/image: the multipart field `image` -> (a sample with the image, its bytes)."""
        content_type = self.request.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise invalid(
                ["image"],
                "process/image takes multipart/form-data with the image in a field "
                "named 'image' (process/sample takes JSON)",
                "value_error.missing",
            )
        try:
            data = multipart.parts(content_type, self.body).get("image")
        except multipart.MalformedMultipart as e:
            raise invalid([], f"malformed multipart/form-data body: {e}", "value_error.multipart") from None
        if data is None:
            raise invalid(
                ["image"], "field required: the multipart body has no field named 'image'", "value_error.missing"
            )
        encoded = base64.b64encode(data).decode("ascii")
        image = encoded if version == "v1" else {"blob": encoded, "format": "IMAGE"}
        return {IMAGE_KEY[version]: image, "objects": []}, data

    def process(self, service: ImageService, version: str, body: dict[str, Any], data: bytes) -> dict[str, Any]:
        """Worker-thread part: decode, run the service's pipeline step, merge its answers into the sample."""
        self.check_client()  # it may have hung up while this waited for a worker
        try:
            image = self.service.decode(data)
        except (DecodeFailed, ImageTooLarge) as e:
            raise image_error(e, version) from None
        height, width = image.shape[:2]
        frame = Frame(version, width, height)
        response = dict(body)
        if service.finds == "body":
            response["objects"] = [
                located(index, "body", box, score, frame)
                for index, (box, score) in enumerate(self.service.pipeline.detect_bodies(image))
            ]
        elif service.detects:
            response["objects"] = [
                detected(index, face, service, frame)
                for index, face in enumerate(self.service.pipeline.extract(image, service.options))
            ]
        else:
            response["objects"] = self.estimate(image, body.get("objects", []), service, frame)
        return response

    def estimate(
        self, image: np.ndarray, objects: list[dict[str, Any]], service: ImageService, frame: Frame
    ) -> list[dict[str, Any]]:
        """The service's attribute for the face objects at their bboxes, merged into copies of them."""
        targets = [index for index, obj in enumerate(objects) if obj.get("class", "face") == "face"]
        boxes = [pixel_box(objects[index], index, frame.width, frame.height) for index in targets]
        faces = self.service.pipeline.describe_boxes(image, boxes, service.options)
        merged = [dict(obj) for obj in objects]
        for index, face in zip(targets, faces, strict=True):
            service.write(merged[index], face, frame)
        return merged


def image_error(error: DecodeFailed | ImageTooLarge, version: str) -> ImageApiError:
    """An unreadable or too large image: `msg` is a fixed sentence (3DiVi's own for an unreadable
    image, which its client looks up verbatim), `ctx.reason` says what exactly is wrong."""
    loc = ["$image"] if version == "v1" else ["_image", "blob"]
    message = IMAGE_TOO_LARGE if isinstance(error, ImageTooLarge) else UNSUPPORTED_FORMAT
    return invalid(loc, message, "value_error.image", reason=str(error))


def located(index: int, kind: str, box: np.ndarray, confidence: float, frame: Frame) -> dict[str, Any]:
    """A detected object as 3DiVi writes it: id, class, confidence, bbox normalized to 0..1."""
    scale = np.array([frame.width, frame.height, frame.width, frame.height], np.float64)
    return {
        "id": index,
        "class": kind,
        "confidence": round(confidence, 6),
        "bbox": [float(v) for v in np.clip(box / scale, 0.0, 1.0)],
    }  # unrounded: estimators re-read it


def detected(index: int, face: Face, service: ImageService, frame: Frame) -> dict[str, Any]:
    """A face found by a detector service, as a 3DiVi object."""
    out = located(index, "face", face.box, face.confidence, frame)
    service.write(out, face, frame)
    return out
