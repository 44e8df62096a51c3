"""facenapi_plugin against the real daemon: extract / enrich as facenapi's ctx.extractor, errors,
timeouts and the connection bound, loading the way facenapi loads plugins, and the CLI."""

import ast
import asyncio
import base64
import glob
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from facenapi_plugin import EMOTIONS, ExtractionApiExtractor, ExtractionError, Rectangle
from findface_extraction_api.testing import (
    ASTRONAUT_FACE,
    ROOT,
    astronaut,
    box,
    composed_crowd,
    facen,
    free_port,
    iou,
    jpeg,
    png,
)


def plugin_crowd():
    """Three astronaut heads of different sizes on one grey canvas, with their expected boxes."""
    return composed_crowd(((0.6, (60, 450)), (1.0, (380, 250)), (1.6, (760, 120))), (800, 1200), 120)


def run(coroutine_function, **keys):
    """Run `coroutine_function(extractor)` on a fresh loop with an extractor made from `keys`."""

    async def main():
        extractor = ExtractionApiExtractor(**keys)
        try:
            return await coroutine_function(extractor)
        finally:
            extractor.close()

    return asyncio.run(main())


def vector(face):
    return facen(face)  # the harness's decoder reads the same base64 `facen` key


def rect(face):
    return list(face["bbox"])


def spy_posts(extractor):
    """Count the extractor's POSTs to the daemon; every call still goes through."""
    calls = []
    client = extractor._client()
    fetch = client.fetch

    def counting(request, **kwargs):
        calls.append(request)
        return fetch(request, **kwargs)

    client.fetch = counting
    return calls


# ---------------------------------------------------------------- extract


def test_extract_maps_every_face_of_a_crowd(api):
    canvas, expected = plugin_crowd()
    photo = jpeg(canvas)
    faces = run(lambda x: x.extract(photo), extraction_api_url=api.base, gae=True)
    raw = api.extract(photo, need_facen=True, need_gender=True, need_age=True, need_emotions=True)["faces"]
    assert len(faces) == len(expected) == len(raw) == 3
    for want in expected:
        face = max(faces, key=lambda f: iou(rect(f), want))
        assert iou(rect(face), want) > 0.6
        assert isinstance(face["bbox"], Rectangle) and all(isinstance(v, float) for v in face["bbox"])
        assert face.bbox is face["bbox"]
        same = max(raw, key=lambda r: iou(box(r), rect(face)))
        assert rect(face) == [float(v) for v in box(same)]
        assert face["score"] == pytest.approx(same["detection_score"])
        assert face["gender"] == same["gender"]["gender"].lower() and face["gender"] in ("male", "female")
        assert face["age"] == pytest.approx(same["age"])
        assert face["emotions"]._fields == EMOTIONS
        assert face["emotions"].top(2) == tuple(e["emotion"] for e in same["emotions"][:2])
        assert float(vector(face) @ facen(same)) > 0.999
        assert face["photo_hash"] == hashlib.md5(photo).hexdigest()
        normalized = Image.open(io.BytesIO(face["normalized"]))
        assert (normalized.format, normalized.size) == ("PNG", (256, 256))


def test_gae_off_leaves_attributes_out(api):
    faces = run(lambda x: x.extract(jpeg(astronaut())), extraction_api_url=api.base)
    assert len(faces) == 1
    assert {"bbox", "score", "photo_hash", "facen", "normalized"} <= set(faces[0])
    assert not {"gender", "age", "emotions"} & set(faces[0])


def test_no_photos_no_request():
    assert run(lambda x: x.extract_many([]), extraction_api_url=f"http://127.0.0.1:{free_port()}") == []


def test_several_photos_go_in_one_envelope(api):
    canvas, _ = plugin_crowd()
    photos = [jpeg(astronaut()), png(canvas), png(np.full((200, 300, 3), 90, np.uint8))]

    async def extract(extractor):
        posts = spy_posts(extractor)
        return await extractor.extract_many(photos), posts

    results, posts = run(extract, extraction_api_url=api.base)
    assert len(posts) == 1
    assert [len(faces) for faces in results] == [1, 3, 0]
    assert iou(rect(results[0][0]), ASTRONAUT_FACE) > 0.8
    assert [faces[0]["photo_hash"] for faces in results[:2]] == [hashlib.md5(p).hexdigest() for p in photos[:2]]


