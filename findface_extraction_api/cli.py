"""`findface-extraction-api`: read the config, load the models, serve, tell systemd we are ready."""

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys

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
    if settings.quality_estimator:
        log.warning("quality_estimator = true is not implemented yet: detection_score stays the detector's confidence")
    service = Service(settings)
    log.info("models from %s: %s", service.bundle.root, service.bundle.describe())
    log.info("%d model instance(s) x %d thread(s) on %d CPU(s)", service.instances, service.threads, service.cpus)
    server = HTTPServer(make_app(service), max_body_size=MAX_BODY_SIZE)
    server.listen(settings.listen_port, settings.listen_host or None)
    log.info("listening on %s:%d", settings.listen_host or "*", settings.listen_port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    notify_systemd("READY=1")
    await stop.wait()
    log.info("stopping")
    notify_systemd("STOPPING=1")
    server.stop()
    await server.close_all_connections()
    service.close()
    return 0


def notify_systemd(state):
    """sd_notify: python-systemd when installed, else the documented datagram to $NOTIFY_SOCKET."""
    try:
        from systemd import daemon
    except ImportError:
        address = os.environ.get("NOTIFY_SOCKET")
        if not address:
            return
        if address.startswith("@"):
            address = "\0" + address[1:]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(state.encode(), address)
    else:
        daemon.notify(state)


if __name__ == "__main__":
    sys.exit(main())
