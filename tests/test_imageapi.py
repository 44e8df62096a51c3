"""The 3DiVi Image API services end to end: a real daemon, the real model bundle, real photos."""

import base64
import csv
import json
import os
import uuid

import cv2
import numpy as np
import pytest

from findface_extraction_api import headpose, normalize
from findface_extraction_api.api.imageapi.services import FDA_POINTS
from findface_extraction_api.testing import ASTRONAUT_FACE, BUNDLE, ROOT, astronaut, degraded, facen, iou, jpeg, png

with open(os.path.join(BUNDLE, "manifest.json")) as _f:
    HAVE_LIVENESS = "liveness_v2" in json.load(_f)["models"]
needs_liveness = pytest.mark.skipif(
    not HAVE_LIVENESS,
    reason="the model bundle has no liveness pack: rebuild it with ../shared/models/minifasnet present (make models)",
)
LFW = os.path.join(ROOT, "..", "shared", "eval-data", "verification", "lfw")
VERSIONS = ("v1", "v2")
KINDS = ("sample", "image")
# 3DiVi's 21 fda point names in its documented order (spec-findface-3divi.md §B.5.2)
FDA_NAMES = (
    "left_eye_brow_left left_eye_brow_up left_eye_brow_right right_eye_brow_left right_eye_brow_up "
    "right_eye_brow_right left_eye_left left_eye left_eye_right right_eye_left right_eye right_eye_right "
    "left_ear_bottom nose_left nose nose_right right_ear_bottom mouth_left mouth mouth_right chin"
).split()
assert list(FDA_POINTS) == FDA_NAMES
EMOTIONS = {"ANGRY", "DISGUSTED", "SCARED", "HAPPY", "NEUTRAL", "SAD", "SURPRISED"}
ASTRONAUT_JPEG = jpeg(astronaut())


def sample(version, data=ASTRONAUT_JPEG, objects=None):
    blob = base64.b64encode(data).decode("ascii")
    body = {"$image": blob} if version == "v1" else {"_image": {"blob": blob, "format": "IMAGE"}}
    if objects is not None:
        body["objects"] = objects
    return body