@pytest.mark.parametrize("form", ["list", "x1y1", "rectangle"])
def test_bbox_is_sent_as_roi_and_selects_that_face(api, form):
    canvas, expected = plugin_crowd()
    left, top, right, bottom = expected[1].tolist()
    bbox = {
        "list": [left, top, right, bottom],
        "x1y1": {"x1": left, "y1": top, "x2": right, "y2": bottom},
        "rectangle": Rectangle(left, top, right, bottom),
    }[form]

    async def extract(extractor):
        posts = spy_posts(extractor)
        return await extractor.extract(png(canvas), bbox=bbox), posts

    faces, posts = run(extract, extraction_api_url=api.base)
    assert len(faces) == 1 and iou(rect(faces[0]), expected[1]) > 0.8
    sent = posts[0].body.split(b"\r\n\r\n", 1)[1].split(b"\r\n--", 1)[0]
    roi = json.loads(sent)["requests"][0]["roi"]
    assert roi["left"] < left and roi["top"] < top and roi["right"] > right and roi["bottom"] > bottom
    assert roi["right"] - roi["left"] < canvas.shape[1] / 2  # a region around the face, not the photo


def test_legacy_detector_from_options(api):
    """extraction_api_detector reaches the service: the answer is legacy's, not nnd's."""
    photo = jpeg(astronaut())
    faces = run(lambda x: x.extract(photo), extraction_api_url=api.base, extraction_api_detector="legacy")
    legacy = api.extract(photo, detector="legacy")["faces"]
    nnd = api.extract(photo, detector="nnd")["faces"]
    assert [rect(f) for f in faces] == [[float(v) for v in box(r)] for r in legacy]
    assert [f["score"] for f in faces] == pytest.approx([r["detection_score"] for r in legacy])
    assert [box(r) for r in legacy] != [box(r) for r in nnd]


def test_url_photo_is_fetched_by_the_service(api, image_server):
    base, root = image_server
    (root / "plugin-astronaut.jpg").write_bytes(jpeg(astronaut()))
    url = base + "/plugin-astronaut.jpg"
    faces = run(lambda x: x.extract(url), extraction_api_url=api.base)
    assert len(faces) == 1 and iou(rect(faces[0]), ASTRONAUT_FACE) > 0.8
    assert faces[0]["photo_hash"] == hashlib.md5(url.encode()).hexdigest()


# ---------------------------------------------------------------- enrich


def test_enrich_round_trip_from_normalized(api):
    """Faces keep bbox and photo_hash; facen (and gae) come back from the normalized PNGs alone."""
    canvas, _ = plugin_crowd()

    async def round_trip(extractor):
        faces = await extractor.extract(jpeg(canvas), gae=True)
        stored = [dict(normalized=f["normalized"], bbox=f["bbox"], photo_hash=f["photo_hash"]) for f in faces]
        posts = spy_posts(extractor)
        enriched = await extractor.enrich(stored, facen=True, gae=True)
        return faces, stored, enriched, posts

    faces, stored, enriched, posts = run(round_trip, extraction_api_url=api.base)
    assert enriched is stored and len(posts) == 1 and len(faces) == 3
    vectors = [vector(f) for f in faces]
    for i, face in enumerate(enriched):
        again = vector(face)
        assert float(again @ vectors[i]) >= 0.99
        assert float(again @ vectors[i]) > max(float(again @ v) for j, v in enumerate(vectors) if j != i)
        assert face["bbox"] == faces[i]["bbox"] and face["photo_hash"] == faces[i]["photo_hash"]
        assert face["gender"] == faces[i]["gender"] and face["age"] == pytest.approx(faces[i]["age"], abs=0.5)


def test_enrich_from_a_stored_normalized_url(api, image_server):
    """facenapi keeps normalized faces as URLs (findface-upload): the service fetches those."""
    base, root = image_server

    async def round_trip(extractor):
        (face,) = await extractor.extract(jpeg(astronaut()))
        (root / "plugin_norm.png").write_bytes(face["normalized"])
        stored = {"normalized": base + "/plugin_norm.png", "bbox": face["bbox"]}
        await extractor.enrich([stored])
        return face, stored

    face, stored = run(round_trip, extraction_api_url=api.base)
    assert float(vector(stored) @ vector(face)) >= 0.99


def test_enrich_needs_normalized_bytes(api):
    with pytest.raises(ExtractionError) as error:
        run(lambda x: x.enrich([{"bbox": Rectangle(0, 0, 10, 10)}]), extraction_api_url=api.base)
    assert (error.value.code, error.value.param, error.value.index) == ("BAD_PARAM", "normalized", 0)


