"""facenapi's face shapes (ExtractionFace, Rectangle, emotions) built from extraction-api faces.

facenapi's own classes live in its private `facenapi.core.extractors`; these are duck-typed
equivalents: a dict with the documented keys (also readable as attributes) and tuples."""

import base64
import collections

Rectangle = collections.namedtuple("Rectangle", "left top right bottom")

# The seven labels the service returns, in its README's order.
EMOTIONS = ("neutral", "angry", "disgust", "fear", "happy", "sad", "surprise")


class Emotions(collections.namedtuple("Emotions", EMOTIONS)):
    """Probability of each emotion. facenapi stores and answers "the 2 most prevalent" names:
    that is `top(2)`."""

    __slots__ = ()

    def top(self, n=2):
        ranked = sorted(zip(self._fields, self), key=lambda pair: -pair[1])
        return tuple(name for name, _ in ranked[:n])


class ExtractionFace(dict):
    """One face as `ctx.extractor.extract()` returns it: bbox, normalized (PNG bytes), facen
    (base64), gender, age, emotions, score, photo_hash. Keys are also attributes (`face.bbox`),
    as facenapi's video handlers use them."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)

    def __setattr__(self, name, value):
        self[name] = value


def rectangle(bbox):
    """A Rectangle of floats from any bbox form facenapi accepts: Rectangle, [x1, y1, x2, y2],
    {"x1", "y1", "x2", "y2"} or {"left", "top", "right", "bottom"}."""
    if isinstance(bbox, dict):
        keys = ("x1", "y1", "x2", "y2") if "x1" in bbox else Rectangle._fields
        values = [bbox[k] for k in keys]
    else:
        values = list(bbox)
    if len(values) != 4:
        raise ValueError("a bbox has 4 coordinates, got {!r}".format(bbox))
    return Rectangle(*(float(v) for v in values))


def iou(a, b):
    width = max(0.0, min(a.right, b.right) - max(a.left, b.left))
    height = max(0.0, min(a.bottom, b.bottom) - max(a.top, b.top))
    inter = width * height
    union = (a.right - a.left) * (a.bottom - a.top) + (b.right - b.left) * (b.bottom - b.top) - inter
    return inter / union if union > 0 else 0.0


def attributes(raw):
    """gender, age and emotions of an extraction-api face, in facenapi's form (only those present)."""
    out = {}
    if "gender" in raw:
        out["gender"] = raw["gender"]["gender"].lower()
    if "age" in raw:
        out["age"] = float(raw["age"])
    if "emotions" in raw:
        scores = {e["emotion"]: float(e["score"]) for e in raw["emotions"]}
        out["emotions"] = Emotions(*(scores.get(name, 0.0) for name in EMOTIONS))
    return out


def extraction_face(raw, photo_hash):
    """An ExtractionFace from one face of an extraction-api response."""
    face = ExtractionFace(
        bbox=Rectangle(*(float(raw["bbox"][k]) for k in Rectangle._fields)),
        score=float(raw.get("detection_score", 0.0)),
        photo_hash=photo_hash,
    )
    if "normalized" in raw:
        face["normalized"] = base64.b64decode(raw["normalized"])
    if "facen" in raw:
        face["facen"] = raw["facen"]
    face.update(attributes(raw))
    return face


def to_json(face):
    """A JSON-ready copy: bbox as a dict, PNG bytes as base64, emotions as {name: probability}."""
    out = dict(face)
    if "bbox" in out:
        out["bbox"] = dict(zip(Rectangle._fields, out["bbox"]))
    if isinstance(out.get("normalized"), bytes):
        out["normalized"] = base64.b64encode(out["normalized"]).decode("ascii")
    if isinstance(out.get("emotions"), Emotions):
        out["emotions"] = out["emotions"]._asdict()
        out["emotions_top"] = list(face["emotions"].top(2))
    return out
