"""A daemon for the evaluation scripts: the real console entry on a temporary config, or --url.

    with served(url=None, bundle="build/models") as post:   # post(path, body bytes, content type) -> (status, json)
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "eval-data")


def _post(base, path, body, content_type):
    request = urllib.request.Request(base + path, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def multipart(field, data):
    """(body, content type) of a multipart/form-data body with one file field."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"image.jpg\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@contextlib.contextmanager
def served(url=None, bundle=os.path.join(ROOT, "build", "models"), extra=""):
    """Yield post(path, body, content_type) against `url`, or a daemon started here and stopped after."""
    if url:
        yield lambda path, body, ctype: _post(url.rstrip("/"), path, body, ctype)
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "eval.ini")
        with open(config, "w") as f:
            f.write(f"listen = 127.0.0.1:{port}\nmodels_root = {os.path.abspath(bundle)}\n{extra}")
        log = open(os.path.join(tmp, "daemon.log"), "w+")
        process = subprocess.Popen([sys.executable, "-m", "findface_extraction_api.cli", "--config", config],
                                   stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"daemon exited: {log.read()}")
                try:
                    urllib.request.urlopen(base + "/", timeout=5).read()
                    break
                except OSError:
                    time.sleep(0.2)
            yield lambda path, body, ctype: _post(base, path, body, ctype)
        finally:
            process.terminate()
            process.wait(30)
            log.close()
