"""The base handler: every response, errors included, is JSON; no traceback reaches a client.

Handlers receive their body themselves (`stream_request_body`), so Tornado never parses it on
its own: its multipart parser would answer a malformed body with a bare 400 before our handler
could say why, and would keep a second copy of every upload. `self.body` is the whole body.
"""

from typing import Any

from tornado import web

from .errors import INTERNAL_ERROR, METHOD_NOT_ALLOWED, NOT_FOUND

_CODES = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}


@web.stream_request_body
class JsonHandler(web.RequestHandler):
    _chunks: list[bytes]

    def prepare(self) -> None:
        self._chunks = []

    def data_received(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    @property
    def body(self) -> bytes:
        """The request body (joined once, on first use)."""
        if len(self._chunks) != 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Tornado's error page, as JSON and without the exception (which is logged instead)."""
        code = _CODES.get(status_code, INTERNAL_ERROR if status_code >= 500 else "BAD_REQUEST")
        self.finish({"code": code, "desc": self._reason})


class NotFoundHandler(JsonHandler):
    def prepare(self) -> None:
        raise web.HTTPError(404)
