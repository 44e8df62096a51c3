"""Liveness (MiniFASNet, the optional pack): the crop rule, the bundle build, both APIs, and a
daemon whose bundle has no pack."""

import base64
import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from findface_extraction_api import config, testing
from findface_extraction_api.models import liveness
from findface_extraction_api.testing import ASTRONAUT_FACE, BUNDLE, ROOT, Daemon, astronaut, jpeg

with open(os.path.join(BUNDLE, "manifest.json")) as _f:
    MANIFEST = json.load(_f)
HAVE_LIVENESS = "liveness_v2" in MANIFEST["models"]
needs_liveness = pytest.mark.skipif(
    not HAVE_LIVENESS,
    reason="the model bundle has no liveness pack: rebuild it with ../shared/models/minifasnet present (make models)",
)
PACK = os.path.join(ROOT, "..", "shared", "models", "minifasnet")
NUAA = os.path.join(ROOT, "..", "shared", "eval-data", "liveness", "nuaa")
MODELS_DATA = os.path.join(ROOT, "models-data")


# ---------------------------------------------------------------- the crop rule (Silent-Face's _get_new_box)


def test_crop_box_scales_about_the_centre():
    assert liveness.crop_box(640, 480, (300, 200, 340, 240), 2.7) == (266, 166, 374, 274)


def test_crop_box_is_shifted_inside_and_capped_to_the_image():
    x1, y1, x2, y2 = liveness.crop_box(640, 480, (10, 10, 110, 110), 2.7)  # near the corner: shifted, same size
    assert (x1, y1) == (0, 0) and (x2, y2) == (270, 270)
    x1, y1, x2, y2 = liveness.crop_box(640, 480, (200, 100, 400, 300), 4.0)  # 800 px would not fit: capped
    assert (y1, y2) == (0, 479) and x2 - x1 == 479
    assert liveness.crop(astronaut(), ASTRONAUT_FACE, 4.0).shape == (80, 80, 3)


# ---------------------------------------------------------------- the bundle


