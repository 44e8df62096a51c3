"""detect -> landmarks -> normalize -> attributes: one object, plain steps over one decoded image.

Nothing here knows HTTP or JSON. `Models` is loaded once at start-up; `Pipeline` holds them with
the decisions an operator configures (face-size range, quality scores, thresholds) and is shared
by the worker threads (onnxruntime sessions are safe to run concurrently). Both protocol
adapters call `extract` or `describe_boxes` and render the faces they get back.
"""

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import cv2
import numpy as np

from . import headpose, imaging, metrics, normalize, qaa, quality
from .face import Face
from .models import fused_facen, liveness, mobilefacenet
from .models.age_gender import AgeEstimator, GenderClassifier
from .models.bodies import BodyDetector
from .models.detector import Detector, suppress
from .models.dlib_facen import DlibFacen
from .models.emotions import EmotionClassifier
from .models.facemesh import FaceMesh, mesh_roll, roll_of
from .models.facemesh import pose as facemesh_pose
from .models.facen import SAME_PERSON_THRESHOLD, FacenExtractor, Match, compare
from .models.faceres import AgeEnsemble, FaceresAge
from .models.iris import IrisModel
from .models.landmarks import LandmarkPredictor, to_yunet_order
from .models.legacy import LegacyDetector
from .models.runtime import Runtime

T = TypeVar("T")
Box = tuple[int, int, int, int]  # left, top, right, bottom in source pixels
# Faces per model run: onnxruntime's arena keeps the largest run's buffers for good. Runs of 32
# kept ~23 MB a face for SFace (750 MB a run in flight: a daemon that had answered one crowd photo
# with need_facen idled at 1.1-1.4 GB instead of 0.3), 190 MB per liveness model, 150 MB for
# FaceMesh; runs of 4 keep 95, 35 and 55 MB and were as fast or faster per face on 1 thread
# (SFace 17.4 against 20.2 ms, liveness 2.4 against 2.8-3.7, FaceMesh 5.2 against 5.9; 2026-12-07).
BATCH = 4
GOOD_QUALITY = -1.0  # an upright face at least this good makes the turned passes look only for larger faces
MESH_FACE = 0.5  # FaceMesh's face flag at or above which its mesh (pose, eyes) is used; else the 5 points
REFIT_ROLL = 5.0  # degrees between the 5-point and the mesh's eye line that make the mesh re-cut level


@dataclass(frozen=True)
class Options:
    """What one request asks of one image, in the pipeline's own words (adapters translate)."""

    detector: str = "yunet"  # a key of Pipeline.detectors: yunet, hog, prenormalized
    roi: Box | None = None  # may exceed the image; it is clipped
    rotate: bool = False  # also search the image turned by 90, 180 and 270 degrees (yunet only)
    crop: bool = False  # keep the normalized crop on the face
    facen: bool = False
    gender: bool = False
    age: bool = False
    emotions: bool = False
    liveness: bool = False  # needs the optional MiniFASNet pack and the original frame
    pose: bool = False  # FaceMesh's 468 points and the head pose from them
    qaa: bool = False  # ISO-style quality checks (qaa.py); implies pose, Iris eye openness and emotions
    mask: bool = False  # a medical-mask classifier: none ships (MASK_UNAVAILABLE), so always Unsupported

    @property
    def needs_crop(self) -> bool:
        return self.crop or self.facen or self.gender or self.age or self.emotions or self.qaa

    @property
    def needs_landmarks(self) -> bool:
        """Whether anything asked for reads the shape predictor's landmarks: the aligned crop (and
        all that is cut from it) and the pose. Boxes, scores and liveness need only the detector."""
        return self.needs_crop or self.pose or self.qaa


# The facens ([facen] model) and the cosine at or above which each says "same person"
# (models/facen.py, fused_facen.py and mobilefacenet.py say how each was chosen).
SAME_PERSON = {
    "sface": SAME_PERSON_THRESHOLD,
    fused_facen.NAME: fused_facen.SAME_PERSON_THRESHOLD,
    mobilefacenet.NAME: mobilefacenet.SAME_PERSON_THRESHOLD,
}
FACENS = tuple(SAME_PERSON)


