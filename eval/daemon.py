"""A daemon for the evaluation scripts: the tests' real-daemon harness (tests/conftest.py), or --url.

    with served(url=None) as post:   # post(path, body bytes, content type) -> (status, json)
"""

import contextlib
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "eval-data")
sys.path.insert(0, os.path.join(ROOT, "tests"))
from conftest import Client, Daemon  # noqa: E402


def multipart(field, data):
    """(body, content type) of a multipart/form-data body with one file field."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"image.jpg\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@contextlib.contextmanager
def served(url=None):
    """Yield post(path, body, content_type) against `url`, or a daemon on build/models started here."""
    def poster(client):
        def post(path, body, content_type):
            status, _, raw = client.request("POST", path, body, {"Content-Type": content_type})
            return status, json.loads(raw)
        return post

    if url:
        yield poster(Client(url.rstrip("/")))
        return
    with tempfile.TemporaryDirectory() as tmp:
        daemon = Daemon(Path(tmp))
        try:
            yield poster(daemon.client)
        finally:
            daemon.stop()
