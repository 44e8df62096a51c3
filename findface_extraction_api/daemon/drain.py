"""Graceful drain: count requests in flight, stop accepting, let them finish within a deadline.

`InFlight` wraps the application as Tornado's HTTPServerConnectionDelegate. Tornado starts a
request delegate while it waits on an idle keep-alive connection, so a request is counted from
its headers, and until its handler finishes the response (or the client goes away first).
"""

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

from tornado import httputil
from tornado.httpserver import HTTPServer

from .. import metrics

log = logging.getLogger(__name__)


class InFlight(httputil.HTTPServerConnectionDelegate):
    """The application, wrapped to count requests between their headers and the end of their response."""

    def __init__(self, app: httputil.HTTPServerConnectionDelegate):
        self.app = app
        self.count = 0
        self.finished = 0  # requests ended so far (memory.Trimmer watches it)
        self.idle = asyncio.Event()
        self.idle.set()

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        tracked = _TrackedRequest(self, request_conn)
        tracked.delegate = self.app.start_request(server_conn, tracked.connection)
        return tracked

    def on_close(self, server_conn: object) -> None:
        self.app.on_close(server_conn)

    def begin(self) -> None:
        self.count += 1
        metrics.IN_FLIGHT.inc()
        self.idle.clear()

    def end(self) -> None:
        self.count -= 1
        metrics.IN_FLIGHT.dec()
        self.finished += 1
        if not self.count:
            self.idle.set()


def track(server: HTTPServer) -> InFlight:
    """Make `server` count its requests in flight; returns the counter."""
    app = server.request_callback
    assert isinstance(app, httputil.HTTPServerConnectionDelegate)  # a tornado Application
    in_flight = InFlight(app)
    server.request_callback = in_flight
    return in_flight


async def drain(
    server: HTTPServer, in_flight: InFlight, timeout: float, cut_short: asyncio.Future | None = None
) -> bool:
    """Stop accepting, wait up to `timeout` s (or until `cut_short` is done) for the requests in flight,
    then close every connection. True if all requests finished."""
    server.stop()  # closes the listening sockets: new connections are refused from here on
    try:  # requests arriving on kept-alive connections are still served, with Connection: close
        server.conn_params.no_keep_alive = True
    except AttributeError:
        pass
    waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(in_flight.idle.wait())]
    if cut_short is not None:
        waiters.append(cut_short)
    await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    waiters[0].cancel()
    unfinished = in_flight.count
    if unfinished:
        log.warning("closing %d unfinished request(s)", unfinished)
    await server.close_all_connections()
    return not unfinished


async def until_signalled(
    server: HTTPServer,
    in_flight: InFlight,
    timeout: float,
    on_signal: Callable[[signal.Signals], None] = lambda signum: None,
    signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT),
) -> signal.Signals:
    """Wait for one of `signals`, then drain: the requests in flight get `timeout` seconds, a
    second signal cuts the wait short. Returns the signal that stopped the server."""
    received: asyncio.Queue[signal.Signals] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    for signum in signals:
        loop.add_signal_handler(signum, received.put_nowait, signum)
    try:
        first = await received.get()
        on_signal(first)
        log.info(
            "stopping (%s): %d request(s) in flight, waiting up to %g s for them", first.name, in_flight.count, timeout
        )
        second = asyncio.ensure_future(received.get())
        await drain(server, in_flight, timeout, cut_short=second)
        second.cancel()
        return first
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


class _TrackedRequest(httputil.HTTPMessageDelegate):
    def __init__(self, tracker: InFlight, request_conn: httputil.HTTPConnection):
        self.tracker = tracker
        self.delegate: httputil.HTTPMessageDelegate | None = None
        self.active = False
        self.connection = NotifyingConnection(request_conn, self.done)

    def done(self) -> None:
        if self.active:
            self.active = False
            self.tracker.end()

    def headers_received(self, start_line: Any, headers: httputil.HTTPHeaders) -> Any:
        self.active = True
        self.tracker.begin()
        assert self.delegate is not None
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        assert self.delegate is not None
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        assert self.delegate is not None
        return self.delegate.finish()

    def on_connection_close(self) -> None:
        try:
            if self.delegate is not None:
                self.delegate.on_connection_close()
        finally:
            self.done()


class NotifyingConnection(httputil.HTTPConnection):
    """The request's HTTPConnection as the application sees it: finish() also ends the count."""

    def __init__(self, connection: httputil.HTTPConnection, on_finish: Any):
        self._connection = connection
        self._on_finish = on_finish

    def write_headers(self, start_line: Any, headers: httputil.HTTPHeaders, chunk: bytes | None = None) -> Any:
        return self._connection.write_headers(start_line, headers, chunk)

    def write(self, chunk: bytes) -> Any:
        return self._connection.write(chunk)

    def finish(self) -> None:
        try:
            return self._connection.finish()
        finally:
            self._on_finish()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)
