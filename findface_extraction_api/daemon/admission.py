"""Admission at the HTTP layer: body size and the memory all bodies in flight may hold.

Tornado keeps a request's whole body in memory until its handler is done, so a burst of large
uploads could take any amount of memory. `Admission` wraps the application: a body over
`max_body_size` gets 413, and a body that would take the bytes held by all requests in flight
over `buffered_bodies` gets 503 with Retry-After, both as JSON and before the body is read.
Chunked bodies (no Content-Length) are counted as they arrive.

A refused body is read and dropped, and the answer sent once it is in: a server that answers
and closes while the client is still sending makes the client's TCP stack reset the connection,
and the answer is lost. Clients that ask `Expect: 100-continue` (curl does for large bodies) get
the answer at once and never send the body; bodies over `discard_limit` are answered at once too.
"""

import json
import logging
from typing import Any

from tornado import httputil

from .. import metrics
from ..api.handler import request_id
from ..api.imageapi import is_imageapi_path
from .drain import NotifyingConnection

log = logging.getLogger(__name__)
RETRY_AFTER_S = 2


class Admission(httputil.HTTPServerConnectionDelegate):
    """The application, wrapped to refuse bodies over the size limit or the shared memory budget."""

    def __init__(
        self, app: httputil.HTTPServerConnectionDelegate, max_body_size: int, buffered_bodies: int, discard_limit: int
    ):
        self.app = app
        self.max_body_size = max_body_size
        self.buffered_bodies = buffered_bodies
        self.discard_limit = discard_limit
        self.held = 0  # bytes reserved by the bodies of requests in flight

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        admitted = _AdmittedRequest(self, request_conn)
        admitted.delegate = self.app.start_request(server_conn, admitted.connection)
        return admitted

    def on_close(self, server_conn: object) -> None:
        self.app.on_close(server_conn)


class _AdmittedRequest(httputil.HTTPMessageDelegate):
    def __init__(self, admission: Admission, request_conn: httputil.HTTPConnection):
        self.admission = admission
        self.request_conn = request_conn
        self.connection = NotifyingConnection(request_conn, self.release)
        self.delegate: httputil.HTTPMessageDelegate | None = None
        self.reserved = 0
        self.received = 0
        self.declared: int | None = None
        self.refused = False
        self.answer: tuple[int, str, str, bool] | None = None  # a refusal waiting for the body to be dropped
        self.expects_continue = False
        self.route = "/"
        self.request_id = ""

    def release(self) -> None:
        self.admission.held -= self.reserved
        self.reserved = 0

    def headers_received(self, start_line: Any, headers: httputil.HTTPHeaders) -> Any:
        assert self.delegate is not None
        self.route = getattr(start_line, "path", "/").split("?")[0]
        self.request_id = request_id(headers)
        self.expects_continue = headers.get("Expect", "").lower() == "100-continue"
        length = headers.get("Content-Length")
        if length is not None and length.strip().isascii() and length.strip().isdigit():  # not '²': int() fails
            self.declared = int(length)
            if self.declared > self.admission.max_body_size:
                return self.refuse(413, "Payload Too Large", self.too_large())
            if not self.reserve(self.declared):
                return self.refuse(503, "Service Unavailable", self.busy(), retry=True)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        assert self.delegate is not None
        if self.refused:
            return None
        self.received += len(chunk)
        if self.declared is None:  # chunked: count as it comes
            if self.received > self.admission.max_body_size:
                return self.refuse(413, "Payload Too Large", self.too_large(), started=True)
            if not self.reserve(len(chunk)):
                return self.refuse(503, "Service Unavailable", self.busy(), retry=True, started=True)
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        assert self.delegate is not None
        if self.answer is not None:
            self.send(*self.answer)
        elif not self.refused:
            self.delegate.finish()

    def on_connection_close(self) -> None:
        try:
            if self.delegate is not None and not self.refused:
                self.delegate.on_connection_close()
        finally:
            self.release()

    def reserve(self, size: int) -> bool:
        if self.admission.held + size > self.admission.buffered_bodies and (self.admission.held or self.reserved):
            return False  # a single body under max_body_size is always admitted when nothing else is held
        self.admission.held += size
        self.reserved += size
        return True

    def too_large(self) -> str:
        return f"the request body is over the max_body_size of {self.admission.max_body_size} bytes ([limits])"

    def busy(self) -> str:
        return (
            f"the server is holding {self.admission.held} bytes of request bodies ([limits] buffered_bodies = "
            f"{self.admission.buffered_bodies}); retry in {RETRY_AFTER_S} s"
        )

    def refuse(self, status: int, reason: str, desc: str, retry: bool = False, started: bool = False) -> None:
        """Refuse in the route's protocol: now if the body will not come or is too big to drop, else
        once it has been read and dropped."""
        self.refused = True
        if started and self.delegate is not None:
            self.delegate.on_connection_close()  # the application saw the headers: tell it the request is gone
        self.release()
        log.warning("refused a request to %s: %s (id=%s)", self.route[:100], desc, self.request_id)
        metrics.ADMISSION_REFUSALS.labels(str(status)).inc()
        early = self.expects_continue or (self.declared or 0) > self.admission.discard_limit
        if early:
            self.send(status, reason, desc, retry)
        else:
            self.answer = (status, reason, desc, retry)

    def send(self, status: int, reason: str, desc: str, retry: bool) -> None:
        self.answer = None
        code = {413: "PAYLOAD_TOO_LARGE", 503: "SERVICE_UNAVAILABLE"}[status]
        payload = {"detail": desc} if is_imageapi_path(self.route) else {"code": code, "desc": desc}
        body = json.dumps(payload).encode()
        headers = httputil.HTTPHeaders(
            {
                "Content-Type": "application/json; charset=UTF-8",
                "Content-Length": str(len(body)),
                "Connection": "close",
                "X-Request-ID": self.request_id,
            }
        )
        if retry:
            headers["Retry-After"] = str(RETRY_AFTER_S)
        self.request_conn.write_headers(httputil.ResponseStartLine("HTTP/1.1", status, reason), headers, body)
        self.request_conn.finish()
