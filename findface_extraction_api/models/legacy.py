"""The `legacy` detector: dlib's classical HOG + linear SVM frontal face detector.

FindFace's `legacy` mode was dlib; so is ours. Landmarks come from dlib's 5-point shape
predictor (models/landmarks.py), as they do for `nnd`.

Limits (documented in the README): frontal and near-frontal upright faces only (about +-30
degrees of yaw, little roll); an 80x80 px scanning window, so the image is resized by
80 / min_face_size, but enlarged at most 2x and to at most 8 MP: faces under 40 px (or
smaller than that cap allows) may be missed; several times slower than YuNet; no rotation.
"""

import math
import threading

import cv2
import dlib
import numpy as np

from ..face import Face
from .landmarks import LandmarkPredictor, to_yunet_order

WINDOW = 80.0
MAX_ENLARGEMENT = 2.0
MAX_PIXELS = 8_000_000


class LegacyDetector:
    def __init__(self, landmarks: LandmarkPredictor):
        self.landmarks = landmarks
        self._local = threading.local()

    def detector(self) -> dlib.fhog_object_detector:
        """A per-thread detector: dlib promises no thread safety for shared objects."""
        if not hasattr(self._local, "detector"):
            self._local.detector = dlib.get_frontal_face_detector()
        return self._local.detector

    def detect(self, image: np.ndarray, min_face_size: float, max_face_size: float) -> list[Face]:
        """Faces found by dlib's HOG detector (max_face_size does not narrow its single pass)."""
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        scale = _scan_scale(grey.shape, min_face_size)
        if scale != 1:
            grey = cv2.resize(
                grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            )
        rects, scores, _ = self.detector().run(grey, 0, 0.0)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            box = np.array([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1], np.float64)
            points = self.landmarks.predict(grey, box) / scale
            faces.append(
                Face(
                    box=box / scale,
                    confidence=1 / (1 + math.exp(-score)),
                    landmarks=to_yunet_order(points),
                    dlib_points=points,
                )
            )
        return faces


def _scan_scale(shape: tuple[int, ...], min_face_size: float) -> float:
    """Resize factor that makes min_face_size fill dlib's 80 px window, within the caps."""
    scale = min(WINDOW / min_face_size, MAX_ENLARGEMENT)
    if scale > 1:
        scale = max(1.0, min(scale, (MAX_PIXELS / (shape[0] * shape[1])) ** 0.5))
    return scale
