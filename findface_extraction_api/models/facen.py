"""SFace: the 128-d identity feature vector (`facen`) of an ArcFace-aligned 112x112 face."""

import cv2
import numpy as np

from .. import imaging
from . import runtime

INPUT_SIZE = 112


class FacenExtractor:
    def __init__(self, bundle, threads):
        self.session = runtime.session(bundle.path("facen"), threads)

    def extract(self, chips):
        """L2-normalised float32 vectors for a list of 112x112 BGR chips (one batched run).

        SFace normalises inside the graph and expects RGB 0..255; BGR input still "works" but
        costs about 0.1 of cosine, so the channel swap matters.
        """
        rgb = [cv2.cvtColor(chip, cv2.COLOR_BGR2RGB) for chip in chips]
        vectors = self.session.run(None, {"data": imaging.to_blob(rgb)})[0].astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
