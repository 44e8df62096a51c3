"""`findface-extraction-api`: read the config, load the models, serve, tell systemd we are ready."""

import argparse
import asyncio
import errno
import logging
import os
import signal
import sys
from types import FrameType

from . import __version__, config
from .daemon import logs, memory
from .models.runtime import BundleError

log = logging.getLogger("findface_extraction_api")


def _stop_before_ready(signum: int, frame: FrameType | None) -> None:
    log.info("stopping before start-up finished (%s)", signal.Signals(signum).name)
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="findface-extraction-api", description=__doc__)
    parser.add_argument("--config", default=config.DEFAULT_PATH, help="configuration file (default: %(default)s)")
    parser.add_argument("--models-root", help="model bundle directory, overriding models_root from the config")
    parser.add_argument("--listen", metavar="HOST:PORT", help="address to serve on, overriding listen from the config")
    parser.add_argument(
        "--check-config", action="store_true", help="validate the configuration, print the effective settings and exit"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
    if argv is None and not args.check_config:  # run as the program: may start over, same PID
        memory.start_over_with_hugepages()
    signal.signal(signal.SIGTERM, _stop_before_ready)  # until the daemon installs its own handlers
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload while starting: nothing to reload yet
    logs.setup()

    overrides = {"models_root": os.path.abspath(args.models_root)} if args.models_root else {}
    if args.listen:
        overrides["listen"] = args.listen
    try:
        settings = config.load(args.config, overrides)
    except config.ConfigError as e:
        log.error("%s", e)
        return 2
    if args.check_config:
        try:
            print(settings.effective(), flush=True)
        except BrokenPipeError:  # `--check-config | head`: the reader stopped early, no traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    logs.apply(settings.log_level, settings.access_log)
    from .daemon.serve import serve  # heavy imports (onnxruntime, cv2) after the config is good

    try:
        return asyncio.run(serve(settings, lambda: config.load(args.config, overrides)))
    except BundleError as e:
        log.error("%s", e)
        return 1
    except OSError as e:  # e.g. the port is taken
        log.error(
            "cannot listen on %s:%d (%s)%s",
            settings.listen_host,
            settings.listen_port,
            e.strerror,
            "; another program has this port: choose another with --listen HOST:PORT (make run LISTEN=HOST:PORT)"
            " or the listen key of the config"
            if e.errno == errno.EADDRINUSE
            else "",
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
