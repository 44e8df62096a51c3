"""detect -> normalize -> attributes: plain functions over one decoded image.

Nothing here knows HTTP or JSON. `Models` is loaded once at start-up and shared by the worker
threads (onnxruntime sessions are safe to run concurrently).
"""

from dataclasses import dataclass

import cv2
import numpy as np

from . import normalize
from .face import Face
from .models.age_gender import AgeEstimator, GenderClassifier
from .models.detector import Detector
from .models.emotions import EmotionClassifier
from .models.facen import FacenExtractor
from .models.landmarks import LandmarkPredictor
from .models.legacy import LegacyDetector

DETECTORS = ("nnd", "legacy", "prenormalized")


@dataclass(frozen=True)
class Options:
    """What one request asks of one image."""

    detector: str = "nnd"
    roi: tuple | None = None  # left, top, right, bottom in source pixels, may exceed the image
    need_facen: bool = False
    need_gender: bool = False
    need_age: bool = False
    need_emotions: bool = False
    need_normalized: bool = False

    @property
    def needs_normalized_face(self):
        return self.need_facen or self.need_gender or self.need_age or self.need_emotions or self.need_normalized


class Models:
    """Every model of the bundle, loaded and checked once."""

    def __init__(self, bundle, threads):
        self.detector = Detector(bundle, threads)
        self.landmarks = LandmarkPredictor(bundle)
        self.legacy = LegacyDetector(self.landmarks)
        self.facen = FacenExtractor(bundle, threads)
        self.age = AgeEstimator(bundle, threads)
        self.gender = GenderClassifier(bundle, threads)
        self.emotions = EmotionClassifier(bundle, threads)


def extract(models, image, options, min_face_size=30, max_face_size=float("inf")):
    """All faces of `image` (BGR) with the attributes `options` asks for, in image coordinates."""
    region, (dx, dy) = crop_roi(image, options.roi)
    if region is None:
        return []
    if options.detector == "prenormalized":
        faces = [prenormalized_face(region)]
    elif options.detector == "legacy":
        faces = models.legacy.detect(region, min_face_size, max_face_size)
    else:
        faces = models.detector.detect(region, min_face_size, max_face_size)
    if options.needs_normalized_face:
        if options.detector == "nnd":
            refine_landmarks(models, region, faces)
        for face in faces:
            if face.normalized is None:
                face.normalized = normalize.normalize(region, face.landmarks)
        describe(models, faces, options)
    return [face.shifted(dx, dy) for face in faces]


def refine_landmarks(models, image, faces):
    """Replace YuNet's landmarks, which ignore roll, by the shape predictor's (models/landmarks.py)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    for face in faces:
        face.landmarks = models.landmarks.predict(grey, face.box)


def crop_roi(image, roi):
    """The part of `image` inside `roi` (clipped to the image) and its offset; None if empty."""
    if roi is None:
        return image, (0, 0)
    height, width = image.shape[:2]
    left, top, right, bottom = roi
    left, top = max(0, left), max(0, top)
    right, bottom = min(width, right), min(height, bottom)
    if right <= left or bottom <= top:
        return None, (0, 0)
    return image[top:bottom, left:right], (left, top)


def prenormalized_face(image):
    """The single face of an already normalized crop: the whole image, resized to the canonical size."""
    height, width = image.shape[:2]
    interpolation = cv2.INTER_AREA if min(height, width) > normalize.SIZE else cv2.INTER_LINEAR
    crop = image if (height, width) == (normalize.SIZE, normalize.SIZE) else \
        cv2.resize(image, (normalize.SIZE, normalize.SIZE), interpolation=interpolation)
    to_image = np.array([width, height]) / normalize.SIZE
    return Face(box=np.array([0.0, 0.0, width, height]), score=1.0,
                landmarks=normalize.TEMPLATE * to_image, normalized=crop)


def describe(models, faces, options):
    """Fill the requested attributes of faces that already have their normalized crop (batched)."""
    if not faces:
        return
    crops = [face.normalized for face in faces]
    if options.need_facen:
        for face, vector in zip(faces, models.facen.extract([normalize.sface_chip(c) for c in crops])):
            face.facen = vector
    if options.need_gender:
        for face, p in zip(faces, models.gender.male_probability([normalize.gender_chip(c) for c in crops])):
            face.male_probability = float(p)
    if options.need_age:
        for face, age in zip(faces, models.age.estimate([normalize.age_chip(c) for c in crops])):
            face.age = float(age)
    if options.need_emotions:
        for face, emotions in zip(faces, models.emotions.classify([normalize.emotion_crop(c) for c in crops])):
            face.emotions = emotions
