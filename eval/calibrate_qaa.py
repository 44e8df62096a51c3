"""Calibrate the quality checks' thresholds (findface_extraction_api/qaa.py) on synthetic data only.

Clean variants of scikit-image's public-domain astronaut (as it is, mirrored, 2x and 0.75x,
JPEG quality 70, on a plain background) against each degradation of `testing.degraded` at half
and full strength. Prints every check's raw measure per image, so each threshold in qaa.py can be
read off as a value between the worst clean variant and the degradation the check must catch.
No research benchmark is used here (they are only for reporting, in eval/run.py).

    .venv/bin/python eval/calibrate_qaa.py
"""

import io
import os
import sys

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from findface_extraction_api import qaa  # noqa: E402
from findface_extraction_api.models.runtime import Bundle, Runtime  # noqa: E402
from findface_extraction_api.pipeline import Models, Options, Pipeline  # noqa: E402
from findface_extraction_api.testing import ASTRONAUT_POINTS, BUNDLE, astronaut, degraded  # noqa: E402

DEGRADATIONS = ("blur", "dark", "sidelight", "flare", "noise", "watermark", "turned", "eyes_closed", "mask")


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    out = io.BytesIO()
    Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).save(out, "JPEG", quality=quality)
    return cv2.cvtColor(np.array(Image.open(io.BytesIO(out.getvalue()))), cv2.COLOR_RGB2BGR)


def variants() -> list[tuple[str, np.ndarray]]:
    base = astronaut()
    clean = [
        ("clean", base),
        ("clean mirrored", cv2.flip(base, 1)),
        ("clean 2x", cv2.resize(base, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)),
        ("clean 0.75x", cv2.resize(base, None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)),
        ("clean jpeg70", jpeg_roundtrip(base, 70)),
        ("clean plain bg", degraded(base, "plain_background")),
    ]
    bad = [(f"{kind} {s}", degraded(base, kind, s, ASTRONAUT_POINTS)) for kind in DEGRADATIONS for s in (0.5, 1.0)]
    return clean + bad


def measures(image: np.ndarray, face) -> dict[str, float]:
    grey = cv2.cvtColor(face.normalized, cv2.COLOR_BGR2GRAY)
    region = qaa.region(grey, qaa.FACE_REGION).astype(np.float64)
    eyes = qaa.eye_openness(grey, face.eye_openness)
    return {
        "sharp_ratio": float(cv2.Laplacian(region, cv2.CV_64F).var() / max(region.var(), 1.0)),
        "illum": qaa.illumination_score(grey),
        "flare": qaa.flare_share(face.normalized),
        "eyeL": eyes[0],
        "eyeR": eyes[1],
        "irisL": face.eye_openness[0] if face.eye_openness else float("nan"),
        "irisR": face.eye_openness[1] if face.eye_openness else float("nan"),
        "rot": qaa.max_rotation_deviation(face.pose),
        "noise": qaa.noise_sigma(image, face.box) * qaa.FULL_RANGE / max(qaa.dynamic_range_levels(grey), 16.0),
        "wmark": qaa.watermark_share(grey),
        "bg": qaa.background_uniformity_score(image, face.box),
        "range": qaa.dynamic_range_levels(grey),
        "notmask": qaa.not_masked_score(face.normalized),
        "total": float(face.qaa["total_score"]),
    }


def main() -> None:
    pipeline = Pipeline(Models(Runtime(Bundle(BUNDLE), 1)))
    rows = []
    for name, image in variants():
        faces = pipeline.extract(image, Options(qaa=True))
        if not faces:
            print(f"{name:<20} no face found")
            continue
        face = max(faces, key=lambda f: f.confidence)
        rows.append((name, measures(image, face)))
    keys = list(rows[0][1])
    print(f"{'image':<20}" + "".join(f"{k:>9}" for k in keys))
    for name, values in rows:
        print(f"{name:<20}" + "".join(f"{values[k]:>9.3f}" if values[k] < 10 else f"{values[k]:>9.1f}" for k in keys))


if __name__ == "__main__":
    main()
