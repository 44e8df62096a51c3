"""Measure models/emotions.py EMOTION_SQUARE and models/faceres.py FACERES_SQUARE: where two
box-based face crops fall in the normalized face.

fer crops the detector box made square (shorter side grown, centred) plus 10 px on every side.
Human (whose crop faceres-deep was evaluated on, shared/reference/human-models-eval.md §4.6)
takes a square of side 1.151 x max(w, h) of the YuNet box, its centre moved down by 0.062 x side.
For each LFW image (research data in ../shared/eval-data, never copied into the repo; not an
age or emotion benchmark) this maps both squares for the central YuNet face into
normalized-face pixels and prints the medians (left, top, side).
Run: .venv/bin/python eval/calibrate_emotion_square.py [LFW_DIR]
"""

import glob
import os
import sys

import cv2
import numpy as np

from findface_extraction_api import imaging, normalize
from findface_extraction_api.models.detector import Detector
from findface_extraction_api.models.landmarks import LandmarkPredictor, to_yunet_order
from findface_extraction_api.models.runtime import Bundle, Runtime

LFW = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "eval-data", "verification", "lfw")


def fer_square(box):
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    side = max(width, height)
    left -= (side - width) / 2
    top -= (side - height) / 2
    return left - 10, top - 10, side + 20


def human_square(box):
    left, top, right, bottom = box
    side = 1.151 * max(right - left, bottom - top)
    cx, cy = (left + right) / 2, (top + bottom) / 2 + 0.062 * side
    return cx - side / 2, cy - side / 2, side


def main(lfw=LFW, every=8, limit=200):
    bundle = Bundle("build/models")
    detector, landmarks = Detector(Runtime(bundle, threads=2)), LandmarkPredictor(bundle)
    files = sorted(glob.glob(os.path.join(lfw, "**", "*.jpg"), recursive=True))[::every][:limit]
    squares = {"EMOTION_SQUARE (fer)": [], "FACERES_SQUARE (Human)": []}
    for path in files:
        image = cv2.imread(path)
        faces = detector.detect(image, 30, float("inf"))
        if not faces:
            continue
        centre = np.array(image.shape[1::-1]) / 2
        face = min(faces, key=lambda f: np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre))
        points = to_yunet_order(
            landmarks.predict(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), face.box)
        )  # as pipeline.py does
        matrix = imaging.fit_similarity(points, normalize.TEMPLATE)
        scale = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
        for found, square in zip(squares.values(), (fer_square(face.box), human_square(face.box)), strict=True):
            left, top, side = square
            ((x, y),) = imaging.apply_affine(matrix, [[left, top]])
            found.append([x, y, side * scale])
    for name, found in squares.items():
        found = np.array(found)
        print(
            f"{name}: {len(found)} faces; median (left, top, side) = {np.round(np.median(found, 0), 1).tolist()}, "
            f"std = {np.round(found.std(0), 1).tolist()}"
        )


if __name__ == "__main__":
    main(*sys.argv[1:2])
