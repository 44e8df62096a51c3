"""detect -> normalize -> attributes: plain functions over one decoded image.

Nothing here knows HTTP or JSON. `Models` is loaded once at start-up and shared by the worker
threads (onnxruntime sessions are safe to run concurrently).
"""

from dataclasses import dataclass

import cv2
import numpy as np

from . import normalize, quality
from .face import Face
from .models.age_gender import AgeEstimator, GenderClassifier
from .models.detector import Detector, suppress
from .models.emotions import EmotionClassifier
from .models.facen import FacenExtractor
from .models.landmarks import LandmarkPredictor, to_yunet_order
from .models.legacy import LegacyDetector
from .models import liveness

DETECTORS = ("nnd", "legacy", "prenormalized")
# Clockwise turns tried by auto_rotate after the image as it is.
TURNS = ((90, cv2.ROTATE_90_CLOCKWISE), (180, cv2.ROTATE_180), (270, cv2.ROTATE_90_COUNTERCLOCKWISE))
GOOD_QUALITY = -1.0  # an upright face at least this good makes the turned passes look only for larger faces


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
    auto_rotate: bool = False
    need_liveness: bool = False  # needs the optional MiniFASNet pack and the original frame

    @property
    def needs_normalized_face(self):
        return self.need_facen or self.need_gender or self.need_age or self.need_emotions or self.need_normalized


class Models:
    """Every model of the bundle, loaded and checked once."""

    def __init__(self, bundle, threads, liveness_threshold=0.5):
        self.detector = Detector(bundle, threads)
        self.landmarks = LandmarkPredictor(bundle)
        self.legacy = LegacyDetector(self.landmarks)
        self.facen = FacenExtractor(bundle, threads)
        self.age = AgeEstimator(bundle, threads)
        self.gender = GenderClassifier(bundle, threads)
        self.emotions = EmotionClassifier(bundle, threads)
        # Optional pack: None when the bundle was built without it (see models/liveness.py).
        self.liveness = liveness.LivenessEstimator(bundle, threads) if liveness.available(bundle) else None
        self.liveness_threshold = liveness_threshold


class Unsupported(Exception):
    """A request this service cannot answer as asked (a missing optional model, a detector that
    cannot give what is needed); `param` names the request key, the message says why."""

    def __init__(self, param, message):
        super().__init__(message)
        self.param = param


def check_liveness(models, detector="nnd"):
    """Unsupported unless liveness can run: the pack is installed and the frame is not a chip."""
    if models.liveness is None:
        raise Unsupported("need_liveness", liveness.PACK_HINT)
    if detector == "prenormalized":
        raise Unsupported("need_liveness", "liveness needs the original frame around the face (MiniFASNet "
                                           "crops 2.7x and 4x the face box); a prenormalized face has none")


def extract(models, image, options, min_face_size=30, max_face_size=float("inf"), with_quality=False):
    """All faces of `image` (BGR) with the attributes `options` asks for, in image coordinates.

    `with_quality` fills each face's quality score (auto_rotate always does: it needs it).
    """
    if options.need_liveness:
        check_liveness(models, options.detector)
    region, (dx, dy) = crop_roi(image, options.roi)
    if region is None:
        return []
    if options.auto_rotate:
        faces = find_faces_any_orientation(models, region, min_face_size, max_face_size)
    else:
        faces = find_faces(models, region, options.detector, min_face_size, max_face_size)
        if with_quality:
            for face in faces:
                face.quality = quality.score(models, region, face)
    if options.needs_normalized_face:
        for face in faces:
            if face.normalized is None:
                face.normalized = normalize.normalize(region, face.landmarks)
        describe(models, faces, options)
    faces = [face.shifted(dx, dy) for face in faces]
    if options.need_liveness:
        estimate_liveness(models, image, faces)  # the whole frame: the crops reach past the roi
    return faces


