"""quality_estimator and auto_rotate, through a real daemon on real photos."""

import base64
import json
import subprocess

import cv2
import numpy as np
import pytest
import skimage.data

from findface_extraction_api.testing import (
    ASTRONAUT_FACE,
    astronaut,
    box,
    composed_crowd,
    facen,
    have_curl,
    iou,
    jpeg,
    png,
)

TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@pytest.fixture(scope="module")
def quality_api(daemons):
    return daemons("quality", top={"quality_estimator": "true"}).client


def scores(client, data, **params):
    response = client.extract(data, **params)
    assert "error" not in response, response
    return [face["detection_score"] for face in response["faces"]]


# ------------------------------------------------------------- the quality score


def test_upright_frontal_face_scores_near_zero(quality_api):
    [score] = scores(quality_api, jpeg(astronaut()))
    assert -0.2 < score <= 0


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_turned_face_scores_at_most_minus_five(quality_api, degrees):
    """YuNet still finds the turned astronaut (scores 0.70-0.83); the quality says it is turned."""
    found = scores(quality_api, jpeg(cv2.rotate(astronaut(), TURNS[degrees])))
    assert found and all(score <= -5 for score in found)


def test_blur_lowers_the_score(quality_api):
    [sharp] = scores(quality_api, png(astronaut()))
    [blurred] = scores(quality_api, png(cv2.GaussianBlur(astronaut(), (0, 0), 4)))
    assert blurred < sharp - 1


def test_large_yaw_scores_lower_than_frontal(quality_api):
    """skimage's cameraman (public domain) looks well to the side of the camera."""
    cameraman = cv2.cvtColor(skimage.data.camera(), cv2.COLOR_GRAY2BGR)
    [turned_head] = scores(quality_api, png(cameraman))
    [frontal] = scores(quality_api, png(astronaut()))
    assert turned_head < frontal - 1


def test_score_is_stable(quality_api):
    data = jpeg(astronaut())
    assert scores(quality_api, data) == scores(quality_api, data)


def test_quality_off_keeps_detector_confidence(api):
    [score] = scores(api, jpeg(astronaut()))
    assert 0.5 < score <= 1


# ------------------------------------------------------------- auto_rotate


def upright_crowd():
    canvas, _ = composed_crowd()
    return canvas


@pytest.fixture(scope="module")
def upright_faces(quality_api):
    return quality_api.extract(png(upright_crowd()), need_facen=True)["faces"]


def turn_box_back(b, degrees, shape):
    """Map a box from the upright canvas into the canvas turned `degrees` clockwise."""
    height, width = shape[:2]
    left, top, right, bottom = b
    if degrees == 90:
        return [height - bottom, left, height - top, right]
    if degrees == 180:
        return [width - right, height - bottom, width - left, height - top]
    return [top, width - right, bottom, width - left]


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_auto_rotate_returns_each_face_once_upright(quality_api, upright_faces, degrees):
    canvas = upright_crowd()
    turned = canvas if degrees == 0 else cv2.rotate(canvas, TURNS[degrees])
    faces = quality_api.extract(png(turned), auto_rotate=True, need_facen=True, need_normalized=True)["faces"]
    assert len(faces) == len(upright_faces) == 3
    for face in faces:
        assert face["rotation"] == (360 - degrees) % 360
        assert -1 < face["detection_score"] <= 0
        expected = [max(upright_faces, key=lambda u: float(facen(u) @ facen(face)))]
        want = box(expected[0]) if degrees == 0 else turn_box_back(box(expected[0]), degrees, canvas.shape)
        assert iou(box(face), want) >= 0.9
        assert float(facen(face) @ facen(expected[0])) > 0.95
        crop = cv2.imdecode(np.frombuffer(base64.b64decode(face["normalized"]), np.uint8), cv2.IMREAD_COLOR)
        [upright_score] = scores(quality_api, png(crop))  # the normalized crop itself is upright
        assert upright_score > -1


def test_auto_rotate_finds_upright_and_sideways_faces_together(quality_api):
    head = astronaut()[20:260, 120:340]
    canvas = np.full((500, 800, 3), 100, np.uint8)
    canvas[100:340, 60:280] = head
    canvas[150:370, 420:660] = cv2.rotate(head, cv2.ROTATE_90_CLOCKWISE)
    faces = quality_api.extract(png(canvas), auto_rotate=True)["faces"]
    assert sorted(face["rotation"] for face in faces) == [0, 270]


def test_auto_rotate_needs_nnd(quality_api):
    error = quality_api.extract(png(astronaut()), auto_rotate=True, detector="legacy")["error"]
    assert error["code"] == "BAD_PARAM" and error["param"] == "auto_rotate"


def test_auto_rotate_without_quality_estimator(api):
    """We do not require quality_estimator = true for auto_rotate (FindFace does): detection_score
    then stays the detector's confidence, and orientations are still chosen by quality."""
    [face] = api.extract(png(cv2.rotate(astronaut(), cv2.ROTATE_180)), auto_rotate=True)["faces"]
    assert face["rotation"] == 180 and 0.5 < face["detection_score"] <= 1
    assert iou(box(face), turn_box_back(ASTRONAUT_FACE, 180, (512, 512))) > 0.85


@pytest.mark.skipif(not have_curl(), reason="curl is not installed")
def test_vendor_request_3_with_curl(quality_api, tmp_path):
    """FindFace's auto-rotation example: multipart, nnd, normalized, auto_rotate."""
    sample = tmp_path / "sample.jpg"
    sample.write_bytes(jpeg(cv2.rotate(upright_crowd(), cv2.ROTATE_90_COUNTERCLOCKWISE)))
    request = {
        "requests": [{"image": "multipart:sample", "detector": "nnd", "need_normalized": True, "auto_rotate": True}]
    }
    out = subprocess.run(
        [
            "curl",
            "-s",
            "-X",
            "POST",
            "-F",
            f"sample=@{sample}",
            "-F",
            f"request={json.dumps(request)}",
            quality_api.base + "/",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    faces = json.loads(out.stdout)["responses"][0]["faces"]
    assert len(faces) == 3
    assert all(f["rotation"] == 90 and f["normalized"].startswith("iVBORw0KGgo") for f in faces)
    assert all(-1 < f["detection_score"] <= 0 for f in faces)
