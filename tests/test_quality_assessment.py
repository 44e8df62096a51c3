"""quality-assessment-estimator driven exactly as 3DiVi's quality-assessment demo drives it.

The demo (3DiVi/open-source-image-api, projects/demo-quality-assessment) posts the photo to
`/face-detector-face-fitter/process/image` (multipart field `image`), then
`{"$image": response.$image, "objects": [response.objects[0]]}` to
`/quality-assessment-estimator/process/sample`, and renders every field of `quality.qaa`.
Real daemon, real models; the photos are the public-domain astronaut and synthetic
degradations of it (`testing.degraded`).
"""

import base64
import json

import pytest

from findface_extraction_api.testing import astronaut, degraded, jpeg, multipart

# 3DiVi's TQualityAssessmentFace.quality.qaa (quality-assessment.type.ts): field -> kind.
# "score": a 0..100 number; "bool"; "degrees", "pixels": non-negative numbers; "levels": 0..255.
QAA_FIELDS = {
    "totalScore": "score",
    "isSharp": "bool",
    "sharpnessScore": "score",
    "isEvenlyIlluminated": "bool",
    "illuminationScore": "score",
    "noFlare": "bool",
    "isLeftEyeOpened": "bool",
    "leftEyeOpennessScore": "score",
    "isRightEyeOpened": "bool",
    "rightEyeOpennessScore": "score",
    "isRotationAcceptable": "bool",
    "maxRotationDeviation": "degrees",
    "notMasked": "bool",
    "notMaskedScore": "score",
    "isNeutralEmotion": "bool",
    "neutralEmotionScore": "score",
    "isEyesDistanceAcceptable": "bool",
    "eyesDistance": "pixels",
    "isMarginsAcceptable": "bool",
    "marginOuterDeviation": "pixels",
    "marginInnerDeviation": "pixels",
    "isNotNoisy": "bool",
    "noiseScore": "score",
    "watermarkScore": "score",
    "hasWatermark": "bool",
    "isBackgroundUniform": "bool",
    "backgroundUniformityScore": "score",
    "dynamicRangeScore": "levels",
    "isDynamicRangeAcceptable": "bool",
}


def snake_case(name):
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def check_fields(qaa, names):
    assert set(qaa) == set(names.values()), set(qaa) ^ set(names.values())
    for name, kind in QAA_FIELDS.items():
        value = qaa[names[name]]
        if kind == "bool":
            assert isinstance(value, bool), (name, value)
            continue
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (name, value)
        upper = {"score": 100, "degrees": 180, "pixels": 100_000, "levels": 255}[kind]
        assert 0 <= value <= upper, (name, value)


