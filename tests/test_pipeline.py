"""The pipeline runs a step only when something asked for reads its result (real models, real photos).

A request for boxes alone skips dlib's shape predictor (it holds Python's GIL for its whole call,
so on cheap requests it stalls the event loop as well): its boxes and scores are the same as those
of a request that needs the landmarks, and everything that does read them still gets them.
"""

import dataclasses

import numpy as np
import pytest

from findface_extraction_api import metrics
from findface_extraction_api.models.runtime import Bundle, Runtime
from findface_extraction_api.pipeline import Models, Options, Pipeline
from findface_extraction_api.testing import BUNDLE, astronaut, composed_crowd


@pytest.fixture(scope="module")
def models():
    return Models(Runtime(Bundle(BUNDLE), 1))


def landmark_runs() -> float:
    return metrics.REGISTRY.get_sample_value("ffea_stage_duration_seconds_count", {"stage": "landmarks"}) or 0.0


def images() -> list[np.ndarray]:
    return [astronaut(), composed_crowd()[0]]


def test_boxes_alone_skip_the_shape_predictor_and_match(models):
    pipeline = Pipeline(models)
    for image in images():
        before = landmark_runs()
        bare = pipeline.extract(image, Options())
        assert landmark_runs() == before
        full = pipeline.extract(image, Options(crop=True))
        assert landmark_runs() == before + 1
        assert len(bare) == len(full) >= 1
        for a, b in zip(bare, full, strict=True):
            assert np.array_equal(a.box, b.box) and a.confidence == b.confidence
            assert a.dlib_points is None and b.dlib_points is not None
    # with a roi, too (the faces are shifted back to the image)
    roi = (100, 0, 400, 300)
    assert [f.box.tolist() for f in pipeline.extract(astronaut(), Options(roi=roi))] == [
        f.box.tolist() for f in pipeline.extract(astronaut(), Options(roi=roi, facen=True))
    ]


@pytest.mark.parametrize(
    "options",
    [Options(crop=True), Options(facen=True), Options(age=True), Options(pose=True), Options(rotate=True)],
    ids=lambda options: next(k for k, v in dataclasses.asdict(options).items() if v is True),
)
def test_whatever_reads_the_landmarks_gets_them(models, options):
    faces = Pipeline(models).extract(astronaut(), options)
    assert faces and all(face.dlib_points is not None for face in faces)


def test_quality_scores_still_use_the_predicted_landmarks(models):
    """The quality score's yaw term reads dlib's points: with quality scores on, boxes alone get them."""
    faces = Pipeline(models, quality_scores=True).extract(astronaut(), Options())
    assert faces and all(face.dlib_points is not None and face.quality is not None for face in faces)
