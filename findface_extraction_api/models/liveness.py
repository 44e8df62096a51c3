"""MiniFASNet (Silent-Face-Anti-Spoofing): a presentation-attack score from the original frame.

Two models, each on its own crop of the frame around the detector's box: MiniFASNetV2 at 2.7x
the box and MiniFASNetV1SE at 4.0x, both resized to 80x80, BGR 0..255 with no normalisation.
Each gives a 3-class softmax (class 1 = real face, 0 and 2 = attack types); the score is the
mean of the two models' P(real), as upstream's test.py sums them. The crop rule is upstream's
`CropImage._get_new_box`: scale the box about its centre, cap the scale so the box fits in
the image, shift it inside the image, take img[y1:y2+1, x1:x2+1].

The models need the background around the face (paper edges, moire, screen borders), so they
cannot run on an aligned chip or a `prenormalized` face.

The models come from an optional pack (see models-data/README.md); `available(bundle)` says
whether this bundle has it.
"""

from collections.abc import Sequence

import cv2
import numpy as np

from .. import imaging
from .runtime import Bundle, Runtime

KEYS = ("liveness_v2", "liveness_v1se")
INPUT_SIZE = 80
PACK_HINT = (
    "the liveness models (MiniFASNet pack) are not installed in this model bundle; install the "
    "findface-data-liveness package (Debian: `make deb LIVENESS_PACK=DIR` builds it), or rebuild "
    "the bundle with the pack present: `make models` with ../shared/models/minifasnet beside the "
    "repository, or `python models-data/build.py --out DIR --liveness-pack PACK_DIR` "
    "(or FFEA_LIVENESS_PACK=PACK_DIR)"
)


def available(bundle: Bundle) -> bool:
    """True if the bundle's manifest lists both liveness models."""
    return all(bundle.has(key) for key in KEYS)


class LivenessEstimator:
    def __init__(self, runtime: Runtime):
        self.models = [
            (
                runtime.load(key),
                float(runtime.bundle.field(key, "input", "crop_scale")),
                int(runtime.bundle.field(key, "output", "real_class")),
            )
            for key in KEYS
        ]

    def real_probability(self, image: np.ndarray, boxes: Sequence[np.ndarray]) -> np.ndarray:
        """P(real face) for each box (left, top, right, bottom, pixels) of the BGR frame `image`."""
        if not len(boxes):
            return np.zeros(0)
        total = np.zeros(len(boxes))
        for model, scale, real in self.models:
            crops = [crop(image, box, scale) for box in boxes]
            logits = model.run(imaging.to_blob(crops))[0].astype(np.float64)
            exp = np.exp(logits - logits.max(1, keepdims=True))
            total += (exp / exp.sum(1, keepdims=True))[:, real]
        return total / len(self.models)


def crop_box(width: int, height: int, box: Sequence[float] | np.ndarray, scale: float) -> tuple[int, int, int, int]:
    """Silent-Face's crop for `box` at `scale`: (x1, y1, x2, y2), inclusive, inside the image."""
    left, top, right, bottom = (float(v) for v in box)
    box_w, box_h = max(right - left, 1.0), max(bottom - top, 1.0)
    scale = min((height - 1) / box_h, (width - 1) / box_w, scale)
    new_w, new_h = box_w * scale, box_h * scale
    cx, cy = left + box_w / 2, top + box_h / 2
    x1, y1, x2, y2 = cx - new_w / 2, cy - new_h / 2, cx + new_w / 2, cy + new_h / 2
    if x1 < 0:
        x2, x1 = x2 - x1, 0
    if y1 < 0:
        y2, y1 = y2 - y1, 0
    if x2 > width - 1:
        x1, x2 = x1 - (x2 - width + 1), width - 1
    if y2 > height - 1:
        y1, y2 = y1 - (y2 - height + 1), height - 1
    return int(x1), int(y1), int(x2), int(y2)


def crop(image: np.ndarray, box: Sequence[float] | np.ndarray, scale: float) -> np.ndarray:
    """The 80x80 BGR input for one model: the scaled box's pixels, resized (cv2 bilinear)."""
    x1, y1, x2, y2 = crop_box(image.shape[1], image.shape[0], box, scale)
    region = image[max(y1, 0) : y2 + 1, max(x1, 0) : x2 + 1]
    return cv2.resize(region, (INPUT_SIZE, INPUT_SIZE))
