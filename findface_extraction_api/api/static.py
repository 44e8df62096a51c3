"""Files the daemon serves from the package: the demo page (GET /demo/) and the OpenAPI document.

Both are static and local: nothing is loaded from the internet, nothing is built.
"""

import os

from tornado import web

STATIC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static")
DEMO = os.path.join(STATIC, "demo")
OPENAPI = os.path.join(STATIC, "openapi.json")


class DemoHandler(web.StaticFileHandler):
    """The demo page and its assets, no caching beyond revalidation."""

    def compute_etag(self) -> str | None:
        """From the file as it is now (Tornado caches a hash per process, stale after an edit)."""
        return None

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")
        self.set_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'")


class OpenApiHandler(web.RequestHandler):
    """GET /openapi.json: the OpenAPI 3.1 description of both protocols."""

    def get(self) -> None:
        with open(OPENAPI, "rb") as f:
            self.set_header("Content-Type", "application/json")
            self.write(f.read())
