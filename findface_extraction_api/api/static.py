"""Files the daemon serves from the package: the demo page (GET /demo/) and the OpenAPI document.

Both are static and local: nothing is loaded from the internet, nothing is built.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

from tornado import web

from .handler import AccountedHandler

STATIC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static")
DEMO = os.path.join(STATIC, "demo")
OPENAPI = os.path.join(STATIC, "openapi.json")


@contextmanager
def outside_is_not_found() -> Iterator[None]:
    """Tornado's 403 for a path out of the served folder as a 404 that says so."""
    try:
        yield
    except web.HTTPError as e:
        if e.status_code != 403:
            raise
        raise web.HTTPError(404, reason="Not Found: the path leads out of the demo folder") from None


class DemoHandler(AccountedHandler, web.StaticFileHandler):
    """The demo page and its assets, no caching beyond revalidation; a missing file is a JSON 404."""

    route = "/demo/"
    head = web.StaticFileHandler.head  # not AccountedHandler's: a static file's HEAD reads no file

    def compute_etag(self) -> str | None:
        """From the file as it is now (Tornado caches a hash per process, stale after an edit)."""
        return None

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """A path that is not UTF-8 names no file here (Tornado's answer was a reasonless 400)."""
        try:
            return super().decode_argument(value, name)
        except web.HTTPError:
            raise web.HTTPError(404, reason="Not Found: the path is not UTF-8") from None

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        """No file name holds a NUL byte (os.path.realpath would raise ValueError: a 500), and a path
        out of the demo folder is not found there (Tornado's 403 read as BAD_REQUEST "Forbidden")."""
        if "\x00" in absolute_path:
            raise web.HTTPError(404, reason="Not Found: a file name cannot hold a NUL byte")
        with outside_is_not_found():
            return super().validate_absolute_path(root, absolute_path)

    @classmethod
    def get_absolute_path(cls, root: str, path: str) -> str:
        with outside_is_not_found():
            return super().get_absolute_path(root, path)

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")
        self.set_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'")


class OpenApiHandler(AccountedHandler):
    """GET /openapi.json: the OpenAPI 3.1 description of both protocols."""

    route = "/openapi.json"

    def get(self) -> None:
        with open(OPENAPI, "rb") as f:
            self.set_header("Content-Type", "application/json")
            self.write(f.read())


class DemoRedirectHandler(AccountedHandler):
    """GET /demo -> /demo/ (the page's relative asset links need the slash)."""

    route = "/demo"

    def get(self) -> None:
        self.redirect("/demo/", permanent=True)
