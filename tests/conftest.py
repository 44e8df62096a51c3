"""Fixtures: real daemons started from the console entry point on the real model bundle, test
photos composed from scikit-image's public-domain astronaut, and a small HTTP client."""

import base64
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLE = os.environ.get("FFEA_TEST_BUNDLE", os.path.join(ROOT, "build", "models"))
# The astronaut's face as YuNet boxes it in the 512x512 original (left, top, right, bottom).
ASTRONAUT_FACE = np.array([182, 60, 273, 174])


# ---------------------------------------------------------------- images

def astronaut():
    """BGR uint8, 512x512: Eileen Collins, NASA, public domain (skimage.data)."""
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


def composed_crowd():
    """Three copies of the astronaut's head at three sizes on one canvas, with their expected boxes."""
    head = astronaut()[20:260, 120:340]
    canvas = np.full((900, 1400, 3), 110, np.uint8)
    expected = []
    for scale, (x, y) in ((0.45, (40, 600)), (1.0, (300, 300)), (2.2, (820, 200))):
        part = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        canvas[y:y + part.shape[0], x:x + part.shape[1]] = part
        expected.append((ASTRONAUT_FACE - [120, 20, 120, 20]) * scale + [x, y, x, y])
    return canvas, expected


def jpeg(image, quality=95, orientation=None):
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    out = io.BytesIO()
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        pil.save(out, "JPEG", quality=quality, exif=exif.tobytes())
    else:
        pil.save(out, "JPEG", quality=quality)
    return out.getvalue()


def png(image):
    return cv2.imencode(".png", image)[1].tobytes()


def iou(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def box(face):
    return [face["bbox"][k] for k in ("left", "top", "right", "bottom")]


def facen(face):
    raw = base64.b64decode(face["facen"])
    return np.array(struct.unpack(f"<{len(raw) // 4}f", raw), np.float32)


# ---------------------------------------------------------------- HTTP client

class Client:
    def __init__(self, base):
        self.base = base

    def request(self, method, path="/", body=None, headers=None):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def post_json(self, envelope):
        status, _, body = self.request("POST", "/", json.dumps(envelope).encode(),
                                       {"Content-Type": "application/json"})
        return status, json.loads(body)

    def post_multipart(self, request, files, request_as_file=False):
        """multipart/form-data as curl -F sends it: part `request` plus one part per file."""
        boundary = uuid.uuid4().hex
        chunks = []
        envelope = request if isinstance(request, (str, bytes)) else json.dumps(request)
        envelope = envelope.encode() if isinstance(envelope, str) else envelope
        if request is not None:
            filename = '; filename="request.json"' if request_as_file else ""
            chunks.append((f'Content-Disposition: form-data; name="request"{filename}', envelope))
        for name, data in files.items():
            chunks.append((f'Content-Disposition: form-data; name="{name}"; filename="{name}.jpg"\r\n'
                           f'Content-Type: application/octet-stream', data))
        body = b"".join(f"--{boundary}\r\n{head}\r\n\r\n".encode() + data + b"\r\n" for head, data in chunks)
        body += f"--{boundary}--\r\n".encode()
        status, _, raw = self.request("POST", "/", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        return status, json.loads(raw)

    def extract(self, image_bytes, **params):
        """One multipart request for one image; returns that request's response element."""
        status, body = self.post_multipart({"requests": [{"image": "multipart:photo", **params}]},
                                           {"photo": image_bytes})
        assert status == 200, body
        return body["responses"][0]


# ---------------------------------------------------------------- daemons

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path, port, top=None, fetch=None, nnd=None):
    lines = [f"listen = 127.0.0.1:{port}", f"models_root = {BUNDLE}"]
    lines += [f"{k} = {v}" for k, v in (top or {}).items()]
    for section, values in (("fetch", fetch), ("nnd", nnd)):
        if values:
            lines.append(f"[{section}]")
            lines += [f"{k} = {v}" for k, v in values.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def cli(*args, timeout=60):
    """Run the real console entry point; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "findface_extraction_api.cli", *args],
                          capture_output=True, text=True, timeout=timeout)


class Daemon:
    def __init__(self, tmp_path, **config):
        self.port = free_port()
        self.config = str(tmp_path / f"daemon-{self.port}.ini")
        write_config(self.config, self.port, **config)
        self.log = open(tmp_path / f"daemon-{self.port}.log", "w+")
        self.process = subprocess.Popen([sys.executable, "-m", "findface_extraction_api.cli", "--config", self.config],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self.client = Client(f"http://127.0.0.1:{self.port}")
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.output()}")
            try:
                if self.client.request("GET")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"daemon did not start: {self.output()}")

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


@pytest.fixture(scope="session", autouse=True)
def bundle():
    if not os.path.exists(os.path.join(BUNDLE, "manifest.json")):
        pytest.exit(f"no model bundle at {BUNDLE}: run `make models` (or `make test`, which builds it)", 2)
    return BUNDLE


@pytest.fixture(scope="session")
def daemons(tmp_path_factory):
    """Daemons by configuration, started on first use and shared by the whole session."""
    started = {}

    def get(name, **config):
        if name not in started:
            started[name] = Daemon(tmp_path_factory.mktemp(name), **config)
        return started[name]

    yield get
    for daemon in started.values():
        daemon.stop()


@pytest.fixture(scope="session")
def api(daemons):
    """The main daemon: private fetch targets allowed (for the local image server), 2 MB fetch limit."""
    return daemons("main", fetch={"allow_private_addresses": "true", "size_limit": 2_000_000}).client


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the daemon hanging up mid-download (size_limit tests) is expected


@pytest.fixture(scope="session")
def image_server(tmp_path_factory):
    """A local HTTP server for URL-fetch tests; returns (base URL, directory it serves)."""
    root = tmp_path_factory.mktemp("www")
    server = _QuietServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


@pytest.fixture(scope="session")
def sample_jpg(tmp_path_factory):
    """sample.jpg for the vendor's curl examples."""
    path = tmp_path_factory.mktemp("curl") / "sample.jpg"
    path.write_bytes(jpeg(astronaut()))
    return path


def have_curl():
    return shutil.which("curl") is not None
