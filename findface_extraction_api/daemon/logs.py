"""Logging operators can filter: journald with real priorities under systemd, stderr otherwise.

Under systemd (its JOURNAL_STREAM names our stderr) python-systemd's JournalHandler sends each
record with its syslog priority (ERROR -> 3, WARNING -> 4, INFO -> 6) and structured fields
(REQUEST_ID, ROUTE, CODE, DURATION_MS on access lines), so `journalctl -p warning` shows what
matters. Elsewhere, or without python-systemd, records go to stderr as `LEVEL logger: message`.
The level and the access log can change at run time (SIGHUP reload).
"""

import importlib
import logging
import os
import sys

ROOT = "findface_extraction_api"
ACCESS = "findface_extraction_api.access"
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def under_journald() -> bool:
    """True when stderr is the journal stream systemd gave us (JOURNAL_STREAM is device:inode)."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(v) for v in stream.split(":"))
        info = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError):
        return False
    return (info.st_dev, info.st_ino) == (device, inode)


def handler() -> logging.Handler:
    if under_journald():
        try:
            journal = importlib.import_module("systemd.journal")
            # The units' SyslogIdentifier covers stderr only; records sent to the journal directly carry
            # this one (the template unit sets it per instance).
            identifier = os.environ.get("FFEA_LOG_IDENTIFIER", "findface-extraction-api")
            return journal.JournalHandler(SYSLOG_IDENTIFIER=identifier)
        except ImportError:
            pass
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    return stream


def setup(level: str = "info", access_log: bool = True) -> None:
    """One handler on the root logger; our loggers at `level`, tornado's quieter."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler())
    root.setLevel(logging.WARNING)  # libraries: warnings and errors only
    logging.getLogger("tornado.general").setLevel(logging.WARNING)
    apply(level, access_log)


def apply(level: str, access_log: bool) -> None:
    """Set our log level and switch the access log; safe to call again on reload."""
    logging.getLogger(ROOT).setLevel(LEVELS.get(level, logging.INFO))
    logging.getLogger(ACCESS).disabled = not access_log
