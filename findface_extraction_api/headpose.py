"""A rough head pose (yaw, pitch, roll in degrees) from the five landmarks alone.

We have no 3D face fitter, so this is geometry on five points, good to a few degrees for roll
and only roughly for yaw and pitch (tens of percent; no calibration against ground truth):

- roll: the angle of the line from the image-left eye to the image-right eye; positive when it
  slopes down to the right, i.e. the head is tilted clockwise as seen in the image.
- yaw and pitch: with roll undone, the nose tip's offset from where it sits on a frontal face
  (midway between the eyes and mouth corners horizontally; at the ArcFace template's height
  between the eye line and the mouth line vertically), divided by an assumed nose depth of half
  the eye-to-mouth distance, taken as the sine of the angle. Yaw is positive when the nose
  points to the image's right (the subject turns to their left), pitch positive when it points
  up.
"""

import math

import numpy as np

from .normalize import ARCFACE_112

# Frontal nose height between the eye line (0) and the mouth line (1), from the ArcFace template.
_EYES_Y = (ARCFACE_112[0, 1] + ARCFACE_112[1, 1]) / 2
_MOUTH_Y = (ARCFACE_112[3, 1] + ARCFACE_112[4, 1]) / 2
NOSE_HEIGHT = (ARCFACE_112[2, 1] - _EYES_Y) / (_MOUTH_Y - _EYES_Y)
NOSE_DEPTH = 0.5  # nose tip in front of the eye/mouth plane, in eye-to-mouth distances (anthropometric guess)


def estimate(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from YuNet-order landmarks (right eye, left eye, nose tip,
    right and left mouth corner, the subject's right being image-left)."""
    points = np.asarray(landmarks, np.float64)
    eye_right, eye_left = points[0], points[1]
    dx, dy = eye_left - eye_right
    roll = math.atan2(dy, dx)
    cos, sin = math.cos(-roll), math.sin(-roll)
    upright = (points - (eye_right + eye_left) / 2) @ np.array([[cos, -sin], [sin, cos]]).T
    mouth_y = (upright[3, 1] + upright[4, 1]) / 2  # the eye line is at 0 now
    if mouth_y <= 1e-6:
        return 0.0, 0.0, round(math.degrees(roll), 2)
    depth = NOSE_DEPTH * mouth_y
    middle_x = upright[[0, 1, 3, 4], 0].mean()
    nose_x, nose_y = upright[2]
    yaw = math.asin(float(np.clip((nose_x - middle_x) / depth, -1, 1)))
    pitch = math.asin(float(np.clip((NOSE_HEIGHT * mouth_y - nose_y) / depth, -1, 1)))
    return round(math.degrees(yaw), 2), round(math.degrees(pitch), 2), round(math.degrees(roll), 2)
