"""The base handler: every response, errors included, is JSON; no traceback reaches a client.

Handlers receive their body themselves (`stream_request_body`), so Tornado never parses it on
its own: its multipart parser would answer a malformed body with a bare 400 before our handler
could say why, and would keep a second copy of every upload. `self.body` is the whole body.

A client that hangs up before its answer is ready has its work skipped, not done for no one:
`check_client` raises ClientGone once Tornado has seen the connection close, or the kernel says
the peer has sent its FIN (Tornado does not notice that while pipelined bytes wait unread), and
the handlers call it before each image's work (was: a 100-request envelope posted and abandoned
kept both workers busy for minutes, and every such connection added more).

Every request gets a request id (the client's `X-Request-ID` when it is a sane token, else a new
one), returned in `X-Request-ID` and written on its access line and its error lines; each
answer is counted in the metrics by protocol, route and outcome; CORS follows `allow_cors`.
"""

import logging
import re
import socket
import time
import uuid
from typing import Any

from tornado import web

from .. import metrics
from .errors import INTERNAL_ERROR, METHOD_NOT_ALLOWED, NOT_FOUND

_CODES = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}
TCP_CLOSED = (8, 7)  # tcp_info.tcpi_state (linux/tcp_states.h): CLOSE_WAIT (the peer's FIN), CLOSE (reset)
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
ROUTES_SERVED = (
    "the Extraction API is POST / (FindFace's v1; the 12.x /v2 multi-object API is not served), "
    "the Image API POST /<service>/{v1|v2}/process/{sample|image}"
)
access = logging.getLogger("findface_extraction_api.access")
CLIENT_GONE = "client_gone"  # the outcome (metrics, access line) of a request whose client hung up


class ClientGone(Exception):
    """The client closed the connection: the work it asked for is not worth doing."""


def request_id(headers: Any) -> str:
    """The client's X-Request-ID when it is a sane token, else a new one."""
    given = headers.get("X-Request-ID", "")
    return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class AccountedHandler(web.RequestHandler):
    """Every answer of every route: an X-Request-ID, errors as JSON, counted in the metrics and
    written on the access line. Static files (the demo page) use it as a mixin."""

    protocol = "ops"  # for metrics and logs: extraction, imageapi or ops
    route = "other"
    outcome: str | None = None  # "ok" or an error code; default: from the status

    def set_default_headers(self) -> None:
        """Runs first in RequestHandler.__init__ (request set, initialize not yet run), again on clear()."""
        if not hasattr(self, "request_id"):
            self.started = time.perf_counter()
            self.request_id = request_id(self.request.headers)
        self.set_header("X-Request-ID", self.request_id)
        origins = getattr(getattr(self, "service", None), "cors_origins", ())
        origin = self.request.headers.get("Origin")
        if origin and ("*" in origins or origin in origins):
            self.set_header("Access-Control-Allow-Origin", "*" if "*" in origins else origin)
            self.set_header("Access-Control-Expose-Headers", "X-Request-ID")
            if "*" not in origins:
                self.set_header("Vary", "Origin")

    def head(self, *args: Any, **kwargs: Any) -> Any:
        """HEAD answers as GET does, without the body (Tornado drops it for HEAD): load balancers'
        and monitors' health checks use it. A route without GET answers 405."""
        if type(self).get is web.RequestHandler.get:
            raise web.HTTPError(405)
        return self.get(*args, **kwargs)

    def allowed_methods(self) -> list[str]:
        """The methods this route answers, for the Allow header of a 405 (RFC 9110 §15.5.6) and
        the CORS preflight."""
        base = web.RequestHandler
        methods = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
        answered = [m for m in methods if getattr(type(self), m.lower()) is not getattr(base, m.lower())]
        return [m for m in answered if m != "HEAD" or "GET" in answered]

    def set_allow(self, status_code: int) -> None:
        """A 405 says which methods the route does answer."""
        if status_code == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))

    def log_extra(self, **fields: Any) -> dict[str, Any]:
        """Journal fields for a log line about this request."""
        return {"REQUEST_ID": self.request_id, "ROUTE": self.route, **fields}

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Tornado's error page, as JSON and without the exception (which is logged instead)."""
        code = _CODES.get(status_code, INTERNAL_ERROR if status_code >= 500 else "BAD_REQUEST")
        self.outcome = code
        self.set_allow(status_code)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(self.error_body(code))

    def error_body(self, code: str) -> dict[str, Any]:
        return {"code": code, "desc": self._reason}

    def on_finish(self) -> None:
        status = self.get_status()
        outcome = self.outcome or ("ok" if status < 400 else str(status))
        elapsed = time.perf_counter() - self.started
        route = self.route if len(self.route) <= 64 else "other"
        metrics.REQUESTS.labels(self.protocol, route, outcome).inc()
        metrics.REQUEST_SECONDS.labels(self.protocol).observe(elapsed)
        access.info(
            "%s %s %d %s %.1f ms id=%s",
            self.request.method,
            self.request.path[:200],
            status,
            outcome,
            elapsed * 1000,
            self.request_id,
            extra=self.log_extra(CODE=outcome, STATUS=status, DURATION_MS=round(elapsed * 1000, 1)),
        )


def peer_closed(stream: Any) -> bool:
    """Whether the kernel has the peer's FIN (or reset) on this connection (Linux's TCP_INFO)."""
    sock = getattr(stream, "socket", None)
    if sock is None:
        return True
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] in TCP_CLOSED
    except (OSError, AttributeError):  # closed meanwhile; or no TCP_INFO (not Linux): only Tornado's word
        return sock.fileno() < 0


@web.stream_request_body
class JsonHandler(AccountedHandler):
    """The API handlers: the service, the body received in chunks, CORS preflight."""

    _chunks: list[bytes]
    gone = False  # the client closed the connection before the answer

    def initialize(self, service: Any = None) -> None:
        self.service = service
        self._chunks = []
        self.set_default_headers()  # again, now that the service (and so the CORS origins) is known

    def on_connection_close(self) -> None:
        self.gone = True
        super().on_connection_close()

    @property
    def client(self) -> str:
        """Who the inference pool takes turns between: the peer's address."""
        return self.request.remote_ip or ""

    def check_client(self) -> None:
        """ClientGone if the client has hung up (safe from a worker thread: a flag and a getsockopt)."""
        if self.gone or peer_closed(getattr(self.request.connection, "stream", None)):
            raise ClientGone()

    def options(self, *args: Any, **kwargs: Any) -> None:
        """CORS preflight: the methods and headers a browser may use."""
        self.set_header("Access-Control-Allow-Methods", ", ".join(self.allowed_methods()))
        self.set_header("Access-Control-Allow-Headers", "Content-Type, X-Request-ID")
        self.set_header("Access-Control-Max-Age", "600")
        self.outcome = "ok"
        self.set_status(204)

    def data_received(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    @property
    def body(self) -> bytes:
        """The request body (joined once, on first use)."""
        if len(self._chunks) != 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0]


class NotFoundHandler(JsonHandler):
    """Any path no route serves. It may be either protocol's (a FindFace client's typo, an Image
    API client's unknown version or path prefix), so the 404 carries both shapes' keys:
    FindFace's `code`/`desc` and FastAPI's `detail`."""

    protocol = "ops"

    def prepare(self) -> None:
        raise web.HTTPError(404)

    def error_body(self, code: str) -> dict[str, Any]:
        return {"code": code, "desc": f"{self._reason}: {ROUTES_SERVED}", "detail": self._reason}
