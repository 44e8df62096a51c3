"""The base handler: every response, errors included, is JSON; no traceback reaches a client."""

from typing import Any

from tornado import web

from .errors import INTERNAL_ERROR, METHOD_NOT_ALLOWED, NOT_FOUND

_CODES = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}


class JsonHandler(web.RequestHandler):
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Tornado's error page, as JSON and without the exception (which is logged instead)."""
        code = _CODES.get(status_code, INTERNAL_ERROR if status_code >= 500 else "BAD_REQUEST")
        self.finish({"code": code, "desc": self._reason})


class NotFoundHandler(JsonHandler):
    def prepare(self) -> None:
        raise web.HTTPError(404)
