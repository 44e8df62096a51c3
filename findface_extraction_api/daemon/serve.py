"""Serve until told to stop: load the service, listen, notify systemd, drain on SIGTERM/SIGINT."""

import logging

from tornado.httpserver import HTTPServer

from ..config import Settings
from ..server import Service, make_app
from . import drain, systemd

log = logging.getLogger("findface_extraction_api")

MAX_BODY_SIZE = 100 * 1024 * 1024
DRAIN_TIMEOUT = 10.0  # seconds given to in-flight requests on shutdown (systemd unit: TimeoutStopSec=30)


async def serve(settings: Settings) -> int:
    """Run the daemon; returns the exit status (0 after a clean stop).

    Shutdown: SIGTERM (systemctl stop) or SIGINT stops accepting connections and lets the
    requests already received finish, for at most DRAIN_TIMEOUT seconds; a second signal cuts
    the wait short. Then every connection is closed and the process exits 0.
    """
    if settings.license_ntls_server:
        log.info(
            "license_ntls_server = %s is accepted for compatibility and ignored: no licence server is needed",
            settings.license_ntls_server,
        )
    service = Service(settings)
    log.info("models from %s: %s", service.bundle.root, service.bundle.versions())
    log.info("%d model instance(s) x %d thread(s) on %d CPU(s)", service.instances, service.threads, service.cpus)
    server = HTTPServer(make_app(service), max_body_size=MAX_BODY_SIZE)
    server.listen(settings.listen_port, settings.listen_host or None)
    log.info("listening on %s:%d", settings.listen_host or "*", settings.listen_port)
    in_flight = drain.track(server)
    systemd.notify(f"READY=1\nSTATUS=listening on {settings.listen_host or '*'}:{settings.listen_port}")
    await drain.until_signalled(
        server, in_flight, DRAIN_TIMEOUT, lambda signum: systemd.notify("STOPPING=1\nSTATUS=stopping")
    )
    service.close()
    log.info("stopped")
    return 0
