"""An HTTPServer whose accept loop survives running out of file descriptors, and whose answer
to a malformed HTTP message is JSON like every other refusal.

Tornado's accept handler lets EMFILE (or ENFILE, ENOBUFS, ENOMEM) escape to the IOLoop, which
logs a traceback and calls it again at once: the listening socket stays readable, so the process
spins at full CPU writing log lines until sockets close. Here such an error pauses accepting
for PAUSE_S (the pending connections wait in the kernel's backlog), logs one warning per
LOG_EVERY_S with a count, and resumes.

Tornado answers a message it cannot parse (garbage request line, a Content-Length that is not a
number, two Host headers, bad chunking, a NUL in the path) by writing a bare
`HTTP/1.1 400 Bad Request` with no body from inside its `except HTTPInputError` block, and has no
hook for it. `json_protocol_errors` swaps exactly that write for a JSON answer carrying the
parser's reason, in both protocols' shapes (FindFace `code`/`desc`, Image API `detail`): the
request line may be the broken part, so the route is not known. It closes a connection whose
request line and headers pass max_header_size (or whose chunk-size line is too long) without a
word at all; `answer_unsatisfiable_reads` sends a JSON 431 (400 for a chunk line) first.

Tornado has no timeout for writing: a client that sends a request and never reads the answer
(or reads a byte now and then) kept its connection, and the answer in the daemon's memory, for
ever (four such clients held 195 MB for as long as they liked). `send_deadline` closes a
connection whose client has taken no byte of a pending answer for `send_timeout` seconds. A
client that reads slowly but steadily is not cut: the kernel reports the socket writable only
once a good part of its send buffer is free, so a byte-a-second reader shows no progress at all.
"""

import errno
import json
import logging
import socket
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, UnsatisfiableReadError

log = logging.getLogger(__name__)
OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
PAUSE_S = 0.5
LOG_EVERY_S = 10.0
BACKLOG_PER_WAKEUP = 128
BARE_400 = b"HTTP/1.1 400 Bad Request\r\n\r\n"  # what tornado.http1connection writes on HTTPInputError
MAX_HEADER_SIZE = 64 * 1024  # request line and headers (Tornado's max_header_size)
TOO_LONG_HEADERS = f"the request line and headers are over {MAX_HEADER_SIZE} bytes together"
TOO_LONG_CHUNK_LINE = "malformed HTTP request: a chunk-size line (size and extensions) is over 64 bytes"
MAX_REASON = 200  # characters of the parser's reason (it may quote the client's bytes)


