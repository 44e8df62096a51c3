"""Serve until told to stop: load and warm up the service, listen, notify systemd, reload on
SIGHUP, drain on SIGTERM/SIGINT.

Start-up: models load (sha256-checked), the server listens (GET /health answers, /ready is 503
"starting"), one warm-up inference runs through every model, then /ready turns 200 and systemd
gets READY=1. SIGHUP (systemctl reload) re-reads the configuration and applies what a running
process can change; a bad file is logged and the running configuration kept. SIGTERM marks the
service draining (/ready 503), stops accepting connections and lets requests in flight finish
for at most DRAIN_TIMEOUT seconds; a second signal cuts that short.
"""

import asyncio
import logging
import os
import signal
from collections.abc import Callable

from tornado import httputil
from tornado.httpserver import HTTPServer

from .. import metrics
from ..config import ConfigError, Settings
from ..server import Service, make_app, make_metrics_app, versions
from . import drain, logs, memory, systemd
from .admission import Admission
from .listener import MAX_HEADER_SIZE, GuardedHTTPServer

log = logging.getLogger("findface_extraction_api")

DRAIN_TIMEOUT = 10.0  # seconds given to in-flight requests on shutdown (systemd unit: TimeoutStopSec=30)


async def serve(settings: Settings, reload: Callable[[], Settings]) -> int:
    """Run the daemon; `reload` reads the configuration again. Returns the exit status (0 after a clean stop)."""
    log.info("starting findface-extraction-api %s", " ".join(f"{k} {v}" for k, v in versions().items()))
    log.info("effective settings:\n%s", settings.effective())
    if settings.license_ntls_server:
        log.info("license_ntls_server = %s is accepted for compatibility and ignored", settings.license_ntls_server)
    memory.tune_allocator()
    log.info("memory allocator: %s", memory.describe(os.environ))
    service = Service(settings)
    log.info("models from %s: %s", service.bundle.root, service.bundle.versions())
    log.info("%d model instance(s) x %d thread(s) on %d CPU(s)", service.instances, service.threads, service.cpus)
    separate_metrics = settings.metrics_enabled and settings.metrics_listen is not None
    admission = Admission(
        make_app(service, with_metrics=settings.metrics_enabled and not separate_metrics),
        settings.max_body_size,
        settings.buffered_bodies,
        discard_limit=4 * settings.max_body_size,
    )
    server = guarded_server(admission, settings, 4 * settings.max_body_size)  # Admission answers first: a backstop
    server.listen(settings.listen_port, settings.listen_host or None)
    log.info("listening on %s:%d", settings.listen_host or "*", settings.listen_port)
    metrics_server = None
    if separate_metrics and settings.metrics_listen is not None:
        metrics_server = guarded_server(make_metrics_app(), settings, 1024)  # was a bare HTTPServer: no timeouts
        metrics_server.listen(settings.metrics_listen[1], settings.metrics_listen[0] or None)
        log.info("metrics on %s:%d/metrics", *settings.metrics_listen)
    in_flight = drain.track(server)
    trimmer = memory.Trimmer(lambda: in_flight.finished, lambda: service.pending)
    trimmer.start()

    def stopping(signum: signal.Signals) -> None:
        service.state = "draining"
        metrics.READY.set(0)
        systemd.notify("STOPPING=1\nSTATUS=draining")

    def reloaded() -> None:
        systemd.notify("RELOADING=1\nSTATUS=reloading the configuration")
        try:
            new = reload()
        except ConfigError as e:
            log.error("reload failed, the running configuration stays: %s", e)
        else:
            changed = service.settings.changed(new)
            restart = service.apply(new)
            admission.max_body_size, admission.buffered_bodies = new.max_body_size, new.buffered_bodies
            log.info("configuration reloaded: %s changed", ", ".join(changed) or "nothing")
            if restart:
                log.warning("these changed keys take effect only after a restart: %s", ", ".join(restart))
            logs.apply(new.log_level, new.access_log)  # last, so the lines above follow the old level
        finally:  # systemd waits for it after RELOADING=1, whatever happened
            systemd.notify(f"READY=1\nSTATUS={status(settings)}")

    loop = asyncio.get_running_loop()
    stopper = asyncio.ensure_future(drain.until_signalled(server, in_flight, DRAIN_TIMEOUT, stopping))
    try:
        try:
            await service.run(service.warm_up)
        except Exception as e:  # a model that loads but cannot run: not a service to put traffic on
            log.error("warm-up inference failed: %s", e)
            stopper.cancel()
            await server.close_all_connections()
            return 1
        if not stopper.done():
            service.state = "ready"
            metrics.READY.set(1)
            loop.add_signal_handler(signal.SIGHUP, reloaded)
            log.info("ready")
            systemd.notify(f"READY=1\nSTATUS={status(settings)}")
        await stopper
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        trimmer.stop()
        if metrics_server is not None:
            metrics_server.stop()
        service.close()
    log.info("stopped")
    return 0


def guarded_server(app: httputil.HTTPServerConnectionDelegate, settings: Settings, max_body_size: int) -> HTTPServer:
    """An HTTP server with the configured client timeouts and the guarded accept loop."""
    return GuardedHTTPServer(
        app,
        max_body_size=max_body_size,
        max_header_size=MAX_HEADER_SIZE,
        idle_connection_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        send_timeout=settings.send_timeout,
    )


def status(settings: Settings) -> str:
    return f"ready on {settings.listen_host or '*'}:{settings.listen_port}"
