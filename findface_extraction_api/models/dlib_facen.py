"""dlib's ResNet face descriptor (dlib_face_recognition_resnet_model_v1): a second 128-d identity
vector, from a different network, training set and alignment than SFace, for the fused facen
(models/fused_facen.py).

Its input is dlib's own face chip (`get_face_chip_details(shape, 150, 0.25)`), which the daemon
takes from the normalized face through a fixed similarity, as the age and gender models take
theirs: the pipeline's landmarks are the dlib 5-point shape mapped through the dlib chip template
(models/landmarks.py), so the chip is exactly the one dlib would cut from the original image at
the same YuNet box and shape predictor points (no second detector), and a `normalized` PNG posted
back with `detector: prenormalized` gives the same vector.

dlib runs the network in C++ without releasing Python's GIL, so one call stalls the process's
other Python threads (the event loop included) for its whole length. The chips of a request are
cut together, but the network takes them `BATCH` at a time: on these CPUs a batch of 4 or 8 was
no faster per face than one at a time (measured side by side with dlib-bin 20.0.1), while one face
per call keeps each stall to one face's time. `copies` networks, one per worker: dlib promises no
thread safety for one shared network.
"""

import queue
from collections.abc import Sequence

import cv2
import dlib
import numpy as np

from .. import imaging, normalize
from .landmarks import YUNET_IN_DLIB_CHIP
from .runtime import Bundle

KEY = "facen_dlib"
CHIP_SIZE, CHIP_PADDING = 150, 0.25  # dlib's compute_face_descriptor(img, shape) defaults
BATCH = 1  # faces per dlib call, each holding the GIL (see above)


def chip_matrix() -> imaging.Matrix:
    """The similarity from the normalized face to dlib's 150 px descriptor chip (padding 0.25)."""
    chip_points = (CHIP_PADDING + YUNET_IN_DLIB_CHIP) / (1 + 2 * CHIP_PADDING) * CHIP_SIZE
    return imaging.fit_similarity(normalize.TEMPLATE, chip_points)


CHIP_MATRIX = chip_matrix()


def chip(normalized: np.ndarray) -> np.ndarray:
    """dlib's RGB 150x150 descriptor chip of a normalized face."""
    return np.ascontiguousarray(cv2.cvtColor(imaging.warp(normalized, CHIP_MATRIX, CHIP_SIZE), cv2.COLOR_BGR2RGB))


class DlibFacen:
    """dlib's face recognition network on chips from normalized faces."""

    def __init__(self, bundle: Bundle, copies: int = 1):
        path = bundle.path(KEY)
        self.dimension = int(bundle.field(KEY, "output", "shape")[1])
        self._pool: queue.SimpleQueue[dlib.face_recognition_model_v1] = queue.SimpleQueue()
        for _ in range(max(1, copies)):
            self._pool.put(dlib.face_recognition_model_v1(path))

    def extract(self, normalized: Sequence[np.ndarray]) -> np.ndarray:
        """L2-normalised float32 vectors for normalized faces, `BATCH` faces per network call."""
        chips = [chip(face) for face in normalized]
        if not chips:
            return np.zeros((0, self.dimension), np.float32)
        network = self._pool.get()
        try:
            vectors = [
                np.array(network.compute_face_descriptor(chips[start : start + BATCH]), np.float32)
                for start in range(0, len(chips), BATCH)
            ]
        finally:
            self._pool.put(network)
        stacked = np.concatenate(vectors).reshape(len(chips), self.dimension)
        return stacked / np.linalg.norm(stacked, axis=1, keepdims=True).clip(1e-12)
