"""The fused facen `sface+dlib`: SFace's and dlib's ResNet identity vectors as one vector.

The two networks differ in architecture, training data and alignment and err on different
pairs, so the mean of their cosines separates people better than either alone (LFW folds 1-2 in
docs/accuracy/facen-fusion.md). A client still compares two facens with one dot product: each
model's L2-normalised vector is scaled by sqrt(w_i / sum(w)) and the parts are concatenated,
which leaves a unit vector whose dot product with another is sum(w_i * cosine_i) / sum(w). The
weights w come from the bundle's manifest (`facens`, models-data/manifest.py), which also gives
this facen its own version; they were derived without labels (see the document above).

Both models read the same normalized face (SFace its ArcFace chip, dlib its own dlib chip), so
the prenormalized path needs nothing special: the normalized crop fixes both chips.
"""

from collections.abc import Callable, Sequence

import numpy as np

from .runtime import BUILD_HINT, Bundle, BundleError

NAME = "sface+dlib"
# The fused cosine at or above which two faces are the same person (pipeline.Thresholds); chosen
# without labels, see docs/accuracy/facen-fusion.md.
SAME_PERSON_THRESHOLD = 0.746

Extract = Callable[[Sequence[np.ndarray]], np.ndarray]


class FusedFacen:
    """One vector from several facen models (`parts`: manifest model key -> its extract)."""

    def __init__(self, bundle: Bundle, parts: dict[str, Extract], name: str = NAME):
        weights = bundle.facen(name)["weights"]
        if set(weights) != set(parts):
            raise BundleError(f"facen {name}: manifest.json fuses {sorted(weights)}, not {sorted(parts)}; {BUILD_HINT}")
        total = sum(float(w) for w in weights.values())
        self.parts = [(parts[key], np.float32(np.sqrt(float(weights[key]) / total))) for key in weights]
        self.dimension = int(bundle.facen(name)["dimension"])

    def extract(self, normalized: Sequence[np.ndarray]) -> np.ndarray:
        """Unit float32 vectors for normalized faces: the weighted, concatenated model vectors."""
        fused = np.concatenate([scale * extract(normalized) for extract, scale in self.parts], axis=1)
        if fused.shape[1] != self.dimension:
            raise ValueError(f"fused facen has {fused.shape[1]} dimensions, the manifest says {self.dimension}")
        return fused / np.linalg.norm(fused, axis=1, keepdims=True).clip(1e-12)
