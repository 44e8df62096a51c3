"""A daemon for the evaluation scripts: the real-daemon harness (findface_extraction_api/testing.py), or --url.

with served(url=None) as post:   # post(path, body bytes, content type) -> (status, json)
"""

import contextlib
import json
import os
import tempfile
from pathlib import Path

from findface_extraction_api import testing
from findface_extraction_api.testing import ROOT, Client, Daemon

SHARED = os.path.join(ROOT, "..", "shared", "eval-data")


def multipart(field, data):
    """(body, content type) of a multipart/form-data body with one file field."""
    return testing.multipart([(field, data, "image.jpg")])


@contextlib.contextmanager
def served(url=None, **config):
    """Yield post(path, body, content_type) against `url`, or a daemon on build/models started here
    (with `config` sections, e.g. facen={"model": "sface+dlib"})."""

    def poster(client):
        def post(path, body, content_type):
            status, _, raw = client.request("POST", path, body, {"Content-Type": content_type})
            return status, json.loads(raw)

        status, _, raw = client.request("GET")
        post.facen = (json.loads(raw).get("facen") or {}).get("model", "sface")  # which facen it serves
        return post

    if url:
        yield poster(Client(url.rstrip("/")))
        return
    with tempfile.TemporaryDirectory() as tmp:
        daemon = Daemon(Path(tmp), **config)
        try:
            yield poster(daemon.client)
        finally:
            daemon.stop()
