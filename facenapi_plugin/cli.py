"""`python -m facenapi_plugin extract|enrich|plugin-path`: what facenapi would get from a running
extraction-api, printed as JSON, to check a deployment without facenapi."""

import argparse
import asyncio
import json
import os
import sys

from .errors import ExtractionError
from .extractor import ExtractionApiExtractor
from .faces import ExtractionFace, to_json
from .settings import DEFAULTS


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m facenapi_plugin", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.required = True
    for name, help_text in (("extract", "faces on a photo (a file, or an http(s) URL the service fetches)"),
                            ("enrich", "facen (and with --gae gender, age, emotions) of a normalized face PNG")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("image")
        command.add_argument("--url", default=DEFAULTS["extraction_api_url"], help="extraction_api_url")
        command.add_argument("--gae", action="store_true", help="gender, age and emotions too")
        command.add_argument("--timeout", type=float, help="both timeouts, seconds (default 10)")
        if name == "extract":
            command.add_argument("--detector", choices=("nnd", "legacy"), help="extraction_api_detector")
            command.add_argument("--bbox", help="left,top,right,bottom: only the face there")
    commands.add_parser("plugin-path", help="the file to link into one of facenapi's plugins_dirs")
    return parser.parse_args(argv)


async def run(args):
    extractor = ExtractionApiExtractor(extraction_api_url=args.url, gae=args.gae,
                                       extraction_api_connect_timeout=args.timeout,
                                       extraction_api_request_timeout=args.timeout)
    try:
        if args.command == "extract":
            photo = args.image if args.image.startswith(("http://", "https://")) else read(args.image)
            bbox = [float(v) for v in args.bbox.split(",")] if args.bbox else None
            return await extractor.extract(photo, bbox=bbox, detector=args.detector)
        return await extractor.enrich([ExtractionFace(normalized=read(args.image))])
    finally:
        extractor.close()


def run_sync(coroutine):
    """asyncio.run where it exists (3.7+); the loop's run_until_complete on older Pythons."""
    runner = getattr(asyncio, "run", None) or asyncio.get_event_loop().run_until_complete
    return runner(coroutine)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "plugin-path":
        print(os.path.join(os.path.dirname(os.path.abspath(__file__)), "facenapi_entry.py"))
        return 0
    try:
        faces = run_sync(run(args))
    except ExtractionError as e:
        print(json.dumps({"code": e.code, "desc": e.desc, "param": e.param}), file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:  # an unreadable file, a malformed --bbox: a line, not a traceback
        print("python -m facenapi_plugin: error: {}".format(e), file=sys.stderr)
        return 2
    print(json.dumps([to_json(face) for face in faces], indent=2))
    return 0