@dataclass(frozen=True)
class Thresholds:
    """Every decision the service takes from a score, in one place."""

    male: float = 0.5  # P(male) above it is MALE
    real: float = 0.5  # P(real) at or above it is REAL ([liveness] threshold)
    same_person: float = SAME_PERSON_THRESHOLD  # facen cosine at or above it is the same person
    body: float = 0.35  # NanoDet person score at or above it is a body (NanoDet's demo threshold)

    @classmethod
    def for_facen(cls, facen: str, **decisions: float) -> "Thresholds":
        """The thresholds with the same-person threshold of facen `facen` (a key of SAME_PERSON)."""
        return cls(same_person=SAME_PERSON[facen], **decisions)


MASK_UNAVAILABLE = (
    "mask-estimator is not available: no mask classifier whose weights and licence allow "
    "redistribution and whose training data have known terms was found in PyPI or npm (see "
    "docs/imageapi.md); quality-assessment-estimator's notMasked is a documented colour heuristic"
)


class Unsupported(Exception):
    """A request this service cannot answer as asked (a missing optional model, a detector that
    cannot give what is needed); `option` names the Options field, the message says why."""

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option


class Models:
    """Every model of the bundle the configuration uses, loaded and checked once.

    `age`, `emotions` and `facen` are the [age], [emotions] and [facen] `model` settings
    (config.spec lists the values); an option's extra network is loaded only when it is set.
    The fused facen is SFace with dlib's ResNet, mobilefacenet replaces SFace; `facen_version` is
    the configured facen's manifest version. `facen_precision` and `attribute_precision`
    (float32 or bfloat16, resolved from [facen] and [attributes] precision by models/bf16.py) are
    the precisions the facen's network and the age, gender and emotion networks run in.
    """

    def __init__(
        self,
        runtime: Runtime,
        workers: int = 1,
        age: str = "cydral",
        emotions: str = "mini-xception",
        facen: str = "sface",
        facen_precision: str = "float32",
        attribute_precision: str = "float32",
    ):
        self.detector = Detector(runtime)
        self.landmarks = LandmarkPredictor(runtime.bundle, copies=workers)
        self.legacy = LegacyDetector(self.landmarks)
        self.facen_name = facen
        self.facen_version = str(runtime.bundle.facen(facen)["version"])
        self.facen_precision = facen_precision
        self.facen: FacenExtractor | fused_facen.FusedFacen
        if facen == mobilefacenet.NAME:
            self.facen = mobilefacenet.MobileFaceNet(runtime, facen_precision)  # SFace is not loaded
        elif facen == fused_facen.NAME:
            dlib = DlibFacen(runtime.bundle, copies=workers)
            sface = FacenExtractor(runtime, precision=facen_precision)
            self.facen = fused_facen.FusedFacen(runtime.bundle, {"facen": sface.extract, "facen_dlib": dlib.extract})
        else:
            self.facen = FacenExtractor(runtime, precision=facen_precision)
        self.attribute_precision = attribute_precision
        cydral = AgeEstimator(runtime, attribute_precision)
        self.age: AgeEstimator | AgeEnsemble = (
            cydral if age == "cydral" else AgeEnsemble([cydral, FaceresAge(runtime, attribute_precision)])
        )
        self.gender = GenderClassifier(runtime, attribute_precision)
        self.emotions = EmotionClassifier(runtime, emotions, attribute_precision)
        self.facemesh = FaceMesh(runtime)
        self.iris = IrisModel(runtime)
        self.bodies = BodyDetector(runtime)
        # Optional pack: None when the bundle was built without it (see models/liveness.py).
        self.liveness = liveness.LivenessEstimator(runtime) if liveness.available(runtime.bundle) else None


