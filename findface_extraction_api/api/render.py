"""Attribute values both protocols render the same way: one place for labels, encodings and rounding."""

import base64

import numpy as np

from .. import imaging
from ..face import Face


def vector_base64(vector: np.ndarray) -> str:
    """A feature vector as base64 of little-endian float32 (FindFace `facen`, 3DiVi template blob)."""
    return base64.b64encode(np.asarray(vector).astype("<f4").tobytes()).decode("ascii")


def png_base64(image: np.ndarray) -> str:
    """A BGR image as base64 PNG (lossless, so a posted-back crop decodes to the same pixels)."""
    return base64.b64encode(imaging.encode_png(image)).decode("ascii")


def gender_label(face: Face) -> str:
    return "MALE" if face.male else "FEMALE"


def gender_score(face: Face) -> float:
    """The probability of the gender the face was given, 0.5..1."""
    p = face.male_probability or 0.0
    return round(p if face.male else 1 - p, 6)


def liveness_label(face: Face) -> str:
    return "REAL" if face.real else "FAKE"


def ranked_emotions(face: Face) -> list[tuple[str, float]]:
    """(label, probability rounded to 6 places), most probable first."""
    return [(label, round(p, 6)) for label, p in face.ranked_emotions()]


def clip_text(text: str, limit: int = 200) -> str:
    """Client-supplied text for an error message, cut to `limit` characters (a 10 MB name stays out)."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
