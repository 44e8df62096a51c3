"""The Face record: what the pipeline finds and decides, and both API adapters render from."""

from dataclasses import dataclass, replace

import numpy as np


@dataclass
class Face:
    """One detected face, in original-image pixel coordinates.

    `landmarks` are five points in YuNet's order (right eye, left eye, nose tip, right and
    left mouth corner, "right" meaning the subject's right, i.e. image-left); every detector
    reports them in that order so alignment is the same whichever found the face. The
    attribute fields are filled by the pipeline when asked for; `male`, `real` and `pose` are
    its decisions, taken at the thresholds the pipeline was built with.
    """

    box: np.ndarray  # left, top, right, bottom (float)
    confidence: float  # detector confidence, 0..1
    landmarks: np.ndarray  # (5, 2)
    dlib_points: np.ndarray | None = None  # dlib's 5 points (eye corners, nose base), when predicted
    quality: float | None = None  # quality.py's score, 0 best, <= -5 for turned faces
    rotation: int = 0  # degrees the image was turned clockwise to find the face upright
    normalized: np.ndarray | None = None  # canonical aligned crop, BGR uint8 (normalize.py)
    facen: np.ndarray | None = None  # L2-normalised float32 feature vector
    male_probability: float | None = None
    male: bool | None = None  # male_probability over the pipeline's gender threshold
    age: float | None = None
    emotions: dict[str, float] | None = None  # probabilities by label
    liveness: float | None = None  # P(real face) from MiniFASNet (models/liveness.py)
    real: bool | None = None  # liveness at the configured threshold
    pose: tuple[float, float, float] | None = None  # yaw, pitch, roll in degrees (facemesh.pose or headpose.py)
    mesh: np.ndarray | None = None  # (468, 3) FaceMesh points, x and y in image pixels, z relative
    mesh_flag: float | None = None  # FaceMesh's face-present score, 0..1
    eye_openness: tuple[float, float] | None = None  # eyelid gap / eye width, image-left eye first
    qaa: dict[str, float | bool] | None = None  # ISO-style quality checks by field (qaa.py)

    def shifted(self, dx: float, dy: float) -> "Face":
        """The same face with coordinates moved by (dx, dy), e.g. from a roi crop to the image."""
        offset = np.array([dx, dy], np.float64)
        points = None if self.dlib_points is None else self.dlib_points + offset
        mesh = None if self.mesh is None else self.mesh + np.array([dx, dy, 0.0])
        return replace(
            self, box=self.box + np.tile(offset, 2), landmarks=self.landmarks + offset, dlib_points=points, mesh=mesh
        )

    def ranked_emotions(self) -> list[tuple[str, float]]:
        """(label, probability) pairs, most probable first."""
        return sorted((self.emotions or {}).items(), key=lambda item: -item[1])
