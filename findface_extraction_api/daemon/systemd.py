"""sd_notify for Type=notify units: python-systemd when installed, else the documented datagram."""

import importlib
import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(state: str) -> None:
    """Send `state` (e.g. "READY=1") to systemd; a no-op outside systemd (no $NOTIFY_SOCKET).

    A failure to notify is logged, never fatal."""
    try:
        daemon = importlib.import_module("systemd.daemon")  # python-systemd, optional
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
