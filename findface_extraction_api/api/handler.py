"""The base handler: every response, errors included, is JSON; no traceback reaches a client."""

import http
import logging

from tornado import web

from .errors import INTERNAL_ERROR, METHOD_NOT_ALLOWED, NOT_FOUND, ApiError

log = logging.getLogger(__name__)

_STATUS_CODES = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}


class JsonHandler(web.RequestHandler):
    def _handle_request_exception(self, e):
        if isinstance(e, ApiError):  # an expected client error: no stack trace in the log
            if not self._finished:
                self.set_status(e.status)
                self.finish(e.to_json())
            return
        super()._handle_request_exception(e)

    def write_error(self, status_code, **kwargs):
        self.clear()
        self.set_status(status_code)
        code = _STATUS_CODES.get(status_code, INTERNAL_ERROR if status_code >= 500 else "BAD_REQUEST")
        reason = http.HTTPStatus(status_code).phrase if status_code in http.HTTPStatus._value2member_map_ else ""
        self.finish({"code": code, "desc": reason or self._reason})


class NotFoundHandler(JsonHandler):
    def prepare(self):
        raise web.HTTPError(404)
