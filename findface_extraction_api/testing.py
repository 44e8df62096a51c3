"""The real-daemon test harness, shared by tests/, bench/ and eval/: daemons started from the
console entry point on the real model bundle, a small HTTP client with a multipart encoder, and
test photos composed from scikit-image's public-domain astronaut.

Nothing here is used by the service; it ships with the package so every harness imports one copy.
"""

import base64
import http.server
import io
import json
import os
import resource
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
from collections.abc import Sequence
from functools import partial
from typing import Any

import cv2
import numpy as np
from PIL import Image

from . import imaging

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the source checkout
BUNDLE = os.environ.get("FFEA_TEST_BUNDLE", os.path.join(ROOT, "build", "models"))
# The astronaut's face as YuNet boxes it in the 512x512 original (left, top, right, bottom).
ASTRONAUT_FACE = np.array([182, 60, 273, 174])


# ---------------------------------------------------------------- images


def astronaut() -> np.ndarray:
    """BGR uint8, 512x512: Eileen Collins, NASA, public domain (skimage.data, a test dependency)."""
    import skimage.data

    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


# The astronaut's five landmarks as the pipeline places them in the 512x512 original (YuNet order:
# image-left eye, image-right eye, nose tip, image-left and image-right mouth corner).
ASTRONAUT_POINTS = np.array([[203.8, 99.4], [247.0, 101.5], [221.2, 126.7], [204.7, 146.3], [242.6, 148.4]])


