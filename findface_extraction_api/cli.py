"""`findface-extraction-api`: read the config, load the models, serve, tell systemd we are ready."""

import argparse
import asyncio
import logging
import os
import sys

from . import __version__, config
from .models.runtime import BundleError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="findface-extraction-api", description=__doc__)
    parser.add_argument("--config", default=config.DEFAULT_PATH, help="configuration file (default: %(default)s)")
    parser.add_argument("--models-root", help="model bundle directory, overriding models_root from the config")
    parser.add_argument(
        "--check-config", action="store_true", help="validate the configuration, print the effective settings and exit"
    )
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
    from .daemon.serve import serve  # heavy imports (onnxruntime, cv2) after the config is good

    try:
        return asyncio.run(serve(settings))
    except BundleError as e:
        print(f"findface-extraction-api: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # e.g. the port is taken
        print(
            f"findface-extraction-api: cannot listen on {settings.listen_host}:{settings.listen_port} ({e.strerror})",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
