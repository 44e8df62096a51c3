"""SFace: the 128-d identity feature vector (`facen`) of an ArcFace-aligned 112x112 face.

The chip is the normalized face's central 179x179 (normalize.py places the ArcFace template
there), resized to 112: the exact ArcFace alignment. Faces are compared by the cosine of their
vectors (a dot product, as they are L2-normalised). SAME_PERSON_THRESHOLD is the cosine threshold
OpenCV, SFace's publisher, gives for it (opencv samples/dnn/face_detect.py,
cosine_similarity_threshold = 0.363), for the same ArcFace-aligned chip; it is not tuned on
any benchmark here (eval/verify_lfw.py only reports what it gives on LFW).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .. import imaging, normalize
from . import bf16
from .runtime import Runtime

KEY = "facen"
SAME_PERSON_THRESHOLD = 0.363
CHIP_MATRIX = imaging.square_matrix(
    normalize.ARCFACE_OFFSET, normalize.ARCFACE_OFFSET, 112 * normalize.ARCFACE_SCALE, 112
)


def chip(normalized: np.ndarray) -> np.ndarray:
    """ArcFace-aligned 112x112 BGR input for SFace, from the normalized face."""
    return imaging.warp(normalized, CHIP_MATRIX, 112)


class FacenExtractor:
    """An embedder that reads the ArcFace chip as RGB 0..255 (SFace; `key` names another such model),
    in float32 (onnxruntime) or bfloat16 (OpenVINO, models/bf16.py: `precision` is resolved)."""

    def __init__(
        self,
        runtime: Runtime,
        key: str = KEY,
        same_person_threshold: float = SAME_PERSON_THRESHOLD,
        precision: str = "float32",
    ):
        self.model = bf16.load_in(runtime, key, precision, per_face=True)  # static shape: see models/bf16.py
        self.precision = precision
        self.dimension = int(runtime.bundle.field(key, "output", "shape")[1])
        self.same_person_threshold = same_person_threshold

    def extract(self, normalized: Sequence[np.ndarray]) -> np.ndarray:
        """L2-normalised float32 vectors for normalized faces (one batched run).

        SFace (and MobileFaceNet as the bundle ships it) normalises inside the graph and expects
        RGB 0..255; BGR input still "works" but costs about 0.1 of cosine, so the channel swap matters.
        """
        rgb = [cv2.cvtColor(chip(face), cv2.COLOR_BGR2RGB) for face in normalized]
        vectors = self.model.run(imaging.to_blob(rgb))[0].astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)


@dataclass(frozen=True)
class Match:
    """1:1 comparison of two facens: cosine -1..1, Euclidean distance of the unit vectors 0..2."""

    score: float
    distance: float
    threshold: float

    @property
    def same_person(self) -> bool:
        return self.score >= self.threshold


def compare(a: np.ndarray, b: np.ndarray, threshold: float) -> Match:
    """Compare two feature vectors (normalised again here: clients may send any length)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a / max(float(np.linalg.norm(a)), 1e-12)
    b = b / max(float(np.linalg.norm(b)), 1e-12)
    score = float(np.clip(a @ b, -1.0, 1.0))
    return Match(score, float(np.sqrt(max(0.0, 2.0 - 2.0 * score))), threshold)