def build(out, *args, env=None):
    return subprocess.run(
        [
            sys.executable,
            os.path.join(MODELS_DATA, "build.py"),
            "--out",
            str(out),
            "--cache",
            os.path.join(ROOT, "build", "cache"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.mark.skipif(not os.path.isdir(PACK), reason="../shared/models/minifasnet is not beside the repository")
def test_bundle_build_with_and_without_the_pack(tmp_path):
    out = tmp_path / "models"
    result = build(out, "--liveness-pack", PACK)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("liveness_v2", "liveness_v1se"):
        entry = manifest["models"][key]
        assert entry["license"] == "Apache-2.0" and (out / entry["license_file"]).is_file()
        assert entry["verification"]["prelu_rewrite_max_abs_logit_diff"] <= 1e-4
        assert "PRelu" in entry["transforms"][0]
    assert "up to date" in build(out, "--liveness-pack", PACK).stdout  # idempotent
    env = dict(os.environ, FFEA_LIVENESS_PACK="")  # the pack switched off: a different bundle
    result = build(out, env=env)
    assert "building (built from different inputs)" in result.stdout, result.stdout + result.stderr
    assert set(json.loads((out / "manifest.json").read_text())["models"]).isdisjoint({"liveness_v2", "liveness_v1se"})
    result = build(tmp_path / "other", "--liveness-pack", str(tmp_path / "nowhere"))
    assert result.returncode == 1 and "liveness pack" in result.stderr and "is not a directory" in result.stderr


def test_threshold_config(tmp_path):
    path = tmp_path / "c.ini"
    path.write_text("[liveness]\nthreshold = 0.8\n")
    assert config.load(str(path)).liveness_threshold == 0.8
    path.write_text("[liveness]\nthreshold = 1.5\n")
    with pytest.raises(config.ConfigError, match="liveness.threshold"):
        config.load(str(path))
    path.write_text("")
    assert config.load(str(path)).liveness_threshold == 0.5


# ---------------------------------------------------------------- both APIs


@needs_liveness
def test_extraction_api_need_liveness(api):
    face = api.extract(jpeg(astronaut()), need_liveness=True, need_age=True)["faces"][0]
    assert list(face) == ["bbox", "detection_score", "age", "liveness"]
    assert list(face["liveness"]) == ["score", "value"]
    assert face["liveness"]["value"] == "REAL" and 0.5 <= face["liveness"]["score"] <= 1
    # the same score as the Image API's for the same face
    blob = base64.b64encode(jpeg(astronaut())).decode()
    status, _, raw = api.request(
        "POST",
        "/face-detector-liveness-estimator/v1/process/sample",
        json.dumps({"$image": blob}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200
    assert abs(json.loads(raw)["objects"][0]["liveness"]["confidence"] - face["liveness"]["score"]) < 1e-5


@needs_liveness
def test_extraction_api_liveness_needs_the_frame(api):
    response = api.extract(jpeg(astronaut()[60:174, 182:273]), detector="prenormalized", need_liveness=True)
    assert response["error"]["code"] == "BAD_PARAM" and response["error"]["param"] == "need_liveness"
    assert "original frame" in response["error"]["desc"]
    response = api.extract(jpeg(astronaut()), need_liveness="yes")
    assert response["error"]["param"] == "need_liveness"


def nuaa_frames():
    with open(os.path.join(NUAA, "labels.csv")) as f:
        rows = list(csv.DictReader(f))
    return [next(r for r in rows if r["label"] == label and r["subject"] == "0004") for label in ("real", "spoof")]


@needs_liveness
@pytest.mark.skipif(not os.path.isdir(NUAA), reason="../shared/eval-data/liveness/nuaa is not beside the repository")
def test_real_face_and_print_attack(api):
    real, spoof = nuaa_frames()
    verdicts = []
    for row in (real, spoof):
        with open(os.path.join(NUAA, row["file"]), "rb") as f:
            response = api.extract(f.read(), need_liveness=True)
        best = max(response["faces"], key=lambda face: face["detection_score"])
        verdicts.append(best["liveness"])
    assert verdicts[0]["value"] == "REAL" and verdicts[0]["score"] > 0.9
    assert verdicts[1]["value"] == "FAKE" and verdicts[1]["score"] < 0.1


# ---------------------------------------------------------------- without the pack


@pytest.fixture(scope="module")
def no_pack(tmp_path_factory):
    """A daemon on a copy of the bundle whose manifest lists no liveness models."""
    root = tmp_path_factory.mktemp("nopack")
    bundle = root / "models"
    bundle.mkdir()
    manifest = dict(MANIFEST, models={k: v for k, v in MANIFEST["models"].items() if not k.startswith("liveness")})
    for entry in manifest["models"].values():
        os.symlink(os.path.join(BUNDLE, entry["file"]), bundle / entry["file"])
    shutil.copytree(os.path.join(BUNDLE, "licenses"), bundle / "licenses")
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    saved, testing.BUNDLE = testing.BUNDLE, str(bundle)
    try:
        daemon = Daemon(root)
    finally:
        testing.BUNDLE = saved
    yield daemon
    daemon.stop()


def test_without_the_pack_everything_else_works(no_pack):
    client = no_pack.client
    log = no_pack.output()
    assert "liveness: not installed" in log and "make models" in log and "'age':" in log  # models are listed
    face = client.extract(jpeg(astronaut()), need_age=True, need_facen=True)["faces"][0]
    assert "age" in face and "facen" in face
    response = client.extract(jpeg(astronaut()), need_liveness=True)
    assert response["error"]["code"] == "BAD_PARAM" and response["error"]["param"] == "need_liveness"
    assert "not installed" in response["error"]["desc"] and "make models" in response["error"]["desc"]
    blob = base64.b64encode(jpeg(astronaut())).decode()
    for version, body in (("v1", {"$image": blob}), ("v2", {"_image": {"blob": blob, "format": "IMAGE"}})):
        status, _, raw = client.request(
            "POST",
            f"/face-detector-liveness-estimator/{version}/process/sample",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        answer = json.loads(raw)
        assert status == 501, answer
        assert answer["detail"][0]["type"] == "model_not_installed" and "MiniFASNet pack" in answer["detail"][0]["msg"]
        status, _, raw = client.request(
            "POST",
            f"/face-detector-face-fitter/{version}/process/sample",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 200 and len(json.loads(raw)["objects"]) == 1
