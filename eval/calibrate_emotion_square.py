"""Measure models/emotions.py EMOTION_SQUARE: where fer's square face crop falls in the normalized face.

fer crops the detector box made square (shorter side grown, centred) plus 10 px on every side.
For each LFW image (research data in ../shared/eval-data, never copied into the repo) this maps
that square for the central YuNet face into normalized-face pixels and prints the median
(left, top, side). Run: .venv/bin/python eval/calibrate_emotion_square.py [LFW_DIR]
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


def main(lfw=LFW, every=8, limit=200):
    bundle = Bundle("build/models")
    detector, landmarks = Detector(Runtime(bundle, threads=2)), LandmarkPredictor(bundle)
    files = sorted(glob.glob(os.path.join(lfw, "**", "*.jpg"), recursive=True))[::every][:limit]
    squares = []
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
        left, top, side = fer_square(face.box)
        scale = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
        ((x, y),) = imaging.apply_affine(matrix, [[left, top]])
        squares.append([x, y, side * scale])
    squares = np.array(squares)
    print(
        f"{len(squares)} faces; median (left, top, side) = {np.round(np.median(squares, 0), 1).tolist()}, "
        f"std = {np.round(squares.std(0), 1).tolist()}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:2])