def degraded(image: np.ndarray, kind: str, strength: float = 1.0, points: np.ndarray = ASTRONAUT_POINTS) -> np.ndarray:
    """A synthetic degradation of a face photo (the astronaut by default, `points` its landmarks),
    for the quality checks' tests and calibration; `strength` 1 is the level each check must catch.

    blur: Gaussian, sigma 3 x strength px. dark: x (1 - 0.7 strength). sidelight: a left-to-right
    ramp to (1 - 0.7 strength) across the face. flare: a saturated highlight on the cheek. noise:
    Gaussian, sigma 12 x strength (seeded). watermark: semi-transparent text across the image.
    turned: rotated in plane by 35 x strength degrees about the face. Without a strength:
    eyes_closed: each eye inpainted from the skin around it with a lash line drawn across. mask:
    a light-blue surgical mask polygon over nose and mouth. plain_background: everything outside
    an ellipse around the head replaced by flat grey (an improvement, not a degradation).
    """
    out = image.copy()
    eye_left, eye_right, nose, mouth_left, mouth_right = points
    eye_distance = float(np.linalg.norm(eye_right - eye_left))
    centre = points.mean(0)
    if kind == "blur":
        return cv2.GaussianBlur(out, (0, 0), 3 * strength)
    if kind == "dark":
        return (out.astype(np.float32) * (1 - 0.7 * strength)).astype(np.uint8)
    if kind == "sidelight":
        x = np.arange(out.shape[1], dtype=np.float32)
        span = 2.5 * eye_distance
        ramp = 1 - 0.7 * strength * np.clip((x - (centre[0] - span)) / (2 * span), 0, 1)
        return (out.astype(np.float32) * ramp[None, :, None]).clip(0, 255).astype(np.uint8)
    if kind == "flare":
        yy, xx = np.mgrid[: out.shape[0], : out.shape[1]].astype(np.float32)
        spot = eye_left + [0.1 * eye_distance, 0.8 * eye_distance]
        blob = np.exp(-((xx - spot[0]) ** 2 + (yy - spot[1]) ** 2) / (2 * (0.35 * eye_distance * strength) ** 2))
        return (out.astype(np.float32) + 400 * blob[..., None]).clip(0, 255).astype(np.uint8)
    if kind == "noise":
        rng = np.random.default_rng(7)
        return (out.astype(np.float32) + rng.normal(0, 12 * strength, out.shape)).clip(0, 255).astype(np.uint8)
    if kind == "watermark":
        layer = out.copy()
        step = max(12, int(0.6 * eye_distance))
        scale = step / 30
        for row, y in enumerate(range(step, out.shape[0], step)):
            cv2.putText(
                layer,
                "SAMPLE  PROOF" * 4,
                (-(row % 3) * step, y),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale,
                (255, 255, 255),
                max(1, int(scale * 2)),
                cv2.LINE_AA,
            )
        alpha = 0.5 * strength
        return cv2.addWeighted(layer, alpha, out, 1 - alpha, 0)
    if kind == "turned":
        matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 35 * strength, 1.0)
        return cv2.warpAffine(out, matrix, (out.shape[1], out.shape[0]), borderMode=cv2.BORDER_REFLECT)
    if kind == "eyes_closed":
        mask = np.zeros(out.shape[:2], np.uint8)
        axes = (int(0.3 * eye_distance), int(0.14 * eye_distance))
        for eye in (eye_left, eye_right):
            cv2.ellipse(mask, (int(eye[0]), int(eye[1])), axes, 0, 0, 360, 255, -1)
        out = cv2.inpaint(out, mask, max(3, int(0.1 * eye_distance)), cv2.INPAINT_TELEA)
        for eye in (eye_left, eye_right):
            y = int(eye[1] + 0.05 * eye_distance)
            cv2.ellipse(
                out,
                (int(eye[0]), y - axes[1] // 2),
                (axes[0], axes[1] // 2),
                0,
                20,
                160,
                (40, 35, 45),
                max(1, int(eye_distance / 25)),
                cv2.LINE_AA,
            )
        return out
    if kind == "mask":
        down = (mouth_left + mouth_right) / 2 - (eye_left + eye_right) / 2
        polygon = np.array(
            [
                eye_left + [-0.45 * eye_distance, 0.45 * eye_distance],
                nose + [0, -0.35 * eye_distance],
                eye_right + [0.45 * eye_distance, 0.45 * eye_distance],
                mouth_right + down * 0.9 + [0.35 * eye_distance, 0],
                (mouth_left + mouth_right) / 2 + down * 1.25,
                mouth_left + down * 0.9 + [-0.35 * eye_distance, 0],
            ],
            np.int32,
        )
        cv2.fillPoly(out, [polygon], (235, 215, 170), cv2.LINE_AA)
        return out
    if kind == "plain_background":
        keep = np.zeros(out.shape[:2], np.uint8)
        axes = (int(1.6 * eye_distance), int(2.4 * eye_distance))
        cv2.ellipse(keep, (int(centre[0]), int(centre[1] - 0.3 * eye_distance)), axes, 0, 0, 360, 255, -1)
        out[keep == 0] = (200, 200, 200)
        return out
    raise ValueError(f"unknown degradation {kind!r}")


CROWD = (((0.45, (40, 600)), (1.0, (300, 300)), (2.2, (820, 200))), (900, 1400), 110)


def composed_crowd(
    placements: Sequence[tuple[float, tuple[int, int]]] = CROWD[0],
    size: tuple[int, int] = CROWD[1],
    grey: int = CROWD[2],
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Copies of the astronaut's head, each (scale, (x, y)), on a grey canvas of `size` (height,
    width), with their expected boxes; by default three sizes from 100 to 500 px."""
    head = astronaut()[20:260, 120:340]
    canvas = np.full((*size, 3), grey, np.uint8)
    expected = []
    for scale, (x, y) in placements:
        part = cv2.resize(
            head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        )
        canvas[y : y + part.shape[0], x : x + part.shape[1]] = part
        expected.append((ASTRONAUT_FACE - [120, 20, 120, 20]) * scale + [x, y, x, y])
    return canvas, expected


def jpeg(image: np.ndarray, quality: int = 95, orientation: int | None = None) -> bytes:
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    out = io.BytesIO()
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        pil.save(out, "JPEG", quality=quality, exif=exif.tobytes())
    else:
        pil.save(out, "JPEG", quality=quality)
    return out.getvalue()


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two boxes (the package's own, as a float)."""
    return float(imaging.iou(a, b))


def box(face: dict[str, Any]) -> list[int]:
    return [face["bbox"][k] for k in ("left", "top", "right", "bottom")]


def facen(face: dict[str, Any]) -> np.ndarray:
    raw = base64.b64decode(face["facen"])
    return np.array(struct.unpack(f"<{len(raw) // 4}f", raw), np.float32)


# ---------------------------------------------------------------- HTTP client


def multipart(fields: Sequence[tuple[str, bytes, str | None]]) -> tuple[bytes, str]:
    """(body, Content-Type) of multipart/form-data as curl -F sends it: (name, data, filename or None) each."""
    boundary = uuid.uuid4().hex
    body = b""
    for name, data, filename in fields:
        head = f'Content-Disposition: form-data; name="{name}"'
        if filename is not None:
            head += f'; filename="{filename}"\r\nContent-Type: application/octet-stream'
        body += f"--{boundary}\r\n{head}\r\n\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class Client:
    def __init__(self, base: str):
        self.base = base

    def request(
        self, method: str, path: str = "/", body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, bytes]:
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def post_json(self, envelope: Any) -> tuple[int, Any]:
        status, _, body = self.request("POST", "/", json.dumps(envelope).encode(), {"Content-Type": "application/json"})
        return status, json.loads(body)

    def post_multipart(self, request: Any, files: dict[str, bytes], request_as_file: bool = False) -> tuple[int, Any]:
        """multipart/form-data as curl -F sends it: part `request` plus one part per file."""
        fields: list[tuple[str, bytes, str | None]] = []
        if request is not None:
            envelope = request if isinstance(request, (str, bytes)) else json.dumps(request)
            envelope = envelope.encode() if isinstance(envelope, str) else envelope
            fields.append(("request", envelope, "request.json" if request_as_file else None))
        fields += [(name, data, f"{name}.jpg") for name, data in files.items()]
        body, content_type = multipart(fields)
        status, _, raw = self.request("POST", "/", body, {"Content-Type": content_type})
        return status, json.loads(raw)

    def extract(self, image_bytes: bytes, **params: Any) -> dict[str, Any]:
        """One multipart request for one image; returns that request's response element."""
        status, body = self.post_multipart(
            {"requests": [{"image": "multipart:photo", **params}]}, {"photo": image_bytes}
        )
        assert status == 200, body
        return body["responses"][0]


# ---------------------------------------------------------------- daemons


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(
    path: str,
    port: int,
    top: dict[str, Any] | None = None,
    fetch: dict[str, Any] | None = None,
    nnd: dict[str, Any] | None = None,
    bundle: str | None = None,
    **sections: dict[str, Any],
) -> None:
    """A configuration file for a test daemon: top-level keys, then one [section] per keyword."""
    lines = [f"listen = 127.0.0.1:{port}", f"models_root = {bundle or BUNDLE}"]
    lines += [f"{k} = {v}" for k, v in (top or {}).items()]
    for section, values in (("fetch", fetch), ("nnd", nnd), *sections.items()):
        if values:
            lines.append(f"[{section}]")
            lines += [f"{k} = {v}" for k, v in values.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "findface_extraction_api.cli", *args], capture_output=True, text=True, timeout=timeout
    )


class Daemon:
    def __init__(
        self,
        tmp_path: Any,
        nofile: int | None = None,
        env: dict[str, str] | None = None,
        wait: bool = True,
        pythonpath: str | None = None,
        **config: Any,
    ):
        """A daemon on a free loopback port with this configuration; `nofile` caps its open files,
        `env` adds to its environment, `pythonpath` runs the code of another checkout (before/after
        runs; default $FFEA_DAEMON_PYTHONPATH); unless `wait` is false, returns once GET /ready is 200."""
        self.port = free_port()
        self.config = str(tmp_path / f"daemon-{self.port}.ini")
        write_config(self.config, self.port, **config)
        self.log = open(tmp_path / f"daemon-{self.port}.log", "w+")

        def limit_files() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        env, cwd = {**os.environ, **(env or {})}, None
        pythonpath = pythonpath or os.environ.get("FFEA_DAEMON_PYTHONPATH")
        if pythonpath:  # before/after runs: the daemon from another checkout
            env["PYTHONPATH"] = cwd = pythonpath
        self.process = subprocess.Popen(
            [sys.executable, "-m", "findface_extraction_api.cli", "--config", self.config],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_files,
            env=env,
            cwd=cwd,
        )
        self.client = Client(f"http://127.0.0.1:{self.port}")
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.output()}")
            try:
                if self.client.request("GET", "/ready")[0] == 200:  # models loaded and warmed up
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"daemon did not start: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the daemon hanging up mid-download (size_limit tests) is expected


def image_server(root: str) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A local HTTP server of the files under `root` (for URL-fetch tests), serving in a thread."""
    server = _QuietServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def have_curl() -> bool:
    return shutil.which("curl") is not None
