"""Serve until told to stop: load the service, listen, notify systemd, drain on SIGTERM/SIGINT."""

import logging

from ..config import Settings
from ..server import Service, make_app
from . import drain, memory, systemd
from .admission import Admission
from .listener import GuardedHTTPServer

log = logging.getLogger("findface_extraction_api")

MAX_HEADER_SIZE = 64 * 1024
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
    memory.tune_allocator()
    service = Service(settings)
    log.info("models from %s: %s", service.bundle.root, service.bundle.versions())
    log.info("%d model instance(s) x %d thread(s) on %d CPU(s)", service.instances, service.threads, service.cpus)
    app = make_app(service)
    server = GuardedHTTPServer(
        Admission(app, settings.max_body_size, settings.buffered_bodies, discard_limit=4 * settings.max_body_size),
        max_body_size=4 * settings.max_body_size,  # Admission answers first, with JSON; this is the backstop
        max_header_size=MAX_HEADER_SIZE,
        idle_connection_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
    )
    server.listen(settings.listen_port, settings.listen_host or None)
    log.info("listening on %s:%d", settings.listen_host or "*", settings.listen_port)
    in_flight = drain.track(server)
    trimmer = memory.Trimmer(lambda: in_flight.finished)
    trimmer.start()
    systemd.notify(f"READY=1\nSTATUS=listening on {settings.listen_host or '*'}:{settings.listen_port}")
    await drain.until_signalled(
        server, in_flight, DRAIN_TIMEOUT, lambda signum: systemd.notify("STOPPING=1\nSTATUS=stopping")
    )
    trimmer.stop()
    service.close()
    log.info("stopped")
    return 0