@dataclass
class Pipeline:
    """The models plus the operator's decisions; `extract` and `describe_boxes` are the two entries."""

    models: Models
    min_face_size: float = 30.0
    max_face_size: float = math.inf
    max_faces: int = 100  # per image: the largest are kept ([limits] max_faces)
    quality_scores: bool = False  # fill Face.quality for every face (auto-rotation always does)
    thresholds: Thresholds = field(default_factory=Thresholds)

    def __post_init__(self) -> None:
        self.detectors: dict[str, Callable[[np.ndarray, float], list[Face]]] = {
            "yunet": self._yunet,
            "hog": self._hog,
            "prenormalized": self._prenormalized,
        }

    # ---------------------------------------------------------------- entries

    def check(self, options: Options) -> None:
        """Unsupported if `options` cannot be answered here; cheap, so adapters call it before queueing."""
        if options.detector not in self.detectors:
            raise Unsupported("detector", f"unknown detector '{options.detector}'")
        if options.mask:
            raise Unsupported("mask", MASK_UNAVAILABLE)
        if options.rotate and options.detector != "yunet":
            raise Unsupported("rotate", "auto-rotation works only with the yunet (nnd) detector")
        if options.liveness:
            if self.models.liveness is None:
                raise Unsupported("liveness", liveness.PACK_HINT)
            if options.detector == "prenormalized":
                raise Unsupported(
                    "liveness",
                    "liveness needs the original frame around the face (MiniFASNet "
                    "crops 2.7x and 4x the face box); a prenormalized face has none",
                )

    def extract(self, image: np.ndarray, options: Options) -> list[Face]:
        """All faces of `image` (BGR) with the attributes `options` asks for, in image coordinates."""
        self.check(options)
        region, (dx, dy) = crop_roi(image, options.roi)
        if region is None:
            return []
        if options.rotate:
            faces = self._any_orientation(region)
        elif options.detector == "yunet" and not (options.needs_landmarks or self.quality_scores):
            faces = self._yunet(region, self.min_face_size, landmarks=False)
        else:
            faces = self.detectors[options.detector](region, self.min_face_size)
            if self.quality_scores:
                with metrics.stage("quality"):
                    for face in faces:
                        self._score_quality(region, face)
        self._add_attributes(region, faces, options)
        faces = [face.shifted(dx, dy) for face in faces]
        if options.liveness:
            self._add_liveness(image, faces)  # the whole frame: the crops reach past the roi
        metrics.FACES.observe(len(faces))
        return faces

    def describe_boxes(self, image: np.ndarray, boxes: Sequence[np.ndarray], options: Options) -> list[Face]:
        """Faces at given boxes (left, top, right, bottom; e.g. from another client's detector), with
        landmarks from the same shape predictor the yunet path uses, and the attributes asked for.
        No detection and no roi: the boxes are the faces."""
        self.check(options)
        with metrics.stage("landmarks"):
            grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            faces = [self._with_landmarks(grey, unlandmarked(box)) for box in boxes]
        self._add_attributes(image, faces, options)
        if options.liveness:
            self._add_liveness(image, faces)
        metrics.FACES.observe(len(faces))
        return faces

    def detect_bodies(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """People in `image` (BGR): (box left, top, right, bottom in pixels, score), best first."""
        with metrics.stage("bodies"):
            return self.models.bodies.detect(image, self.thresholds.body)

    def compare(self, a: np.ndarray, b: np.ndarray) -> Match:
        """1:1 comparison of two facens at the configured same-person threshold."""
        return compare(a, b, self.thresholds.same_person)

    @property
    def facen_dimension(self) -> int:
        """Floats in one facen of the configured model (128 for sface, 256 for sface+dlib, 192 for mobilefacenet)."""
        return self.models.facen.dimension

    def facen_identity(self) -> dict[str, Any]:
        """What a client stores beside its facens so that vectors of different facens never meet."""
        return {
            "model": self.models.facen_name,
            "version": self.models.facen_version,
            "dimension": self.facen_dimension,
            "same_person_threshold": self.thresholds.same_person,
            "precision": self.models.facen_precision,
        }

    # ---------------------------------------------------------------- detectors

    def _yunet(self, image: np.ndarray, min_face_size: float, landmarks: bool = True) -> list[Face]:
        """YuNet's boxes; landmarks from the shape predictor: YuNet's own ignore roll (models/landmarks.py).
        Without `landmarks` the faces keep YuNet's own five points and no `dlib_points`: a request for
        boxes alone skips the predictor (about 0.4 ms per face, holding the GIL: dlib's binding keeps it)."""
        with metrics.stage("detect"):
            found = largest(self.models.detector.detect(image, min_face_size, self.max_face_size), self.max_faces)
        if not landmarks:
            return found
        with metrics.stage("landmarks"):
            grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            return [self._with_landmarks(grey, face) for face in found]

    def _hog(self, image: np.ndarray, min_face_size: float) -> list[Face]:
        with metrics.stage("detect"):
            return largest(self.models.legacy.detect(image, min_face_size, self.max_face_size), self.max_faces)

    def _prenormalized(self, image: np.ndarray, min_face_size: float) -> list[Face]:
        """The single face of an already normalized crop: the whole image, resized to the canonical size."""
        height, width = image.shape[:2]
        interpolation = cv2.INTER_AREA if min(height, width) > normalize.SIZE else cv2.INTER_LINEAR
        crop = (
            image
            if (height, width) == (normalize.SIZE, normalize.SIZE)
            else cv2.resize(image, (normalize.SIZE, normalize.SIZE), interpolation=interpolation)
        )
        to_image = np.array([width, height]) / normalize.SIZE
        return [
            Face(
                box=np.array([0.0, 0.0, width, height]),
                confidence=1.0,
                landmarks=normalize.TEMPLATE * to_image,
                normalized=crop,
            )
        ]

    def _with_landmarks(self, grey: np.ndarray, face: Face) -> Face:
        face.dlib_points = self.models.landmarks.predict(grey, face.box)
        face.landmarks = to_yunet_order(face.dlib_points)
        return face

    # ---------------------------------------------------------------- rotation and quality

    def _any_orientation(self, image: np.ndarray) -> list[Face]:
        """yunet faces in the image and its three quarter turns, each physical face once.

        A face found in several orientations is kept from the one where its quality is best, with
        `rotation` set and coordinates mapped back to the image as given. When the image as it is
        already shows a good upright face (the common case), the turned copies are searched only for
        faces twice min_face_size, which costs about a ninth of a full pass each.
        """
        faces = self._yunet(image, self.min_face_size)
        for face in faces:
            self._score_quality(image, face)
        good = [face for face in faces if face.quality is not None and face.quality >= GOOD_QUALITY]
        turned_min = self.min_face_size * 2 if good else self.min_face_size
        for degrees, turn in imaging.TURNS.items():
            turned = cv2.rotate(image, turn)
            for face in self._yunet(turned, turned_min):
                if good and not is_new(imaging.box_unturned(face.box, degrees, image.shape), good):
                    continue  # a good upright face seen again sideways: not worth scoring
                self._score_quality(turned, face)
                faces.append(unturned(face, degrees, image.shape))
        if not faces:
            return []
        keep = suppress(np.array([face.box for face in faces]), np.array([face.quality for face in faces]))
        return largest([faces[i] for i in keep], self.max_faces)  # each turn kept max_faces of its own

    def _score_quality(self, image: np.ndarray, face: Face) -> None:
        """Set the face's quality, and its normalized crop (which the blur penalty reads)."""
        if face.normalized is None:
            face.normalized = normalize.normalize(image, face.landmarks)
        face.quality = quality.score(image, face, face.normalized, self.models.detector.centre_score)

    # ---------------------------------------------------------------- attributes

    def _add_attributes(self, image: np.ndarray, faces: list[Face], options: Options) -> None:
        """Fill the requested attributes and decisions (batched per model) of faces found in `image`."""
        if not faces:
            return
        if options.pose or options.qaa:
            with metrics.stage("mesh"):
                self._add_mesh(image, faces, eyes=options.qaa)
        if not options.needs_crop:
            return
        crops = []
        with metrics.stage("normalize"):
            for face in faces:
                if face.normalized is None:
                    face.normalized = normalize.normalize(image, face.landmarks)
                crops.append(face.normalized)
        models = self.models
        if options.facen:
            with metrics.stage("facen"):
                for face, vector in zip(faces, in_batches(models.facen.extract, crops), strict=True):
                    face.facen = vector
        if options.gender:
            with metrics.stage("gender"):
                for face, p in zip(faces, in_batches(models.gender.male_probability, crops), strict=True):
                    face.male_probability = float(p)
                    face.male = face.male_probability > self.thresholds.male
        if options.age:
            with metrics.stage("age"):
                for face, age in zip(faces, in_batches(models.age.estimate, crops), strict=True):
                    face.age = float(age)
        if options.emotions or options.qaa:
            with metrics.stage("emotions"):
                for face, emotions in zip(faces, in_batches(models.emotions.classify, crops), strict=True):
                    face.emotions = emotions
        if options.qaa:
            with metrics.stage("qaa"):
                for face in faces:
                    face.qaa = qaa.assess(image, face)

    def _add_mesh(self, image: np.ndarray, faces: list[Face], eyes: bool) -> None:
        """FaceMesh for each face, cut level with its 5-point eye line (again level with the mesh's
        own when they disagree by over REFIT_ROLL: shut eyes mislead the 5 points); the pose from
        the mesh, or from the 5 points where FaceMesh sees no face; with `eyes`, Iris openness."""
        mesh = self.models.facemesh

        def fit(items: Sequence[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
            return mesh.fit(image, [box for box, _ in items], [roll for _, roll in items])

        rolls = [roll_of(face.landmarks) for face in faces]
        fitted = in_batches(fit, [(face.box, roll) for face, roll in zip(faces, rolls, strict=True)])
        again = [i for i, (points, _) in enumerate(fitted) if abs(mesh_roll(points) - rolls[i]) > REFIT_ROLL]
        for i, refit in zip(
            again, in_batches(fit, [(faces[i].box, mesh_roll(fitted[i][0])) for i in again]), strict=True
        ):
            fitted[i] = refit
        for face, (points, flag) in zip(faces, fitted, strict=True):
            face.mesh, face.mesh_flag = points, flag
            face.pose = facemesh_pose(points) if flag >= MESH_FACE else headpose.estimate(face.landmarks)
        if eyes:
            meshed = [face for face in faces if face.mesh is not None and (face.mesh_flag or 0) >= MESH_FACE]
            openness = in_batches(lambda items: self.models.iris.openness(image, items), [f.mesh for f in meshed])
            for face, value in zip(meshed, openness, strict=True):
                face.eye_openness = value

    def _add_liveness(self, image: np.ndarray, faces: list[Face]) -> None:
        """Fill `liveness` (P(real)) and `real` from the original frame."""
        estimator = self.models.liveness
        if not faces or estimator is None:
            return
        with metrics.stage("liveness"):
            scores = in_batches(lambda boxes: estimator.real_probability(image, boxes), [face.box for face in faces])
        for face, p in zip(faces, scores, strict=True):
            face.liveness = float(p)
            face.real = face.liveness >= self.thresholds.real


def in_batches(function: Callable[[Sequence[Any]], Iterable[T]], items: Sequence[Any], size: int = BATCH) -> list[T]:
    """`function` over `items` in runs of at most `size`, results in order."""
    return [result for start in range(0, len(items), size) for result in function(items[start : start + size])]


def largest(faces: list[Face], count: int) -> list[Face]:
    """The `count` largest of `faces` (by box area), in their order: every face found costs
    landmarks, quality and each attribute asked for, so a mosaic of thousands of small faces
    would hold a worker for minutes."""
    if len(faces) <= count:
        return faces
    areas = np.array([(face.box[2] - face.box[0]) * (face.box[3] - face.box[1]) for face in faces])
    return [faces[i] for i in sorted(np.argsort(-areas, kind="stable")[:count])]


def unlandmarked(box: Sequence[float] | np.ndarray) -> Face:
    """A face known only by its box (Image API estimators): landmarks come from the shape predictor."""
    return Face(box=np.asarray(box, np.float64), confidence=1.0, landmarks=np.zeros((5, 2)))


def is_new(box: np.ndarray, faces: list[Face]) -> bool:
    """Whether `box` is not one of `faces` (by the detector's own suppression rule)."""
    boxes = np.array([face.box for face in faces] + [box])
    return len(faces) in suppress(boxes, np.r_[np.ones(len(faces)), 0.0])


def unturned(face: Face, degrees: int, shape: tuple[int, ...]) -> Face:
    """A face found in the image turned `degrees` clockwise, in the unturned image's coordinates."""
    face.box = imaging.box_unturned(face.box, degrees, shape)
    face.landmarks = imaging.points_unturned(face.landmarks, degrees, shape)
    if face.dlib_points is not None:
        face.dlib_points = imaging.points_unturned(face.dlib_points, degrees, shape)
    face.rotation = degrees
    return face


def crop_roi(image: np.ndarray, roi: Box | None) -> tuple[np.ndarray | None, tuple[int, int]]:
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
