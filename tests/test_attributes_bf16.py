"""`[attributes] precision`: the age, gender and emotion networks in bfloat16 through OpenVINO.

In bfloat16 these networks cost a fraction of their float32 time (an age estimate about 40%),
and their answers must stay what float32 gives to within the low digits: the same gender and
emotion decisions and ages within a year or two, every network of every option. Real bundle, real
OpenVINO, real daemons; skipped, saying why, on CPUs without bfloat16 units. The accuracy on the
benchmarks is make eval's (docs/accuracy/report.md says the precision it ran in).
"""

import json

import cv2
import numpy as np
import pytest
import skimage.data

from findface_extraction_api.models import bf16
from findface_extraction_api.models.runtime import Bundle, Runtime
from findface_extraction_api.pipeline import Models, Options, Pipeline
from findface_extraction_api.testing import BUNDLE, astronaut, composed_crowd, degraded, jpeg

WHY_NOT = bf16.available()
needs_bf16 = pytest.mark.skipif(WHY_NOT is not None, reason=f"no bfloat16 inference here: {WHY_NOT}")
ALL = Options(gender=True, age=True, emotions=True)


def images() -> list[np.ndarray]:
    """A few different faces: the astronaut (plain, mirrored, degraded), a composed crowd's three
    heads, and skimage's cameraman."""
    found = [astronaut(), cv2.flip(astronaut(), 1), composed_crowd()[0]]
    found += [degraded(astronaut(), kind) for kind in ("blur", "dark", "noise", "sidelight")]
    return found + [cv2.cvtColor(skimage.data.camera(), cv2.COLOR_GRAY2BGR)]


def attributes(precision: str, **options: str) -> list[tuple[float, float, dict[str, float]]]:
    """(age, P(male), emotions) of every face of images(), with the attribute networks in `precision`."""
    models = Models(Runtime(Bundle(BUNDLE), 1, instances=2), attribute_precision=precision, **options)
    assert models.attribute_precision == precision
    pipeline = Pipeline(models)
    faces = [face for image in images() for face in pipeline.extract(image, ALL)]
    assert len(faces) >= 10
    return [(face.age, face.male_probability, face.emotions) for face in faces]


@needs_bf16
@pytest.mark.parametrize("options", [{}, {"age": "cydral+faceres", "emotions": "ensemble"}], ids=["default", "options"])
def test_bf16_attributes_agree_with_float32(options):
    exact, fast = attributes("float32", **options), attributes("bfloat16", **options)
    assert exact != fast  # it did run in another precision
    for (age, male, emotions), (age16, male16, emotions16) in zip(exact, fast, strict=True):
        assert abs(age - age16) < 1.5, (age, age16)
        assert abs(male - male16) < 0.03, (male, male16)
        if abs(male - 0.5) > 0.05:
            assert (male > 0.5) == (male16 > 0.5)
        assert max(abs(emotions[k] - emotions16[k]) for k in emotions) < 0.05, (emotions, emotions16)
        ranked, ranked16 = sorted(emotions, key=emotions.get), sorted(emotions16, key=emotions16.get)
        if emotions[ranked[-1]] - emotions[ranked[-2]] > 0.05:
            assert ranked[-1] == ranked16[-1], (emotions, emotions16)


@needs_bf16
def test_daemons_say_the_attribute_precision_and_answer_alike(daemons):
    """GET / says which precision the attribute networks run in; the answers of a bfloat16 and a
    float32 daemon to the same photo agree in their decisions."""
    fast = daemons("main").client  # the default: auto
    exact = daemons("float32", facen={"precision": "float32"}, attributes={"precision": "float32"}).client
    banners = [json.loads(client.request("GET", "/")[2]) for client in (fast, exact)]
    assert [banner["attributes"]["precision"] for banner in banners] == ["bfloat16", "float32"]
    answers = [
        client.extract(jpeg(astronaut()), need_age=True, need_gender=True, need_emotions=True)["faces"][0]
        for client in (fast, exact)
    ]
    assert abs(answers[0]["age"] - answers[1]["age"]) < 1.5
    assert answers[0]["gender"]["gender"] == answers[1]["gender"]["gender"]
    assert answers[0]["emotions"][0]["emotion"] == answers[1]["emotions"][0]["emotion"]
    assert answers[0] != answers[1]


def test_attribute_precision_refuses_bfloat16_where_it_cannot_run(monkeypatch):
    monkeypatch.setattr(bf16, "available", lambda: "OpenVINO is not installed")
    assert bf16.resolve("auto", "attributes") == ("float32", "OpenVINO is not installed")
    with pytest.raises(bf16.BundleError, match=r"^\[attributes\] precision = bfloat16, but OpenVINO is not installed"):
        bf16.resolve("bfloat16", "attributes")