def demo_chain(api, data, path_prefix=""):
    """The demo's two requests; returns (fitter object, quality response object)."""
    body, content_type = multipart([("image", data, "photo.jpg")])
    status, _, raw = api.request(
        "POST", f"/face-detector-face-fitter{path_prefix}/process/image", body, {"Content-Type": content_type}
    )
    assert status == 200, raw
    fitted = json.loads(raw)
    assert fitted["objects"], "no face found"
    sample = {"$image": fitted["$image"], "objects": [fitted["objects"][0]]}
    status, _, raw = api.request(
        "POST",
        f"/quality-assessment-estimator{path_prefix}/process/sample",
        json.dumps(sample).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, raw
    answer = json.loads(raw)
    assert base64.b64decode(answer["$image"]) == data
    (obj,) = answer["objects"]
    return fitted["objects"][0], obj


def qaa_of(api, image):
    return demo_chain(api, jpeg(image))[1]["quality"]["qaa"]


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_demo_chain_gives_every_qaa_field(api, prefix):
    fitted, obj = demo_chain(api, jpeg(astronaut()), prefix)
    assert {k: v for k, v in obj.items() if k != "quality"} == fitted  # the fitter's object kept whole
    assert obj["fitter"]["keypoints"]  # the demo draws these from the quality response
    check_fields(obj["quality"]["qaa"], {name: name for name in QAA_FIELDS})


def test_v2_gives_every_field_in_the_face_sdk_form(api):
    data = jpeg(astronaut())
    blob = base64.b64encode(data).decode()
    status, _, raw = api.request(
        "POST",
        "/face-detector-face-fitter/v2/process/sample",
        json.dumps({"_image": {"blob": blob, "format": "IMAGE"}}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200
    objects = json.loads(raw)["objects"]
    status, _, raw = api.request(
        "POST",
        "/quality-assessment-estimator/v2/process/sample",
        json.dumps({"_image": {"blob": blob, "format": "IMAGE"}, "objects": objects}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, raw
    (obj,) = json.loads(raw)["objects"]
    check_fields(obj["quality"], {name: snake_case(name) for name in QAA_FIELDS})


def test_the_clean_photo_passes_the_image_checks(api):
    qaa = qaa_of(api, astronaut())
    for field in (
        "isSharp",
        "isEvenlyIlluminated",
        "noFlare",
        "isLeftEyeOpened",
        "isRightEyeOpened",
        "isRotationAcceptable",
        "notMasked",
        "isNotNoisy",
        "isDynamicRangeAcceptable",
    ):
        assert qaa[field] is True, (field, qaa)
    assert qaa["hasWatermark"] is False
    # she smiles, her eyes are ~43 px apart and she is small in a busy 512 px frame: ISO says no
    assert qaa["isNeutralEmotion"] is False and qaa["isEyesDistanceAcceptable"] is False
    assert qaa["isMarginsAcceptable"] is False


# degradation -> the checks it must fail (every one passes on the clean photo above)
DEGRADATIONS = {
    "blur": ["isSharp"],
    "dark": ["isEvenlyIlluminated", "isDynamicRangeAcceptable"],
    "turned": ["isRotationAcceptable"],
    "eyes_closed": ["isLeftEyeOpened", "isRightEyeOpened"],
    "flare": ["noFlare"],
    "noise": ["isNotNoisy"],
    "watermark": ["!hasWatermark"],
    "mask": ["notMasked"],
}


@pytest.mark.parametrize("kind", DEGRADATIONS)
def test_quality_goes_down_for_a_degraded_photo(api, kind):
    clean = qaa_of(api, astronaut())
    worse = qaa_of(api, degraded(astronaut(), kind))
    for check in DEGRADATIONS[kind]:
        if check.startswith("!"):
            assert worse[check[1:]] is True, (kind, check, worse)
        else:
            assert not all(worse[name] for name in check.split("|")), (kind, check, worse)
    if kind in ("blur", "dark", "turned", "eyes_closed"):
        assert worse["totalScore"] < clean["totalScore"], (kind, clean["totalScore"], worse["totalScore"])


def test_quality_needs_a_bbox_and_has_no_process_image(api):
    data = jpeg(astronaut())
    body = json.dumps({"$image": base64.b64encode(data).decode(), "objects": [{"class": "face"}]}).encode()
    status, _, raw = api.request(
        "POST", "/quality-assessment-estimator/process/sample", body, {"Content-Type": "application/json"}
    )
    assert status == 422 and json.loads(raw)["detail"][0]["loc"] == ["body", "objects", 0, "bbox"]
    body, content_type = multipart([("image", data, "photo.jpg")])
    status, _, raw = api.request(
        "POST", "/quality-assessment-estimator/process/image", body, {"Content-Type": content_type}
    )
    assert status == 404 and "process/sample" in json.loads(raw)["detail"]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_fitter_quality_age_gender_emotion_chain(api, version):
    """detector -> fitter -> quality -> age -> gender -> emotion, each answer posted as the next
    request; every earlier attribute stays in place and the new one is appended."""
    blob = base64.b64encode(jpeg(astronaut())).decode()
    body = {"$image": blob} if version == "v1" else {"_image": {"blob": blob, "format": "IMAGE"}}
    fitted_keys = ["fitter", "angles"] if version == "v1" else ["keypoints", "pose"]
    keys = ["id", "class", "confidence", "bbox", *fitted_keys]
    steps = ["face-detector-face-fitter", "quality-assessment-estimator", "age-estimator", "gender-estimator"]
    for service, added in zip(
        [*steps, "emotion-estimator"], [None, "quality", "age", "gender", "emotions"], strict=True
    ):
        status, _, raw = api.request(
            "POST",
            f"/{service}/{version}/process/sample",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 200, raw
        body = json.loads(raw)
        if added:
            keys.append(added)
        (obj,) = body["objects"]
        assert list(obj) == keys, (service, list(obj))
    assert obj["gender"] == "FEMALE" and 20 < obj["age"] < 50 and obj["emotions"][0]["emotion"] == "HAPPY"
    qaa = obj["quality"]["qaa"] if version == "v1" else obj["quality"]
    assert qaa[("isNeutralEmotion" if version == "v1" else "is_neutral_emotion")] is False  # she smiles
