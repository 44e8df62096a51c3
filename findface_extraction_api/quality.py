"""Face quality, FindFace's `detection_score` when `quality_estimator = true`: 0 best, <= -5 unusable.

The score is minus a sum of penalties, each measured on the face and documented here:

- orientation: the face's crop is shown to YuNet as it is and turned by 90, 180 and 270 degrees;
  if a turned copy looks more like a face than the crop itself, the face is sideways or upside
  down: 5 + 5 x (best turned score - own score). So every turned face scores <= -5.
- roll: 2 x (roll / 45 degrees)^2, roll from the eye line.
- yaw: 0.5 x (offset / 0.12)^2, offset = the nose base's horizontal distance from the midpoint of
  the inner eye corners, in units of the outer eye-corner span, measured in the roll-free frame
  (frontal ~0; about 0.12 at 25-30 degrees of yaw; profile 0.3 and more).
- confidence: 5 x max(0, 0.9 - detector confidence).
- blur: 0.5 x max(0, log2(60 / v)), v = variance of the Laplacian over the normalized face's
  central region (a sharp face photo gives 100-1000; Gaussian blur of 3 px gives under 10).
- size: 2 x max(0, 1 - eye distance / 24 px); faces with eyes 24 px apart or more cost nothing.

A sharp, upright, frontal face therefore scores within a few hundredths of 0.
"""

from collections.abc import Callable

import cv2
import numpy as np

from . import normalize
from .face import Face
from .imaging import TURNS, warp

CentreScore = Callable[[np.ndarray], float]  # a detector's best score for a face covering an image's centre
CROP = 160  # px side of the crop YuNet judges orientation on
CROP_MARGIN = 1.8  # crop side / face box side
SHARP_LAPLACIAN = 60.0
MIN_EYE_DISTANCE = 24.0


def score(image: np.ndarray, face: Face, normalized: np.ndarray, centre_score: CentreScore) -> float:
    """The quality of `face` (landmarks set) in `image`, given its normalized crop; 0 best, more negative worse."""
    penalties = (
        orientation_penalty(centre_score, image, face.box),
        roll_penalty(face),
        yaw_penalty(face),
        5 * max(0.0, 0.9 - face.confidence),
        blur_penalty(normalized),
        size_penalty(face),
    )
    return -float(sum(penalties))


def orientation_penalty(centre_score: CentreScore, image: np.ndarray, box: np.ndarray) -> float:
    crop = face_crop(image, box)
    own = centre_score(crop)
    turned = max(centre_score(cv2.rotate(crop, turn)) for turn in TURNS.values())
    return 5 + 5 * (turned - own) if turned > own else 0.0


def face_crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """A CROP x CROP square around the box, axis-aligned (so a turned face stays turned)."""
    left, top, right, bottom = box
    side = max(right - left, bottom - top) * CROP_MARGIN
    scale = CROP / side
    cx, cy = (left + right) / 2, (top + bottom) / 2
    matrix = np.array([[scale, 0, CROP / 2 - cx * scale], [0, scale, CROP / 2 - cy * scale]])
    return warp(image, matrix, CROP)


def roll_degrees(landmarks: np.ndarray) -> float:
    (rx, ry), (lx, ly) = landmarks[0], landmarks[1]
    return float(np.degrees(np.arctan2(ly - ry, lx - rx)))


def roll_penalty(face: Face) -> float:
    return 2 * (roll_degrees(face.landmarks) / 45) ** 2


def yaw_penalty(face: Face) -> float:
    if face.dlib_points is None:
        return 0.0
    outer_left, inner_left, outer_right, inner_right, nose = face.dlib_points
    axis = outer_left - outer_right
    span = np.linalg.norm(axis)
    if span < 1e-6:
        return 0.0
    midpoint = (inner_left + inner_right) / 2
    offset = float(np.dot(nose - midpoint, axis / span)) / span
    return float(0.5 * (offset / 0.12) ** 2)


def blur_penalty(normalized: np.ndarray) -> float:
    lo, hi = int(normalize.ARCFACE_OFFSET), int(normalize.SIZE - normalize.ARCFACE_OFFSET)
    grey = cv2.cvtColor(normalized[lo:hi, lo:hi], cv2.COLOR_BGR2GRAY)
    variance = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return 0.5 * max(0.0, float(np.log2(SHARP_LAPLACIAN / max(variance, 1e-6))))


def size_penalty(face: Face) -> float:
    eye_distance = float(np.linalg.norm(face.landmarks[1] - face.landmarks[0]))
    return 2 * max(0.0, 1 - eye_distance / MIN_EYE_DISTANCE)
