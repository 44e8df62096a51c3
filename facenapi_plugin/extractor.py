"""facenapi's extractor (`ctx.extractor`) on top of extraction-api, for Tornado's IOLoop.

One HTTP client of its own bounds the connections to extraction_api_max_clients (Tornado queues
the rest) and applies the two timeouts to every request."""

import hashlib
import json
import math

from tornado import gen
from tornado.httpclient import AsyncHTTPClient, HTTPError, HTTPRequest

from . import envelope
from .errors import BAD_PARAM, BAD_RESPONSE, CONNECTION_FAILED, TIMEOUT, ExtractionError
from .faces import attributes, extraction_face, iou, rectangle
from .settings import Settings

ROI_MARGIN = 0.5  # a bbox is searched with half its size added on every side: detectors need context


class ExtractionApiExtractor(object):
    """extract() photos into ExtractionFace dicts and enrich() faces from their normalized PNGs.
    Construct with facenapi's `options` (or a dict), and/or keyword overrides of the same keys."""

    def __init__(self, options=None, **keys):
        self.settings = Settings.from_options(options, **keys)
        self._http = None

    # ------------------------------------------------------------ facenapi's interface

    async def extract(self, photo, bbox=None, detector=None, gae=None):
        """Faces on one photo (bytes, or an http(s) URL the service fetches). With `bbox`, only
        the face there: the bbox plus a margin goes as `roi`, and the detection overlapping it
        most is returned (none if nothing overlaps)."""
        return (await self.extract_many([(photo, bbox)], detector, gae))[0]

    async def extract_many(self, photos, detector=None, gae=None):
        """extract() for several photos in one envelope (per 100); items are photos or
        (photo, bbox) pairs; returns one list of faces per item, in order."""
        items = [item if isinstance(item, tuple) else (item, None) for item in photos]
        requests, parts, hashes, boxes = [], [], [], []
        for i, (photo, bbox) in enumerate(items):
            image, data = envelope.image_ref(photo, "photo{}".format(i))
            request = self._flags(need_facen=True, need_normalized=True, gae=gae)
            request.update(image=image, detector=detector or self.settings.detector)
            box = rectangle(bbox) if bbox is not None else None
            if box is not None:
                request["roi"] = roi(box)
            requests.append(request)
            if data is not None:
                parts.append(("photo{}".format(i), data))
            hashes.append(hashlib.md5(data if data is not None else photo.encode("utf-8")).hexdigest())
            boxes.append(box)
        results = []
        for i, response in enumerate(await self._send(requests, parts)):
            faces = [extraction_face(raw, hashes[i]) for raw in response["faces"]]
            results.append(faces if boxes[i] is None else best_match(faces, boxes[i]))
        return results

    async def enrich(self, faces, facen=True, gae=None):
        """Fill in `facen` (and gender, age, emotions when `gae`, default the `gae` setting) of
        faces from their `normalized` PNG (bytes, or the URL facenapi stored it at) through the
        `prenormalized` detector, all in one envelope; returns the same faces, updated in place."""
        gae = self.settings.gae if gae is None else gae
        if not faces or not (facen or gae):
            return faces
        requests, parts = [], []
        for i, face in enumerate(faces):
            try:
                image, data = envelope.image_ref(face.get("normalized"), "norm{}".format(i))
            except TypeError:
                raise ExtractionError(BAD_PARAM, "face {} has no normalized PNG (bytes or URL)".format(i),
                                      "normalized", index=i)
            requests.append(self._flags(need_facen=facen, gae=gae, image=image, detector="prenormalized"))
            if data is not None:
                parts.append(("norm{}".format(i), data))
        for i, response in enumerate(await self._send(requests, parts)):
            if len(response["faces"]) != 1:
                raise ExtractionError(BAD_RESPONSE, "prenormalized gave {} faces".format(len(response["faces"])), index=i)
            raw = response["faces"][0]
            if facen:
                faces[i]["facen"] = raw["facen"]
            faces[i].update(attributes(raw))
        return faces

    def close(self):
        if self._http is not None:
            self._http.close()
            self._http = None

    # ------------------------------------------------------------ transport

    def _flags(self, need_facen=False, need_normalized=False, gae=None, **request):
        gae = self.settings.gae if gae is None else gae
        request.update(need_facen=bool(need_facen), need_normalized=bool(need_normalized))
        if gae:
            request.update(need_gender=True, need_age=True, need_emotions=True)
        return request

    def _client(self):
        """Created on first use, so it belongs to the IOLoop that runs the requests."""
        if self._http is None:
            defaults = dict(connect_timeout=self.settings.connect_timeout,
                            request_timeout=self.settings.request_timeout)
            self._http = AsyncHTTPClient(force_instance=True, max_clients=self.settings.max_clients,
                                         defaults=defaults)
        return self._http

    async def _send(self, requests, parts):
        """The response elements for `requests`, posted in envelopes of at most 100 (concurrently);
        the first element that is an error is raised, with its index."""
        if not requests:
            return []
        by_name = dict(parts)
        batches = []
        for batch in envelope.chunks(list(enumerate(requests))):
            names = [r["image"][len("multipart:"):] for _, r in batch if r["image"].startswith("multipart:")]
            batches.append(self._post([r for _, r in batch], [(n, by_name[n]) for n in names]))
        answers = (await batches[0]) if len(batches) == 1 else sum(await gen.multi(batches), [])
        for i, answer in enumerate(answers):
            if "error" in answer:
                raise ExtractionError.from_body(answer["error"], 200, index=i)
            if not isinstance(answer.get("faces"), list):
                raise ExtractionError(BAD_RESPONSE, "response element without faces", index=i)
        return answers

    async def _post(self, requests, parts):
        body, content_type = envelope.multipart(requests, parts)
        request = HTTPRequest(self.settings.url, method="POST", body=body, headers={"Content-Type": content_type})
        try:
            response = await self._client().fetch(request, raise_error=False)
        except HTTPError as e:  # Tornado >= 5.1 raises timeouts and 599s even with raise_error=False
            raise transport_error(e)
        except (OSError, IOError) as e:  # refused, reset, closed (StreamClosedError is an IOError)
            raise ExtractionError(CONNECTION_FAILED, "{}: {}".format(self.settings.url, e))
        if response.code == 599:  # Tornado 4 reports transport failures this way
            raise transport_error(response.error)
        try:
            answer = json.loads(response.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, AttributeError):
            raise ExtractionError(BAD_RESPONSE, "HTTP {} with a body that is not JSON".format(response.code),
                                  status=response.code)
        if response.code != 200:
            raise ExtractionError.from_body(answer, response.code)
        if not isinstance(answer, dict) or not isinstance(answer.get("responses"), list) \
                or len(answer["responses"]) != len(requests):
            raise ExtractionError(BAD_RESPONSE, "expected {} responses".format(len(requests)), status=200)
        return answer["responses"]


def transport_error(error):
    """TIMEOUT for Tornado's timeouts (HTTP 599 "Timeout ..."), CONNECTION_FAILED otherwise."""
    text = str(error)
    if getattr(error, "code", None) == 599 and "timeout" in text.lower():
        return ExtractionError(TIMEOUT, text)
    if getattr(error, "code", 599) == 599:
        return ExtractionError(CONNECTION_FAILED, text)
    return ExtractionError(BAD_RESPONSE, text, status=error.code)


def roi(box):
    """The integer `roi` searched for the face at `box`."""
    margin = ROI_MARGIN * max(box.right - box.left, box.bottom - box.top)
    return {"left": int(math.floor(box.left - margin)), "top": int(math.floor(box.top - margin)),
            "right": int(math.ceil(box.right + margin)), "bottom": int(math.ceil(box.bottom + margin))}


def best_match(faces, box):
    """The face overlapping `box` most, as a one-element list; [] if none overlaps it."""
    scored = [(iou(face["bbox"], box), face) for face in faces]
    scored = [pair for pair in scored if pair[0] > 0]
    return [max(scored, key=lambda pair: pair[0])[1]] if scored else []