def faces_from_boxes(models, image, boxes):
    """Faces at given boxes (left, top, right, bottom; e.g. from another client's detector), with
    landmarks from the same shape predictor the `nnd` path uses and their normalized crops. No
    detection: `describe` and `estimate_liveness` then fill attributes as for detected faces."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    faces = []
    for box in boxes:
        box = np.asarray(box, np.float64)
        shape = models.landmarks.predict_shape(grey, box)
        landmarks = to_yunet_order(shape)
        faces.append(Face(box=box, score=1.0, landmarks=landmarks, shape=shape,
                          normalized=normalize.normalize(image, landmarks)))
    return faces


def estimate_liveness(models, image, faces):
    """Fill `liveness` (P(real)) and `real` (at the configured threshold) from the original frame."""
    check_liveness(models)
    if not faces:
        return
    for face, p in zip(faces, models.liveness.real_probability(image, [face.box for face in faces])):
        face.liveness = float(p)
        face.real = face.liveness >= models.liveness_threshold


def find_faces(models, image, detector, min_face_size, max_face_size):
    """Faces with landmarks from one detector, on the image as it is."""
    if detector == "prenormalized":
        return [prenormalized_face(image)]
    if detector == "legacy":
        return models.legacy.detect(image, min_face_size, max_face_size)
    faces = models.detector.detect(image, min_face_size, max_face_size)
    # YuNet's own landmarks ignore roll; the shape predictor's follow it (models/landmarks.py).
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    for face in faces:
        face.shape = models.landmarks.predict_shape(grey, face.box)
        face.landmarks = to_yunet_order(face.shape)
    return faces


def find_faces_any_orientation(models, image, min_face_size, max_face_size):
    """`nnd` faces in the image and its three quarter turns, each physical face once.

    A face found in several orientations is kept from the one where its quality is best, with
    `rotation` set and coordinates mapped back to the image as given. When the image as it is
    already shows a good upright face (the common case), the turned copies are searched only for
    faces twice min_face_size, which costs about a ninth of a full pass each.
    """
    faces = find_faces(models, image, "nnd", min_face_size, max_face_size)
    for face in faces:
        face.quality = quality.score(models, image, face)
    good = [face for face in faces if face.quality >= GOOD_QUALITY]
    turned_min = min_face_size * 2 if good else min_face_size
    for degrees, turn in TURNS:
        turned = cv2.rotate(image, turn)
        for face in find_faces(models, turned, "nnd", turned_min, max_face_size):
            if good and not is_new(box_back(face.box, degrees, image.shape), good):
                continue  # a good upright face seen again sideways: not worth scoring
            face.quality = quality.score(models, turned, face)
            faces.append(turn_back(face, degrees, image.shape))
    if not faces:
        return []
    keep = suppress(np.array([face.box for face in faces]), np.array([face.quality for face in faces]))
    return [faces[i] for i in keep]


def is_new(box, faces):
    """Whether `box` is not one of `faces` (by the detector's own suppression rule)."""
    boxes = np.array([face.box for face in faces] + [box])
    return len(faces) in suppress(boxes, np.r_[np.ones(len(faces)), 0.0])


def points_back(points, degrees, shape):
    """(..., 2) points of the image turned `degrees` clockwise -> the unturned image (height, width = shape)."""
    height, width = shape[:2]
    u, v = points[..., 0], points[..., 1]
    if degrees == 90:
        x, y = v, height - u
    elif degrees == 180:
        x, y = width - u, height - v
    else:
        x, y = width - v, u
    return np.stack([x, y], -1)


def box_back(box, degrees, shape):
    corners = points_back(np.asarray(box).reshape(2, 2), degrees, shape)
    return np.concatenate([corners.min(0), corners.max(0)])


def turn_back(face, degrees, shape):
    """A face found in the image turned `degrees` clockwise, in the unturned image's coordinates."""
    face.box = box_back(face.box, degrees, shape)
    face.landmarks = points_back(face.landmarks, degrees, shape)
    face.shape = None if face.shape is None else points_back(face.shape, degrees, shape)
    face.rotation = degrees
    return face


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