# ---------------------------------------------------------------- errors


def test_undecodable_image_raises_the_service_code(api):
    with pytest.raises(ExtractionError) as error:
        run(lambda x: x.extract_many([jpeg(astronaut()), b"certainly not an image"]), extraction_api_url=api.base)
    assert error.value.code == "IMAGE_DECODING_FAILED" and error.value.index == 1


def test_connection_refused():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ExtractionError) as error:
        run(lambda x: x.extract(jpeg(astronaut())), extraction_api_url=url)
    assert error.value.code == "CONNECTION_FAILED"


@pytest.fixture
def stalled_server():
    """Accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", held
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def test_request_timeout_fires_on_a_stalled_server(stalled_server):
    url, held = stalled_server
    started = time.monotonic()
    with pytest.raises(ExtractionError) as error:
        run(lambda x: x.extract(jpeg(astronaut())), extraction_api_url=url, extraction_api_request_timeout=1)
    elapsed = time.monotonic() - started
    assert error.value.code == "TIMEOUT"
    assert held and 0.9 < elapsed < 5


class SlowHandler(BaseHTTPRequestHandler):
    """Answers every POST after `delay` with no faces, counting requests in progress."""

    delay, lock, active, peak = 0.4, threading.Lock(), 0, 0

    def do_POST(self):
        cls = type(self)
        with cls.lock:
            cls.active += 1
            cls.peak = max(cls.peak, cls.active)
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(cls.delay)
        with cls.lock:
            cls.active -= 1
        body = json.dumps({"responses": [{"faces": []}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("max_clients", [2, 5])
def test_max_clients_bounds_simultaneous_requests(max_clients):
    handler = type("Handler", (SlowHandler,), {"lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    photo = jpeg(astronaut())

    async def burst(extractor):
        return await asyncio.gather(*(extractor.extract(photo) for _ in range(6)))

    try:
        results = run(
            burst,
            extraction_api_url=f"http://127.0.0.1:{server.server_address[1]}",
            extraction_api_max_clients=max_clients,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert results == [[]] * 6
    assert handler.peak == max_clients


# ---------------------------------------------------------------- settings and loading


def test_settings_follow_facenapi_option_names():
    from tornado.options import OptionParser

    options = OptionParser()
    options.define("extraction_api_url", default="http://10.0.0.5:18666")
    options.define("extraction_api_max_clients", default=7)
    settings = ExtractionApiExtractor(options).settings
    assert (settings.url, settings.max_clients, settings.detector) == ("http://10.0.0.5:18666/", 7, "nnd")
    assert (settings.connect_timeout, settings.request_timeout, settings.gae) == (10.0, 10.0, False)
    with pytest.raises(ValueError):
        ExtractionApiExtractor({"extraction_api_detector": "prenormalized"})


# facenapi's own interpreter does not have our package installed; our venv does (setup.cfg
# ships it), so the loader hides it the way an interpreter without it would behave.
NOT_INSTALLED = r"""
import sys
class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name == "facenapi_plugin":
            raise ModuleNotFoundError("No module named 'facenapi_plugin'", name=name)
sys.meta_path.insert(0, _NotInstalled())
"""

FACENAPI_LOADER = (
    NOT_INSTALLED
    + r"""
import asyncio, glob, importlib.util, json, os, sys, types
from tornado.options import OptionParser

# facenapi's options as /etc/findface-facenapi.ini (Python code) sets them.
options = OptionParser()
for name, default in [("extractor", "extraction-api"), ("extraction_api_url", "http://localhost:18666"),
                      ("extraction_api_detector", "nnd"), ("extraction_api_connect_timeout", 10.0),
                      ("extraction_api_request_timeout", 10.0), ("extraction_api_max_clients", 100),
                      ("gae", False), ("plugins_dirs", ""), ("plugins_enabled", "")]:
    options.define(name, default=default)
options.parse_config_file(sys.argv[1])

