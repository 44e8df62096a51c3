"""The [emotions] and [age] model settings: what each daemon answers is exactly the documented
combination of the bundle's networks, run here in-process on the same normalized face."""

import base64
import json

import cv2
import numpy as np
import pytest

from findface_extraction_api.models import faceres
from findface_extraction_api.models.age_gender import AgeEstimator
from findface_extraction_api.models.emotions import _Network
from findface_extraction_api.models.runtime import Bundle, Runtime
from findface_extraction_api.testing import BUNDLE, astronaut, jpeg

OPTED_IN = {"age": {"model": "cydral+faceres"}, "emotions": {"model": "ensemble"}}


@pytest.mark.unit
def test_hse_top2_decode():
    """HSE's facial_analysis.py: 1 + the renormalised-probability mean of the two most probable ages."""
    p = np.full((2, 100), 0.2 / 98, np.float32)
    p[0, 30], p[0, 40] = 0.5, 0.3
    p[1, 7], p[1, 99] = 0.45, 0.35
    got = faceres.top2_age(p, np.arange(100, dtype=np.float32), 1.0)
    assert np.allclose(got, [1 + (30 * 0.5 + 40 * 0.3) / 0.8, 1 + (7 * 0.45 + 99 * 0.35) / 0.8])


@pytest.fixture(scope="module")
def normalized(api):
    """The astronaut's normalized face as the daemon returns it (PNG), and decoded."""
    face = api.extract(jpeg(astronaut()), need_normalized=True)["faces"][0]
    png = base64.b64decode(face["normalized"])
    return png, cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def ask(client, png):
    face = client.extract(png, detector="prenormalized", need_age=True, need_emotions=True)["faces"][0]
    return face["age"], {e["emotion"]: e["score"] for e in face["emotions"]}


def precision_of(client):
    """The precision the daemon's attribute networks run in (GET /), for references computed alike."""
    return json.loads(client.request("GET", "/")[2])["attributes"]["precision"]


def emotions_of(runtime, keys, face, precision):
    from findface_extraction_api.models.emotions import crop

    grey = cv2.cvtColor(crop(face), cv2.COLOR_BGR2GRAY).astype(np.float32)[None, None]
    p = np.mean([_Network(runtime, key, precision).probabilities(grey)[0] for key in keys], axis=0)
    return dict(zip(_Network(runtime, keys[0], precision).labels, p, strict=True))


def test_default_daemon_runs_one_network_of_each(api, normalized):
    png, face = normalized
    runtime = Runtime(Bundle(BUNDLE), 1)
    age, emotions = ask(api, png)
    precision = precision_of(api)
    want = emotions_of(runtime, ("emotions",), face, precision)
    assert max(abs(emotions[k] - want[k]) for k in want) < 1e-5, (emotions, want)  # mini-Xception alone
    assert abs(age - float(AgeEstimator(runtime, precision).estimate([face])[0])) < 0.01  # Cydral alone


def test_opted_in_daemon_averages_two_networks_of_each(daemons, normalized):
    png, face = normalized
    runtime = Runtime(Bundle(BUNDLE), 1)
    client = daemons("model-options", **OPTED_IN).client
    age, emotions = ask(client, png)
    precision = precision_of(client)
    cydral = float(AgeEstimator(runtime, precision).estimate([face])[0])
    hse = float(faceres.FaceresAge(runtime, precision).estimate([face])[0])
    assert abs(age - (cydral + hse) / 2) < 0.01, (age, cydral, hse)
    assert abs(hse - cydral) > 0.5  # a second opinion, not a copy
    want = emotions_of(runtime, ("emotions", "emotions_xception"), face, precision)
    alone = emotions_of(runtime, ("emotions",), face, precision)
    assert max(abs(emotions[k] - want[k]) for k in want) < 1e-5, (emotions, want)
    assert max(abs(want[k] - alone[k]) for k in want) > 1e-4  # the second network does change the answer