class GuardedHTTPServer(HTTPServer):
    """HTTPServer with the resource-exhaustion-safe accept loop, JSON protocol errors and a send timeout."""

    def initialize(self, *args: Any, send_timeout: float | None = None, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.send_timeout = send_timeout

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = guarded_accept_handler(sock, self._handle_connection)

    def handle_stream(self, stream: IOStream, address: tuple) -> None:
        json_protocol_errors(stream)
        answer_unsatisfiable_reads(stream)
        if self.send_timeout:
            send_deadline(stream, self.send_timeout)
        super().handle_stream(stream, address)


def json_protocol_errors(stream: IOStream) -> None:
    """Make `stream` send Tornado's bodiless 400 for a malformed message as a JSON answer."""
    write = stream.write

    def write_json_400(data: bytes | memoryview, *args: Any, **kwargs: Any) -> Any:
        if bytes(data[: len(BARE_400) + 1]) == BARE_400:
            data = malformed_http_answer(sys.exc_info()[1])
        return write(data, *args, **kwargs)

    stream.write = write_json_400  # type: ignore[method-assign]


def send_deadline(stream: IOStream, timeout: float) -> None:
    """Close `stream` once an answer has waited `timeout` seconds with no byte taken by the client
    (checked every `timeout` seconds while a write is pending: cut within twice that)."""
    write = stream.write
    watch: dict[str, Any] = {"timer": None, "done": 0}

    def written() -> int:
        return stream._total_write_done_index  # bytes the socket has taken (Tornado keeps no public count)

    def check() -> None:
        watch["timer"] = None
        if stream.closed() or not stream.writing():
            return
        if written() == watch["done"]:
            SEND_TIMEOUTS.note(f"{stream._total_write_index - written()} bytes unsent")
            stream.close()
            return
        start()

    def start() -> None:
        watch["done"] = written()
        watch["timer"] = stream.io_loop.call_later(timeout, check)

    def write_watched(data: bytes | memoryview, *args: Any, **kwargs: Any) -> Any:
        future = write(data, *args, **kwargs)
        if watch["timer"] is None and stream.writing():
            start()
        return future

    stream.write = write_watched  # type: ignore[method-assign]


def answer_unsatisfiable_reads(stream: IOStream) -> None:
    """Make `stream` answer before Tornado closes it for a line past its limit (headers over
    max_header_size, a chunk-size line over 64 bytes), which it otherwise does silently."""
    close = stream.close

    def close_answering(exc_info: Any = False) -> None:
        if isinstance(exc_info, UnsatisfiableReadError) and not stream.closed():
            headers = "\\r?\\n\\r?\\n" in str(exc_info)  # the header read's delimiter (a chunk line's is \\r\\n)
            answer = (
                malformed_http_answer(None, 431, "Request Header Fields Too Large", TOO_LONG_HEADERS)
                if headers
                else malformed_http_answer(None, desc=TOO_LONG_CHUNK_LINE)
            )
            try:
                stream.socket.send(answer)  # a few hundred bytes: fits the empty send buffer at once
            except OSError:
                pass
        close(exc_info)

    stream.close = close_answering  # type: ignore[method-assign]


def malformed_http_answer(
    error: BaseException | None, status: int = 400, status_reason: str = "Bad Request", desc: str = ""
) -> bytes:
    """A complete HTTP/1.1 error response whose JSON body names what the parser refused."""
    reason = " ".join(str(error or "").split())[:MAX_REASON] or "cannot parse the HTTP message"
    desc = desc or f"malformed HTTP request: {reason}"
    code = "BAD_REQUEST" if status == 400 else "HEADERS_TOO_LARGE"
    body = json.dumps({"code": code, "desc": desc, "detail": desc}).encode()
    head = (
        f"HTTP/1.1 {status} {status_reason}\r\n"
        "Content-Type: application/json; charset=UTF-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Throttled:
    """Counts events and logs at most one line per LOG_EVERY_S: `message` % (detail, count)."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.last = -LOG_EVERY_S
        self.count = 0

    def note(self, detail: object) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= LOG_EVERY_S:
            log.warning(self.message, detail, self.count)
            self.last, self.count = now, 0


SEND_TIMEOUTS = _Throttled(
    "closed a connection whose client took none of its answer for send_timeout seconds ([limits]): %s; "
    "%d such connection(s) since the last report"
)


def guarded_accept_handler(sock: socket.socket, callback: Callable[[socket.socket, Any], None]) -> Callable[[], None]:
    """Like tornado.netutil.add_accept_handler, pausing instead of spinning when out of descriptors."""
    io_loop = IOLoop.current()
    state = {"removed": False, "paused": False}
    throttle = _Throttled(
        "cannot accept connections: %s; %d time(s) since the last report; pausing "
        f"{PAUSE_S:g} s each time (raise LimitNOFILE or lower the number of clients)"
    )

    def resume() -> None:
        if not state["removed"] and state["paused"]:
            state["paused"] = False
            io_loop.add_handler(sock, accept, IOLoop.READ)

    def accept(fd: Any, events: int) -> None:
        for _ in range(BACKLOG_PER_WAKEUP):
            if state["removed"]:
                return
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as e:
                if e.errno not in OUT_OF_RESOURCES:
                    raise
                throttle.note(e.strerror or e)
                io_loop.remove_handler(sock)
                state["paused"] = True
                io_loop.call_later(PAUSE_S, resume)
                return
            callback(connection, address)

    def remove() -> None:
        if not state["paused"]:
            io_loop.remove_handler(sock)
        state["removed"] = True

    io_loop.add_handler(sock, accept, IOLoop.READ)
    return remove
