"""`findface-extraction-api`: read the config, load the models, serve, tell systemd we are ready."""

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys

from tornado import httputil
from tornado.httpserver import HTTPServer

from . import __version__, config
from .models.runtime import BundleError

log = logging.getLogger("findface_extraction_api")

MAX_BODY_SIZE = 100 * 1024 * 1024


def main(argv=None):
    parser = argparse.ArgumentParser(prog="findface-extraction-api", description=__doc__)
    parser.add_argument("--config", default=config.DEFAULT_PATH, help="configuration file (default: %(default)s)")
    parser.add_argument("--models-root", help="model bundle directory, overriding models_root from the config")
    parser.add_argument("--check-config", action="store_true",
                        help="validate the configuration, print the effective settings and exit")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    overrides = {"models_root": os.path.abspath(args.models_root)} if args.models_root else {}
    try:
        settings = config.load(args.config, overrides)
    except config.ConfigError as e:
        print(f"findface-extraction-api: {e}", file=sys.stderr)
        return 2
    if args.check_config:
        print(settings.effective())
        return 0
    try:
        return asyncio.run(serve(settings))
    except BundleError as e:
        print(f"findface-extraction-api: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # e.g. the port is taken
        print(f"findface-extraction-api: cannot listen on {settings.listen_host}:{settings.listen_port} ({e.strerror})",
              file=sys.stderr)
        return 1


async def serve(settings):
    from .server import Service, make_app  # heavy imports (onnxruntime, cv2) after the config is good

    if settings.license_ntls_server:
        log.info("license_ntls_server = %s is accepted for compatibility and ignored: no licence server is needed",
                 settings.license_ntls_server)
    service = Service(settings)
    log.info("models from %s: %s", service.bundle.root, service.bundle.describe())
    log.info("%d model instance(s) x %d thread(s) on %d CPU(s)", service.instances, service.threads, service.cpus)
    server = HTTPServer(make_app(service), max_body_size=MAX_BODY_SIZE)
    server.listen(settings.listen_port, settings.listen_host or None)
    log.info("listening on %s:%d", settings.listen_host or "*", settings.listen_port)

    # Shutdown: SIGTERM (systemctl stop) or SIGINT stops accepting connections and lets the
    # requests already received finish, for at most DRAIN_TIMEOUT seconds; a second signal
    # cuts the wait short. Then every connection is closed and the process exits 0.
    in_flight = _InFlight(server.request_callback)
    server.request_callback = in_flight
    signals = asyncio.Queue()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, signals.put_nowait, signum)
    notify_systemd(f"READY=1\nSTATUS=listening on {settings.listen_host or '*'}:{settings.listen_port}")
    signum = await signals.get()
    notify_systemd("STOPPING=1\nSTATUS=stopping")
    server.stop()  # closes the listening socket: new connections are refused from here on
    try:  # requests arriving on kept-alive connections are still served, with Connection: close
        server.conn_params.no_keep_alive = True
    except AttributeError:
        pass
    log.info("stopping (%s): %d request(s) in flight, waiting up to %g s for them",
             signal.Signals(signum).name, in_flight.count, DRAIN_TIMEOUT)
    drained = asyncio.ensure_future(in_flight.idle.wait())
    second = asyncio.ensure_future(signals.get())
    await asyncio.wait((drained, second), timeout=DRAIN_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    second.cancel()
    drained.cancel()
    if in_flight.count:
        log.warning("closing %d unfinished request(s)", in_flight.count)
    await server.close_all_connections()
    service.close()
    log.info("stopped")
    return 0


DRAIN_TIMEOUT = 10.0  # seconds given to in-flight requests on shutdown (systemd unit: TimeoutStopSec=30)


class _InFlight(httputil.HTTPServerConnectionDelegate):
    """Wraps the application to count requests between their headers and the end of their response.

    Tornado starts a request delegate while it waits on an idle keep-alive connection, so the
    count starts at headers_received, and ends when the handler finishes its response (or the
    client goes away first)."""

    def __init__(self, app):
        self.app = app
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def start_request(self, server_conn, request_conn):
        tracked = _TrackedRequest(self, request_conn)
        tracked.delegate = self.app.start_request(server_conn, tracked.connection)
        return tracked

    def on_close(self, server_conn):
        self.app.on_close(server_conn)

    def begin(self):
        self.count += 1
        self.idle.clear()

    def end(self):
        self.count -= 1
        if not self.count:
            self.idle.set()


class _TrackedRequest(httputil.HTTPMessageDelegate):
    def __init__(self, tracker, request_conn):
        self.tracker = tracker
        self.delegate = None
        self.active = False
        self.connection = _TrackedConnection(request_conn, self.done)

    def done(self):
        if self.active:
            self.active = False
            self.tracker.end()

    def headers_received(self, start_line, headers):
        self.active = True
        self.tracker.begin()
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk):
        return self.delegate.data_received(chunk)

    def finish(self):
        return self.delegate.finish()

    def on_connection_close(self):
        try:
            return self.delegate.on_connection_close()
        finally:
            self.done()


class _TrackedConnection:
    """The request's HTTPConnection as the application sees it: finish() also ends the count."""

    def __init__(self, connection, on_finish):
        self._connection = connection
        self._on_finish = on_finish

    def finish(self):
        try:
            return self._connection.finish()
        finally:
            self._on_finish()

    def __getattr__(self, name):
        return getattr(self._connection, name)


def notify_systemd(state):
    """sd_notify: python-systemd when installed, else the documented datagram to $NOTIFY_SOCKET.

    A no-op outside systemd (no $NOTIFY_SOCKET); a failure to notify is logged, never fatal."""
    try:
        from systemd import daemon
    except ImportError:
        address = os.environ.get("NOTIFY_SOCKET")
        if not address:
            return
        if address.startswith("@"):
            address = "\0" + address[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(state.encode(), address)
        except OSError as e:
            log.warning("cannot notify systemd at %s: %s", os.environ.get("NOTIFY_SOCKET"), e)
    else:
        daemon.notify(state)


if __name__ == "__main__":
    sys.exit(main())