ctx = types.SimpleNamespace(extractor="facenapi's built-in extractor")
for directory in options.plugins_dirs.split(","):
    for path in sorted(glob.glob(os.path.join(directory.strip(), "*.py"))):
        spec = importlib.util.spec_from_file_location("plugin_" + os.path.basename(path)[:-3], path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.activate(None, ctx, options)

async def main():
    faces = await ctx.extractor.extract(open(sys.argv[2], "rb").read())
    await ctx.extractor.enrich(faces, facen=True)
    return faces

faces = asyncio.run(main())
print(json.dumps({"module": sys.modules[type(ctx.extractor).__module__].__file__,
                  "builtin": ctx.builtin_extractor, "settings": ctx.extractor.settings._asdict(),
                  "faces": [{"gender": f.get("gender"), "bbox": list(f["bbox"])} for f in faces]}))
"""
)


@pytest.mark.parametrize("install", ["symlink", "copy"])
def test_facenapi_loads_it_from_a_plugins_dir(api, tmp_path, install):
    """As facenapi would: options parsed from a Python ini file, every *.py of plugins_dirs
    loaded and activated, in an interpreter where facenapi_plugin is not importable. The entry
    file is linked (it finds the package beside its target) or copied (it is told where)."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    entry = subprocess.run(
        [sys.executable, "-m", "facenapi_plugin", "plugin-path"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FACENAPI_PLUGIN_PACKAGE")}
    if install == "symlink":
        os.symlink(entry, plugins / "extraction_api.py")
    else:
        shutil.copy(entry, plugins / "extraction_api.py")
        env["FACENAPI_PLUGIN_PACKAGE"] = os.path.dirname(entry)
    ini = tmp_path / "findface-facenapi.ini"
    ini.write_text(
        f"extraction_api_url = {api.base!r}\nextraction_api_max_clients = 3\ngae = True\n"
        f"plugins_dirs = {str(plugins)!r}\nplugins_enabled = '*'\n"
    )
    (tmp_path / "loader.py").write_text(FACENAPI_LOADER)
    (tmp_path / "photo.jpg").write_bytes(jpeg(astronaut()))
    assert (
        subprocess.run(
            [sys.executable, "-c", NOT_INSTALLED + "import facenapi_plugin"], cwd=tmp_path, env=env, capture_output=True
        ).returncode
        != 0
    )
    done = subprocess.run(
        [sys.executable, "loader.py", str(ini), "photo.jpg"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["module"] == os.path.join(ROOT, "facenapi_plugin", "extractor.py")
    assert out["builtin"] == "facenapi's built-in extractor"
    assert out["settings"]["url"] == api.base + "/" and out["settings"]["max_clients"] == 3
    assert len(out["faces"]) == 1 and out["faces"][0]["gender"] in ("male", "female")
    assert iou(out["faces"][0]["bbox"], ASTRONAUT_FACE) > 0.8


def test_sources_parse_as_python_3_5():
    """facenapi's interpreter may be old: no f-strings, walrus or other post-3.5 syntax."""
    for path in glob.glob(os.path.join(ROOT, "facenapi_plugin", "*.py")):
        with open(path) as f:
            ast.parse(f.read(), path, feature_version=(3, 5))


# ---------------------------------------------------------------- command line


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "facenapi_plugin", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_cli_extract_then_enrich(api, tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg(astronaut()))
    done = cli("extract", str(photo), "--url", api.base, "--gae")
    assert done.returncode == 0, done.stderr
    faces = json.loads(done.stdout)
    assert len(faces) == 1
    face = faces[0]
    assert iou(box(face), ASTRONAUT_FACE) > 0.8
    assert face["photo_hash"] == hashlib.md5(photo.read_bytes()).hexdigest()
    assert face["gender"] in ("male", "female") and set(face["emotions"]) == set(EMOTIONS)
    normalized = tmp_path / "normalized.png"
    normalized.write_bytes(base64.b64decode(face["normalized"]))
    done = cli("enrich", str(normalized), "--url", api.base)
    assert done.returncode == 0, done.stderr
    (again,) = json.loads(done.stdout)
    assert float(facen(again) @ facen(face)) >= 0.99


def test_cli_reports_the_error_code(api, tmp_path):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"GIF89a but not really")
    done = cli("extract", str(junk), "--url", api.base)
    assert done.returncode == 1 and done.stdout == ""
    assert json.loads(done.stderr)["code"] == "IMAGE_DECODING_FAILED"


def test_cli_names_a_missing_file_or_a_bad_bbox_without_a_traceback(api, tmp_path):
    missing = cli("extract", str(tmp_path / "missing.jpg"), "--url", api.base)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg(astronaut()))
    bad_bbox = cli("extract", str(photo), "--url", api.base, "--bbox", "1,2,x,4")
    for done in (missing, bad_bbox):
        assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
        assert done.stderr.startswith("python -m facenapi_plugin: error: ")
    assert "missing.jpg" in missing.stderr