def post(client, path, body, raw=False):
    status, _, answer = client.request(
        "POST", path, body if raw else json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    return status, json.loads(answer)


def post_image(client, path, data=ASTRONAUT_JPEG, field="image"):
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="a.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, _, answer = client.request(
        "POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    return status, json.loads(answer)


def run(client, service, version, kind="sample", data=ASTRONAUT_JPEG, objects=None):
    path = f"/{service}/{version}/process/{kind}"
    status, answer = (
        post(client, path, sample(version, data, objects)) if kind == "sample" else post_image(client, path, data)
    )
    assert status == 200, answer
    image_key = "$image" if version == "v1" else "_image"
    assert list(answer)[0] == image_key
    blob = answer[image_key] if version == "v1" else answer[image_key]["blob"]
    assert base64.b64decode(blob) == data  # the image is echoed
    return answer


def only(answer):
    assert len(answer["objects"]) == 1, answer["objects"]
    return answer["objects"][0]


def pixels(bbox, size=512):
    return np.array(bbox) * size


def template(obj, version):
    raw = base64.b64decode(obj["$template"] if version == "v1" else obj["template"]["blob"])
    return np.frombuffer(raw, "<f4")


# ---------------------------------------------------------------- detector services


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("version", VERSIONS)
def test_face_fitter(api, version, kind):
    face = only(run(api, "face-detector-face-fitter", version, kind))
    assert face["id"] == 0 and face["class"] == "face" and 0.6 <= face["confidence"] <= 1
    assert len(face["bbox"]) == 4 and all(0 <= v <= 1 for v in face["bbox"])
    assert iou(pixels(face["bbox"]), ASTRONAUT_FACE) > 0.8
    if version == "v1":
        assert list(face) == ["id", "class", "confidence", "bbox", "fitter", "angles"]
        fitter = face["fitter"]
        assert fitter["fitter_type"] == "facemesh_21" and len(fitter["keypoints"]) == 63
        triples = np.array(fitter["keypoints"]).reshape(21, 3)
        points = dict(zip(FDA_NAMES, triples[:, :2], strict=True))
        assert fitter["right_eye"] == list(points["right_eye"]) and fitter["left_eye"] == list(points["left_eye"])
        assert triples[FDA_NAMES.index("nose"), 2] < triples[FDA_NAMES.index("left_ear_bottom"), 2]  # nose nearer
        pose = face["angles"]
    else:
        assert list(face) == ["id", "class", "confidence", "bbox", "keypoints", "pose"]
        keypoints = face["keypoints"]
        assert list(keypoints) == ["fitter_type", "points", *FDA_NAMES]
        assert [p["proj"] for p in keypoints["points"]] == [keypoints[name]["proj"] for name in FDA_NAMES]
        points = {name: np.array(keypoints[name]["proj"]) for name in FDA_NAMES}
        pose = face["pose"]
    x1, y1, x2, y2 = face["bbox"]
    inner = [name for name in FDA_NAMES if "ear" not in name and "brow" not in name]
    assert all(x1 <= points[n][0] <= x2 and y1 <= points[n][1] <= y2 for n in inner)  # inside the face box
    # the subject's left is the image's right, and each feature's "left" end is towards it
    for left, right in [
        ("left_eye", "right_eye"),
        ("mouth_left", "mouth_right"),
        ("nose_left", "nose_right"),
        ("left_eye_left", "left_eye_right"),
        ("right_eye_left", "right_eye_right"),
        ("left_eye_brow_left", "left_eye_brow_right"),
        ("left_ear_bottom", "right_ear_bottom"),
    ]:
        assert points[left][0] > points[right][0], (left, right)
    assert (
        points["left_eye_brow_up"][1]
        < points["left_eye"][1]
        < points["nose"][1]
        < points["mouth"][1]
        < points["chin"][1]
    )
    eye_distance = np.linalg.norm(points["left_eye"] - points["right_eye"]) * 512
    assert 35 < eye_distance < 55  # the astronaut's eyes are about 45 px apart
    assert set(pose) == {"yaw", "pitch", "roll"} and all(abs(v) < 15 for v in pose.values())  # a frontal portrait


def fitted_pose(api, image):
    return only(run(api, "face-detector-face-fitter", "v2", data=png(image)))["pose"]


def test_mesh_pose_is_consistent_under_mirroring_and_rotation(api):
    """No ground-truth pose is at hand: the mesh's pose must at least mirror and follow an in-plane turn."""
    upright = fitted_pose(api, astronaut())
    mirrored = fitted_pose(api, cv2.flip(astronaut(), 1))
    assert abs(upright["yaw"] + mirrored["yaw"]) < 3 and abs(upright["roll"] + mirrored["roll"]) < 3
    assert abs(upright["pitch"] - mirrored["pitch"]) < 3
    for degrees in (-30, 20):  # cv2 turns counter-clockwise for positive angles: roll goes down
        turned = fitted_pose(api, degraded(astronaut(), "turned", degrees / 35))
        assert abs(turned["roll"] - upright["roll"] + degrees) < 4, (degrees, upright, turned)
        assert abs(turned["yaw"] - upright["yaw"]) < 8 and abs(turned["pitch"] - upright["pitch"]) < 6


def test_unversioned_paths_are_v1(api):
    status, answer = post(api, "/face-detector-face-fitter/process/sample", sample("v1"))
    assert status == 200 and "fitter" in only(answer)
    status, answer = post_image(api, "/face-detector-face-fitter/process/image")
    assert status == 200 and "$image" in answer and "angles" in only(answer)


def test_head_pose_follows_roll_and_turn():
    frontal = normalize.TEMPLATE
    assert all(abs(v) < 1 for v in headpose.estimate(frontal))
    centre = frontal.mean(0)
    angle = np.radians(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    yaw, pitch, roll = headpose.estimate((frontal - centre) @ rotation.T + centre)
    assert abs(roll - 20) < 0.5 and abs(yaw) < 1 and abs(pitch) < 1  # the template's eyes are 0.3 deg off level
    turned = frontal.copy()
    turned[2, 0] += 15  # nose to the image's right
    assert headpose.estimate(turned)[0] > 20
    raised = frontal.copy()
    raised[2, 1] -= 10  # nose up
    assert headpose.estimate(raised)[1] > 15


def test_detector_finds_every_face_in_order(api):
    canvas = np.full((512, 1024, 3), 120, np.uint8)
    canvas[:, :512] = astronaut()
    canvas[:, 512:] = cv2.flip(astronaut(), 1)
    objects = run(api, "face-detector-face-fitter", "v2", data=png(canvas))["objects"]
    assert [o["id"] for o in objects] == [0, 1]
    assert objects[0]["confidence"] >= objects[1]["confidence"]
    assert sorted(round((o["bbox"][0] + o["bbox"][2]) / 2) for o in objects) == [0, 1]  # one per half


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("version", VERSIONS)
def test_template_extractor(api, version, kind):
    face = only(run(api, "face-detector-template-extractor", version, kind))
    if version == "v1":
        assert list(face) == ["id", "class", "confidence", "bbox", "$template"]
    else:
        assert list(face) == ["id", "class", "confidence", "bbox", "template"]
        assert {k: v for k, v in face["template"].items() if k != "blob"} == {
            "format": "NDARRAY",
            "dtype": "float32",
            "shape": [128],
        }
    vector = template(face, version)
    assert vector.shape == (128,) and abs(np.linalg.norm(vector) - 1) < 1e-5
    # the same vector as the Extraction API's facen for the same face
    reference = facen(api.extract(ASTRONAUT_JPEG, need_facen=True)["faces"][0])
    assert float(vector @ reference) > 0.9999


@needs_liveness
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("version", VERSIONS)
def test_liveness_estimator(api, version, kind):
    face = only(run(api, "face-detector-liveness-estimator", version, kind))
    assert list(face) == ["id", "class", "confidence", "bbox", "liveness"]
    assert list(face["liveness"]) == ["confidence", "value"]
    assert 0 <= face["liveness"]["confidence"] <= 1
    assert face["liveness"]["value"] == ("REAL" if face["liveness"]["confidence"] >= 0.5 else "FAKE")


# ---------------------------------------------------------------- the documented pipeline


@needs_liveness
@pytest.mark.parametrize("version", VERSIONS)
def test_the_documented_four_step_pipeline(api, version):
    """face-detector-liveness-estimator -> age-estimator -> gender-estimator -> emotion-estimator,
    each response posted as the next request (3DiVi's service-pipeline example)."""
    body = sample(version)
    steps = ["face-detector-liveness-estimator", "age-estimator", "gender-estimator", "emotion-estimator"]
    keys = ["id", "class", "confidence", "bbox", "liveness"]
    for service, added in zip(steps, [None, "age", "gender", "emotions"], strict=False):
        status, body = post(api, f"/{service}/{version}/process/sample", body)
        assert status == 200, body
        if added:
            keys.append(added)
        assert list(only(body)) == keys  # earlier attributes kept, in place; the new one appended
    assert list(body) == ["$image" if version == "v1" else "_image", "objects"]
    face = only(body)
    assert iou(pixels(face["bbox"]), ASTRONAUT_FACE) > 0.8
    assert face["liveness"]["value"] == "REAL"  # a real (if digitised) photograph, as MiniFASNet sees it
    assert isinstance(face["age"], int) and 20 < face["age"] < 50
    assert face["gender"] == "FEMALE"
    assert [list(e) for e in face["emotions"]] == [["confidence", "emotion"]] * 7
    assert {e["emotion"] for e in face["emotions"]} == EMOTIONS
    confidences = [e["confidence"] for e in face["emotions"]]
    assert confidences == sorted(confidences, reverse=True) and abs(sum(confidences) - 1) < 1e-3
    assert face["emotions"][0]["emotion"] == "HAPPY"


# ---------------------------------------------------------------- estimators on any client's objects


@pytest.mark.parametrize("version", VERSIONS)
def test_estimators_take_any_clients_bbox_and_keep_every_field(api, version):
    box = list(ASTRONAUT_FACE / 512)
    objects = [
        {"bbox": box, "track": "abc"},  # bbox only, as another client would send it
        {"class": "body", "bbox": [0.1, 0.1, 0.9, 0.95], "id": 7},
    ]  # not a face: left alone
    for service, key in (("age-estimator", "age"), ("gender-estimator", "gender"), ("emotion-estimator", "emotions")):
        answer = run(api, service, version, objects=objects)
        first, second = answer["objects"]
        assert list(first) == list(objects[0]) + [key] and first["track"] == "abc"
        assert second == objects[1]
        objects = answer["objects"]
    first = objects[0]
    assert first["gender"] == "FEMALE" and first["emotions"][0]["emotion"] == "HAPPY"
    # the same age as the Extraction API's for this face (same landmarks, same normalized crop)
    reference = api.extract(ASTRONAUT_JPEG, need_age=True)["faces"][0]["age"]
    assert abs(first["age"] - reference) <= 1


def test_estimators_do_not_detect(api):
    canvas = np.full((512, 1024, 3), 120, np.uint8)
    canvas[:, :512] = astronaut()
    canvas[:, 512:] = astronaut()
    data = png(canvas)
    assert run(api, "age-estimator", "v2", data=data, objects=[])["objects"] == []
    assert "objects" in run(api, "gender-estimator", "v2", data=data)  # no objects: nothing to do
    right_face = list((ASTRONAUT_FACE + [512, 0, 512, 0]) / [1024, 512, 1024, 512])
    only_one = run(api, "age-estimator", "v2", data=data, objects=[{"bbox": right_face}])
    assert list(only(only_one)) == ["bbox", "age"]


# ---------------------------------------------------------------- verify-matcher


def lfw_pairs(count):
    with open(os.path.join(LFW, "pairs_fold1-2.csv")) as f:
        rows = list(csv.DictReader(f))
    same = [r for r in rows if r["same"] == "1"][:count]
    different = [r for r in rows if r["same"] == "0"][:count]
    return [(r["image1"], r["image2"], r["same"] == "1") for r in same + different]


def templated(api, version, data):
    objects = run(api, "face-detector-template-extractor", version, data=data)["objects"]
    centre = lambda o: abs((o["bbox"][0] + o["bbox"][2]) / 2 - 0.5) + abs((o["bbox"][1] + o["bbox"][3]) / 2 - 0.5)  # noqa: E731
    return min(objects, key=centre)


@pytest.mark.parametrize("version", VERSIONS)
def test_verify_matcher_same_face(api, version):
    first = templated(api, version, ASTRONAUT_JPEG)
    second = templated(api, version, jpeg(cv2.resize(cv2.flip(astronaut(), 1), (400, 400)), quality=80))
    body = sample(version, objects=[first, second])
    status, answer = post(api, f"/verify-matcher/{version}/process/sample", body)
    assert status == 200, answer
    assert answer["objects"] == [first, second] and answer[list(body)[0]] == body[list(body)[0]]
    result = answer["verification"]
    assert list(result) == ["score", "distance", "threshold", "value"]
    assert result["value"] == "SAME" and result["score"] > 0.8
    assert abs(result["distance"] - np.sqrt(2 - 2 * result["score"])) < 1e-5
    # the image is optional
    status, answer = post(api, f"/verify-matcher/{version}/process/sample", {"objects": [first, second]})
    assert status == 200 and answer["verification"] == result


@pytest.mark.skipif(not os.path.isdir(LFW), reason="../shared/eval-data/verification/lfw is not beside the repository")
def test_verify_matcher_separates_lfw_pairs(api):
    for first, second, same in lfw_pairs(4):
        objects = [templated(api, "v2", open(os.path.join(LFW, path), "rb").read()) for path in (first, second)]
        status, answer = post(api, "/verify-matcher/v2/process/sample", {"objects": objects})
        assert status == 200, answer
        assert answer["verification"]["value"] == ("SAME" if same else "DIFFERENT"), (
            first,
            second,
            answer["verification"],
        )


# ---------------------------------------------------------------- invalid input

V1 = "/age-estimator/v1/process/sample"
V2 = "/age-estimator/v2/process/sample"
GOOD_BOX = [{"bbox": list(ASTRONAUT_FACE / 512)}]
NOT_IMAGE = base64.b64encode(b"not an image at all").decode()


@pytest.mark.parametrize(
    "path, body, loc, kind",
    [
        (V1, b"{not json", ["body"], "value_error.jsondecode"),
        (V1, [1, 2], ["body"], "type_error.dict"),
        (V1, {"objects": GOOD_BOX}, ["body", "$image"], "value_error.missing"),
        (V2, {"objects": GOOD_BOX}, ["body", "_image"], "value_error.missing"),
        (V1, {"$image": 5, "objects": GOOD_BOX}, ["body", "$image"], "type_error.str"),
        (V1, {"$image": "***", "objects": GOOD_BOX}, ["body", "$image"], "value_error.base64"),
        (V1, {"$image": NOT_IMAGE, "objects": GOOD_BOX}, ["body", "$image"], "value_error.image"),
        (V2, {"_image": "abc", "objects": GOOD_BOX}, ["body", "_image"], "type_error.dict"),
        (V2, {"_image": {"format": "IMAGE"}, "objects": GOOD_BOX}, ["body", "_image", "blob"], "value_error.missing"),
        (V2, {"_image": {"blob": NOT_IMAGE, "format": "NDARRAY"}}, ["body", "_image", "format"], "value_error.const"),
        (V2, {"_image": {"blob": NOT_IMAGE}, "objects": GOOD_BOX}, ["body", "_image", "blob"], "value_error.image"),
        # mixing versions
        (
            V1,
            {"_image": {"blob": "", "format": "IMAGE"}, "objects": GOOD_BOX},
            ["body", "_image"],
            "value_error.version",
        ),
        (V2, {"$image": "", "objects": GOOD_BOX}, ["body", "$image"], "value_error.version"),
        (V2, "v2-with-v1-template", ["body", "objects", 0, "$template"], "value_error.version"),
        # objects
        (V1, "objects-not-list", ["body", "objects"], "type_error.list"),
        (V1, "object-not-dict", ["body", "objects", 0], "type_error.dict"),
        (V1, "no-bbox", ["body", "objects", 0, "bbox"], "value_error.missing"),
        (V1, "bbox-3", ["body", "objects", 0, "bbox"], "type_error.list"),
        (V1, "bbox-pixels", ["body", "objects", 0, "bbox"], "value_error.number.not_in_range"),
        (V1, "bbox-empty", ["body", "objects", 0, "bbox"], "value_error"),
    ],
)
def test_invalid_sample_is_422_with_detail(api, path, body, loc, kind):
    image = base64.b64encode(ASTRONAUT_JPEG).decode()
    special = {
        "objects-not-list": {"objects": {"bbox": [0, 0, 1, 1]}},
        "object-not-dict": {"objects": [[0, 0, 1, 1]]},
        "no-bbox": {"objects": [{"id": 0, "class": "face"}]},
        "bbox-3": {"objects": [{"bbox": [0.1, 0.1, 0.5]}]},
        "bbox-pixels": {"objects": [{"bbox": [182, 60, 273, 174]}]},
        "bbox-empty": {"objects": [{"bbox": [0.5, 0.5, 0.5, 0.9]}]},
        "v2-with-v1-template": {"objects": [{"bbox": [0.3, 0.1, 0.5, 0.3], "$template": "AAAA"}]},
    }
    if isinstance(body, str):
        body = dict(special[body], **({"$image": image} if path == V1 else {"_image": {"blob": image}}))
    status, answer = post(api, path, body if not isinstance(body, bytes) else body, raw=isinstance(body, bytes))
    assert status == 422, answer
    (error,) = answer["detail"]
    assert error["loc"] == loc and error["type"] == kind and error["msg"]


@pytest.mark.parametrize("version", VERSIONS)
def test_verify_matcher_invalid(api, version):
    path = f"/verify-matcher/{version}/process/sample"
    face = templated(api, version, ASTRONAUT_JPEG)
    status, answer = post(api, path, {"objects": [face]})
    assert (
        status == 422
        and answer["detail"][0]["loc"] == ["body", "objects"]
        and "exactly 2" in answer["detail"][0]["msg"]
    )
    status, answer = post(api, path, {"objects": [face, {"bbox": face["bbox"]}]})
    assert status == 422 and answer["detail"][0]["loc"][:3] == ["body", "objects", 1]
    other = templated(api, "v2" if version == "v1" else "v1", ASTRONAUT_JPEG)  # the other version's template
    status, answer = post(api, path, {"objects": [face, other]})
    assert status == 422 and answer["detail"][0]["type"] in ("value_error.version", "value_error.missing")
    short = dict(face)
    if version == "v1":
        short["$template"] = base64.b64encode(b"\0" * 64).decode()
    else:
        short["template"] = dict(face["template"], blob=base64.b64encode(b"\0" * 64).decode())
    status, answer = post(api, path, {"objects": [face, short]})
    assert status == 422 and "512 bytes" in answer["detail"][0]["msg"]


def test_invalid_routes_and_image_requests(api):
    status, answer = post_image(api, "/face-detector-face-fitter/v2/process/image", field="photo")
    assert status == 422 and answer["detail"][0]["loc"] == ["body", "image"]
    status, answer = post(api, "/face-detector-face-fitter/v2/process/image", sample("v2"))  # JSON to process/image
    assert status == 422 and answer["detail"][0]["loc"] == ["body", "image"]
    status, answer = post_image(api, "/face-detector-face-fitter/v2/process/image", data=b"GIF89a broken")
    assert status == 422 and answer["detail"][0]["loc"] == ["body", "_image", "blob"]
    for service in ("age-estimator", "gender-estimator", "emotion-estimator", "verify-matcher"):
        status, answer = post_image(api, f"/{service}/v2/process/image")
        assert status == 404 and "process/sample" in answer["detail"]
    status, answer = post(api, "/no-such-service/v2/process/sample", sample("v2"))
    assert status == 404 and "no service" in answer["detail"]
    status, answer = post(api, "/" + "x" * 4000 + "/v2/process/sample", sample("v2"))  # not echoed whole
    assert status == 404 and "no service" in answer["detail"] and len(answer["detail"]) < 600
    status, _, raw = api.request("GET", "/age-estimator/v2/process/sample")
    assert status == 405 and json.loads(raw) == {"detail": "Method Not Allowed"}
    status, _, raw = api.request("POST", "/age-estimator/v3/process/sample", b"{}")
    assert status == 404


# ---------------------------------------------------------------- body-detector


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("version", VERSIONS)
def test_body_detector(api, version, kind):
    objects = run(api, "body-detector", version, kind)["objects"]
    assert objects and [o["id"] for o in objects] == list(range(len(objects)))
    best = objects[0]
    assert list(best) == ["id", "class", "confidence", "bbox"] and best["class"] == "body"
    assert 0.35 <= best["confidence"] <= 1 and all(0 <= v <= 1 for v in best["bbox"])
    confidences = [o["confidence"] for o in objects]
    assert confidences == sorted(confidences, reverse=True)
    x1, y1, x2, y2 = pixels(best["bbox"])
    fx1, fy1, fx2, fy2 = ASTRONAUT_FACE
    assert x1 <= fx1 and y1 <= fy1 and x2 >= fx2 and y2 >= fy2  # her body's box holds her face
    assert (y2 - y1) > 2.5 * (fy2 - fy1)


def test_body_detector_finds_each_person_and_no_one_in_an_empty_frame(api):
    canvas = np.full((512, 1024, 3), 120, np.uint8)
    canvas[:, :512] = astronaut()
    canvas[:, 512:] = cv2.flip(astronaut(), 1)
    objects = run(api, "body-detector", "v2", data=png(canvas))["objects"]
    centres = sorted((o["bbox"][0] + o["bbox"][2]) / 2 for o in objects if o["confidence"] >= 0.5)
    assert len(centres) == 2 and centres[0] < 0.5 < centres[1], objects
    assert run(api, "body-detector", "v2", data=png(np.full((480, 640, 3), 128, np.uint8)))["objects"] == []
    # a body object goes through the face estimators untouched
    body = objects[0]
    assert run(api, "age-estimator", "v2", data=png(canvas), objects=[body])["objects"] == [body]


@pytest.mark.parametrize("version", VERSIONS)
def test_mask_estimator_says_it_is_not_available(api, version):
    status, answer = post(api, f"/mask-estimator/{version}/process/sample", sample(version, objects=GOOD_BOX))
    assert status == 501, answer
    (error,) = answer["detail"]
    assert error["loc"] == ["path", "service"] and "not available" in error["msg"] and "notMasked" in error["msg"]
    status, answer = post_image(api, f"/mask-estimator/{version}/process/image")
    assert status == 404 and "process/sample" in answer["detail"]


# ---------------------------------------------------------------- as 3DiVi's own client reads us

# 3DiVi's open-source Image API client (3DiVi/open-source-image-api, projects/shared/src/domains/
# errors-keys.const.ts) turns `detail[0].msg` into its error screen by an exact-match lookup.
CLIENT_ERROR_KEYS = {
    "This image format is not supported": "UnsupportedFormat",
    "Image not in base64 format": None,  # the client's own check, same wording; not in its table
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("version", VERSIONS)
def test_an_unreadable_image_has_3divis_exact_message_and_the_reason_in_ctx(api, version, kind):
    path = f"/face-detector-face-fitter/{version}/process/{kind}"
    data = b"GIF89a, then nothing"
    status, answer = post(api, path, sample(version, data)) if kind == "sample" else post_image(api, path, data)
    assert status == 422, answer
    (error,) = answer["detail"]
    assert error["msg"] == "This image format is not supported"
    assert CLIENT_ERROR_KEYS[error["msg"]] == "UnsupportedFormat"
    assert error["type"] == "value_error.image" and error["ctx"]["reason"].startswith("Failed to decode")
    status, answer = post(api, V1, {"$image": "***", "objects": GOOD_BOX})
    assert status == 422 and answer["detail"][0]["msg"] in CLIENT_ERROR_KEYS and "ctx" not in answer["detail"][0]


def test_an_image_over_max_dimension_says_so_with_the_reason_in_ctx(api):
    wide = png(np.zeros((8, 6001, 3), np.uint8))  # max_dimension is 6000
    status, answer = post(api, "/face-detector-face-fitter/v2/process/sample", sample("v2", wide))
    assert status == 422, answer
    (error,) = answer["detail"]
    assert error["msg"] == "Image is too large" and "6001" in error["ctx"]["reason"], error


def test_a_trailing_slash_is_the_same_path(api):
    """FastAPI redirects .../process/sample/ to .../process/sample, so clients written with the slash
    work against 3DiVi; here the path is served as it is."""
    answer = run(api, "face-detector-face-fitter", "v2")
    status, again = post(api, "/face-detector-face-fitter/v2/process/sample/", sample("v2"))
    assert status == 200 and again == answer
    status, again = post_image(api, "/face-detector-face-fitter/process/image/")
    assert status == 200 and list(again) == ["$image", "objects"] and len(again["objects"]) == 1


@pytest.mark.parametrize("path", ["/age-estimator/v3/process/sample", "/image-api/age-estimator/v2/process/sample"])
def test_a_path_no_route_serves_answers_404_with_detail_too(api, path):
    """An Image API client reads `detail` of any error (FastAPI's {"detail": "Not Found"})."""
    status, answer = post(api, path, sample("v2", objects=GOOD_BOX))
    assert status == 404 and answer["detail"] == "Not Found" and answer["code"] == "NOT_FOUND", answer
