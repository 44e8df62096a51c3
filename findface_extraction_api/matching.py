"""1:1 comparison of two facen / template vectors (128-d SFace, L2-normalised).

SAME_PERSON_THRESHOLD is the cosine similarity at or above which two faces are called the same
person. It was calibrated on LFW View 2 folds 1-2 (1,200 pairs) through the Image API by
eval/verify_lfw.py; docs/imageapi.md quotes its output.
"""

import numpy as np

SAME_PERSON_THRESHOLD = 0.30


def compare(a, b):
    """(cosine similarity -1..1, Euclidean distance of the unit vectors 0..2, same person?)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a / max(np.linalg.norm(a), 1e-12)
    b = b / max(np.linalg.norm(b), 1e-12)
    score = float(np.clip(a @ b, -1.0, 1.0))
    return score, float(np.sqrt(max(0.0, 2.0 - 2.0 * score))), score >= SAME_PERSON_THRESHOLD
