"""The in-process bound: the daemon's own worker-thread code, on the same threads, without HTTP.

    python bench/inprocess.py CONFIG     (then one JSON command per line on stdin)

Builds the real `Service` from the same configuration file the daemon reads (same bundle, same
model_instances and threads), warms it up, then answers each command
{"case": ..., "images": [...paths], "params": {...}, "kind": "extract"|"imageapi", "seconds": S,
"min_requests": N} with {"requests", "seconds", "latencies"}: `instances` threads call the
functions the HTTP handlers call in their worker threads (ExtractionHandler.process,
ImageApiHandler.process), back to back, until the time is up. Run with PYTHONPATH at another
checkout, it measures that checkout's code (before/after runs).

The process sets up its memory allocator the way that checkout's daemon does (daemon/memory.py:
malloc settings, and transparent huge pages where the daemon re-executes itself for them): a
request's cost depends on them, and the bound is the same code without HTTP, not other malloc
settings.
"""

import base64
import json
import sys
import threading
import time
from types import SimpleNamespace

from findface_extraction_api import config
from findface_extraction_api.api.extraction import ExtractionHandler, parse_request
from findface_extraction_api.api.imageapi.handler import ImageApiHandler
from findface_extraction_api.api.imageapi.services import SERVICES
from findface_extraction_api.server import Service

try:
    from findface_extraction_api.daemon import memory
except ImportError:  # a checkout from before daemon/memory.py: its daemon ran on glibc's defaults
    memory = None

IMAGE_SERVICE = "face-detector-template-extractor"


def worker_call(service, kind, params):
    """The function a worker thread runs for one request of this kind, given the image bytes."""
    # the handler's parts the worker code uses: the service, and the hung-up client check (the
    # in-process caller never hangs up)
    handler = SimpleNamespace(service=service, check_client=lambda: None)
    if kind == "imageapi":

        def call(data):
            body = {"_image": {"blob": base64.b64encode(data).decode("ascii"), "format": "IMAGE"}, "objects": []}
            return ImageApiHandler.process(handler, SERVICES[IMAGE_SERVICE], "v2", body, data)

        return call
    options, _ = parse_request({"image": "multipart:photo", **params})
    return lambda data: ExtractionHandler.process(handler, data, options)


def measure(service, command):
    images = [open(path, "rb").read() for path in command["images"]]
    call = worker_call(service, command["kind"], command["params"])
    call(images[0])  # warm-up
    latencies, lock, counter = [], threading.Lock(), iter(range(10**9))
    start, cpu = time.perf_counter(), time.process_time()
    deadline = start + command["seconds"]

    def loop():
        while True:
            with lock:
                n = next(counter)
            if n >= command["min_requests"] and time.perf_counter() > deadline:
                return
            t = time.perf_counter()
            call(images[n % len(images)])
            with lock:
                latencies.append(time.perf_counter() - t)

    threads = [threading.Thread(target=loop) for _ in range(service.instances)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"requests": len(latencies), "seconds": seconds, "cpu_seconds": cpu, "latencies": latencies}


def allocator_as_the_daemon() -> None:
    """The daemon's allocator set-up (cli.main and daemon/serve.py), in this checkout's version."""
    if memory is None:
        return
    getattr(memory, "start_over_with_hugepages", lambda: None)()  # checkouts from before it: no-op
    memory.tune_allocator()


def main():
    allocator_as_the_daemon()
    service = Service(config.load(sys.argv[1]))
    service.warm_up()
    print(json.dumps({"ready": True, "instances": service.instances, "threads": service.threads}), flush=True)
    for line in sys.stdin:
        print(json.dumps(measure(service, json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
