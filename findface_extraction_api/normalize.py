"""The canonical normalized face: a 256x256 BGR crop every attribute model reads from.

The five landmarks are fitted (least-squares similarity) to the ArcFace 112x112 template scaled
by 1.6 and centred. Each model module takes its own input from this crop through a fixed
transform (models/facen.py, age_gender.py, emotions.py), so a `normalized` PNG posted back with
`detector: prenormalized` gives the same facen, gender, age and emotions as the original.

The margin is what the widest consumer needs: fer's emotion square (the detector box made
square, plus 10 px) spans x 17..239 and y 33..255 of 256, the dlib-style age chip y 78..232.
"""

import numpy as np

from . import imaging

SIZE = 256
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
ARCFACE_SCALE = 1.6
ARCFACE_OFFSET = (SIZE - 112 * ARCFACE_SCALE) / 2
TEMPLATE = ARCFACE_112 * ARCFACE_SCALE + ARCFACE_OFFSET


def normalize(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The canonical 256x256 aligned crop of the face with these landmarks."""
    return imaging.warp(image, imaging.fit_similarity(landmarks, TEMPLATE), SIZE)
