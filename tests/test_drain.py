"""Graceful drain, in process: a request in flight when SIGTERM arrives completes; new connections are refused."""

import asyncio
import os
import signal
import socket

import pytest
from tornado import httpclient, netutil, web
from tornado.httpserver import HTTPServer

from findface_extraction_api.daemon import drain

pytestmark = pytest.mark.unit


class Slow(web.RequestHandler):
    started: asyncio.Event

    async def get(self) -> None:
        Slow.started.set()
        await asyncio.sleep(1.0)
        self.write("done")


def refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


async def serve_slow(timeout: float) -> tuple[object, signal.Signals, bool, int]:
    Slow.started = asyncio.Event()
    server = HTTPServer(web.Application([("/", Slow)]))
    (sock,) = netutil.bind_sockets(0, "127.0.0.1")
    port = sock.getsockname()[1]
    server.add_sockets([sock])
    in_flight = drain.track(server)
    client = httpclient.AsyncHTTPClient(force_instance=True)
    response = asyncio.ensure_future(client.fetch(f"http://127.0.0.1:{port}/", raise_error=False, request_timeout=10))
    stopper = asyncio.ensure_future(drain.until_signalled(server, in_flight, timeout))
    await Slow.started.wait()
    assert in_flight.count == 1
    os.kill(os.getpid(), signal.SIGTERM)
    signum = await stopper
    closed = refused(port)
    try:
        answer: object = await response
    except httpclient.HTTPClientError as e:  # the connection closed before a response
        answer = e
    client.close()
    return answer, signum, closed, in_flight.count


def test_sigterm_lets_the_request_in_flight_finish_and_refuses_new_connections():
    answer, signum, closed, left = asyncio.run(serve_slow(timeout=10))
    assert signum == signal.SIGTERM
    assert answer.code == 200 and answer.body == b"done"
    assert closed, "the listening socket is still open after the drain"
    assert left == 0


def test_the_drain_deadline_cuts_a_request_that_takes_too_long():
    answer, _, closed, left = asyncio.run(serve_slow(timeout=0.2))
    assert closed
    assert isinstance(answer, httpclient.HTTPClientError)  # closed by the server after the 0.2 s deadline
    assert left == 1
