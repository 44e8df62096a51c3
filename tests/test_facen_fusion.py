"""`[facen] model = sface+dlib` end to end: real daemons of both facens on the real bundle.

The fused facen is one unit vector (SFace's and dlib's ResNet vectors, weighted and concatenated)
that a client compares with a dot product; its model, version and length keep it apart from the
default SFace facen, in GET /, in the Extraction API and in verify-matcher.
"""

import base64
import json
import os

import cv2
import dlib
import numpy as np
import pytest

from findface_extraction_api.models import bf16, dlib_facen
from findface_extraction_api.pipeline import SAME_PERSON
from findface_extraction_api.testing import BUNDLE, ROOT, astronaut, facen, jpeg

FUSED = "sface+dlib"
LFW = os.path.join(ROOT, "..", "shared", "eval-data", "verification", "lfw")
ASTRONAUT = jpeg(astronaut())


@pytest.fixture(scope="module")
def fused(daemons):
    return daemons("fused", facen={"model": FUSED}).client


def banner(client):
    status, _, body = client.request("GET")
    assert status == 200
    return json.loads(body)


def unit(vector):
    return vector / np.linalg.norm(vector)


def post_json(client, path, body):
    status, _, answer = client.request("POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return status, json.loads(answer)


def template(client, data=ASTRONAUT):
    status, answer = post_json(
        client,
        "/face-detector-template-extractor/v2/process/sample",
        {"_image": {"blob": base64.b64encode(data).decode(), "format": "IMAGE"}},
    )
    assert status == 200, answer
    return min(
        answer["objects"], key=lambda o: abs(o["bbox"][0] + o["bbox"][2] - 1) + abs(o["bbox"][1] + o["bbox"][3] - 1)
    )


def test_get_root_names_the_facen_its_version_length_and_threshold(api, fused):
    with open(os.path.join(BUNDLE, "manifest.json")) as f:
        facens = json.load(f)["facens"]
    default, mixed = banner(api)["facen"], banner(fused)["facen"]
    assert default == {
        "model": "sface",
        "version": facens["sface"]["version"],
        "dimension": 128,
        "same_person_threshold": SAME_PERSON["sface"],
        "precision": bf16.resolve("auto")[0],  # what [facen] precision = auto gives on this CPU
    }
    assert mixed == {
        "model": FUSED,
        "version": facens[FUSED]["version"],
        "dimension": 256,
        "same_person_threshold": SAME_PERSON[FUSED],
        "precision": bf16.resolve("auto")[0],  # what [facen] precision = auto gives on this CPU
    }
    assert default["version"] != mixed["version"]
    assert "facen_dlib" in banner(fused)["models"]


def test_fused_facen_is_sface_and_dlib_weighted_in_one_unit_vector(api, fused):
    sface = facen(api.extract(ASTRONAUT, need_facen=True)["faces"][0])
    face = fused.extract(ASTRONAUT, need_facen=True, need_normalized=True)["faces"][0]
    vector = facen(face)
    assert sface.shape == (128,) and vector.shape == (256,)
    assert abs(np.linalg.norm(vector) - 1) < 1e-5
    # the first half is the default daemon's SFace vector, unchanged
    assert unit(vector[:128]) @ sface > 0.9999
    # the second half is dlib's own descriptor of dlib's chip of the same normalized face
    normalized = cv2.imdecode(np.frombuffer(base64.b64decode(face["normalized"]), np.uint8), cv2.IMREAD_COLOR)
    network = dlib.face_recognition_model_v1(os.path.join(BUNDLE, "dlib_face_recognition_resnet_model_v1.dat"))
    direct = unit(np.array(network.compute_face_descriptor(dlib_facen.chip(normalized))))
    assert unit(vector[128:]) @ direct > 0.9999
    # weighted as the manifest says: the dot product is the weighted mean of the two cosines
    with open(os.path.join(BUNDLE, "manifest.json")) as f:
        weights = json.load(f)["facens"][FUSED]["weights"]
    share = weights["facen"] / (weights["facen"] + weights["facen_dlib"])
    assert abs(np.linalg.norm(vector[:128]) ** 2 - share) < 1e-5


def test_prenormalized_gives_the_same_fused_facen(fused):
    """The normalized crop fixes both models' chips, so a stored crop re-extracts the same vector
    (facenapi's enrich path)."""
    face = fused.extract(ASTRONAUT, need_facen=True, need_normalized=True)["faces"][0]
    crop = base64.b64decode(face["normalized"])
    again = fused.extract(crop, need_facen=True, detector="prenormalized")["faces"][0]
    assert facen(again) @ facen(face) > 0.999
    # and a normalized crop that is not 256x256 is resized to it first, as for every model
    bigger = jpeg(cv2.resize(cv2.imdecode(np.frombuffer(crop, np.uint8), cv2.IMREAD_COLOR), (384, 384)), quality=95)
    resized = fused.extract(bigger, need_facen=True, detector="prenormalized")["faces"][0]
    assert facen(resized) @ facen(face) > 0.98


def test_verify_matcher_takes_only_its_own_facens_templates(api, fused):
    first = template(fused)
    assert first["template"]["shape"] == [256]
    flipped = jpeg(cv2.resize(cv2.flip(astronaut(), 1), (400, 400)), quality=80)
    status, answer = post_json(
        fused, "/verify-matcher/v2/process/sample", {"objects": [first, template(fused, flipped)]}
    )
    assert status == 200, answer
    assert answer["verification"]["value"] == "SAME"
    assert answer["verification"]["threshold"] == SAME_PERSON[FUSED]
    assert answer["verification"]["score"] > SAME_PERSON[FUSED]
    # a template of the other facen is refused, not compared
    for client, other, size in ((fused, template(api), 256), (api, first, 128)):
        status, answer = post_json(client, "/verify-matcher/v2/process/sample", {"objects": [other, other]})
        assert status == 422, answer
        assert f"{size} little-endian float32" in answer["detail"][0]["msg"], answer


@pytest.mark.skipif(not os.path.isdir(LFW), reason="../shared/eval-data/verification/lfw is not beside the repository")
def test_fused_threshold_separates_lfw_pairs(fused):
    """A smoke check on a few pairs (make eval measures all 1,200): SAME and DIFFERENT at the
    shipped sface+dlib threshold."""
    import csv

    with open(os.path.join(LFW, "pairs_fold1-2.csv")) as f:
        rows = list(csv.DictReader(f))
    pairs = [r for r in rows if r["same"] == "1"][:4] + [r for r in rows if r["same"] == "0"][:4]
    for row in pairs:
        objects = []
        for key in ("image1", "image2"):
            with open(os.path.join(LFW, row[key]), "rb") as f:
                objects.append(template(fused, f.read()))
        status, answer = post_json(fused, "/verify-matcher/v2/process/sample", {"objects": objects})
        assert status == 200, answer
        assert answer["verification"]["value"] == ("SAME" if row["same"] == "1" else "DIFFERENT"), (row, answer)


def test_dlib_chip_is_the_one_dlib_cuts_at_the_same_landmarks():
    """The descriptor chip taken from the normalized face is dlib's own `get_face_chip` at the
    YuNet box and shape-predictor points, from the original photo as from a prenormalized crop
    (where the points follow from the normalized template)."""
    from findface_extraction_api import imaging, normalize
    from findface_extraction_api.models.landmarks import DLIB_5_POINTS, YUNET_IN_DLIB_CHIP
    from findface_extraction_api.models.runtime import Bundle, Runtime
    from findface_extraction_api.pipeline import Models, Options, Pipeline

    network = dlib.face_recognition_model_v1(os.path.join(BUNDLE, "dlib_face_recognition_resnet_model_v1.dat"))
    pipeline = Pipeline(Models(Runtime(Bundle(BUNDLE), 1)))
    image = astronaut()
    face = pipeline.extract(image, Options(crop=True))[0]

    def dlib_chip(bgr, points):
        shape = dlib.full_object_detection(
            dlib.rectangle(0, 0, bgr.shape[1] - 1, bgr.shape[0] - 1),
            [dlib.point(round(x), round(y)) for x, y in points],
        )
        return dlib.get_face_chip(
            np.ascontiguousarray(bgr[:, :, ::-1]), shape, dlib_facen.CHIP_SIZE, dlib_facen.CHIP_PADDING
        )

    ours = dlib_facen.chip(face.normalized)
    in_template = imaging.apply_affine(imaging.fit_similarity(YUNET_IN_DLIB_CHIP, normalize.TEMPLATE), DLIB_5_POINTS)
    for theirs in (dlib_chip(image, face.dlib_points), dlib_chip(face.normalized, in_template)):
        assert theirs.shape == ours.shape
        # measured 5.0 (original photo: dlib's points are whole pixels) and 3.7 grey levels; the
        # same chip shifted by 8 px differs by 33
        assert np.mean(np.abs(theirs.astype(float) - ours)) < 10, "a different chip, not an interpolation difference"
        a, b = (unit(np.array(network.compute_face_descriptor(chip))) for chip in (ours, theirs))
        assert a @ b > 0.99


def test_a_bundle_without_the_facen_fails_at_start_and_says_so(tmp_path):
    """A bundle built before the facens table (or without this facen) stops the daemon with one
    line naming the facen, not a traceback or a silently different vector."""
    import shutil

    from findface_extraction_api.testing import cli, free_port, write_config

    copy = tmp_path / "models"
    shutil.copytree(BUNDLE, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["facens"][FUSED]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    path = tmp_path / "c.ini"
    write_config(str(path), free_port(), facen={"model": FUSED})
    result = cli("--config", str(path), "--models-root", str(copy))
    assert result.returncode == 1, result.stderr
    assert f"no facen '{FUSED}' in manifest.json" in result.stderr and "make models" in result.stderr
    assert "Traceback" not in result.stderr
