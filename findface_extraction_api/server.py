"""The running service: models, pipeline, fetcher, decoder and worker pool built from Settings, and the app.

This is the one place that reads Settings for the request path: the adapters get a Service
(api/service.py says what they may use) and never see the configuration or the models.
"""

import asyncio
import collections
import concurrent.futures
import functools
import logging
import os
import platform
import time
from collections.abc import Callable
from typing import Any, TypeVar

import cv2
import numpy as np
import onnxruntime as ort
import tornado
from tornado import web

from . import __version__, metrics
from .api import imageapi, static
from .api.extraction import DETECTORS, ExtractionHandler
from .api.handler import NotFoundHandler
from .api.ops import HealthHandler, MetricsHandler, ReadyHandler
from .api.service import RequestLimits
from .config import Settings
from .models import bf16, liveness
from .models.runtime import Bundle, Runtime, cpu_count
from .pipeline import Models, Options, Pipeline, Thresholds
from .sources import decode
from .sources.errors import DecodeFailed, ImageTooLarge
from .sources.fetch import Fetcher, FetchPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")


def fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy(
        enabled=settings.fetch_enabled,
        size_limit=settings.fetch_size_limit,
        allow_private_addresses=settings.fetch_allow_private_addresses,
        allowed_networks=settings.fetch_allowed_networks,
        connect_timeout=settings.fetch_connect_timeout,
        timeout=settings.fetch_timeout,
        max_concurrent=settings.fetch_max_concurrent,
        max_queued=settings.fetch_max_queued,
    )


# Keys a reload (SIGHUP) cannot apply to the running process: they need a restart.
RESTART_KEYS = {
    "listen",
    "models_root",
    "model_instances",
    "age.model",
    "emotions.model",
    "metrics.enabled",
    "metrics.listen",
    "limits.header_timeout",
    "limits.body_timeout",
    "limits.send_timeout",
    "fetch.max_concurrent",
    "facen.model",
    "facen.precision",
    "attributes.precision",
    "demo.enabled",  # the routes are built once
}


class Service:
    """Everything a request needs, built once at start-up.

    `model_instances` workers run inference concurrently, and each onnxruntime session gets
    cpus // instances threads, so the threads in use never exceed the CPUs we may use.
    `state` is starting, then ready after `warm_up`, then draining (GET /ready follows it).
    """

    def __init__(self, settings: Settings):
        self.state = "starting"
        self.pending = 0  # work items submitted to the inference pool and not yet done
        self.settings = settings
        self.cpus = cpu_count()
        self.instances = settings.model_instances or self.cpus
        self.threads = max(1, self.cpus // self.instances)
        cv2.setNumThreads(self.threads)
        self.bundle = Bundle(settings.models_root)
        precision, why = bf16.resolve(settings.facen_precision, "facen")
        log.info("facen: %s inference (%s)", precision, why)
        attribute_precision, why = bf16.resolve(settings.attribute_precision, "attributes")
        log.info("age, gender and emotions: %s inference (%s)", attribute_precision, why)
        models = Models(
            Runtime(self.bundle, self.threads, self.instances),
            workers=self.instances,
            age=settings.age_model,
            emotions=settings.emotions_model,
            facen=settings.facen_model,
            facen_precision=precision,
            attribute_precision=attribute_precision,
        )
        self.pipeline = Pipeline(models)
        if self.pipeline.models.liveness is None:
            log.warning(
                "liveness: not installed (need_liveness and face-detector-liveness-estimator will "
                "answer with an error): %s",
                liveness.PACK_HINT,
            )
        self.pool = FairPool(self.instances)
        self.fetcher = Fetcher(fetch_policy(settings))
        self.apply(settings)
        metrics.WORKERS.set(self.instances)
        metrics.INFO.info(versions())

    def apply(self, settings: Settings) -> list[str]:
        """Take the settings a running service can change; returns the changed keys that need a restart."""
        changed = self.settings.changed(settings)
        self.settings = settings
        self.pipeline.min_face_size, self.pipeline.max_face_size = settings.min_face_size, settings.max_face_size
        self.pipeline.max_faces = settings.max_faces
        self.pipeline.quality_scores = settings.quality_estimator
        self.pipeline.thresholds = Thresholds.for_facen(
            self.pipeline.models.facen_name, real=settings.liveness_threshold
        )
        self.fetcher.policy = fetch_policy(settings)
        self.budget = decode.Budget(settings.max_dimension, settings.max_pixels)
        self.limits = RequestLimits(
            settings.envelope_pixels, settings.max_objects, self.instances, settings.envelope_normalized
        )
        self.cors_origins = settings.allow_cors
        return [key for key in changed if key in RESTART_KEYS]

    def warm_up(self) -> None:
        """Run every model once on generated images, so the first client does not pay for it and
        /ready means the whole pipeline works."""
        frame = np.full((480, 640, 3), 128, np.uint8)
        cv2.circle(frame, (320, 240), 120, (90, 120, 160), -1)
        everything = Options(facen=True, gender=True, age=True, emotions=True, crop=True)
        self.pipeline.extract(frame, everything)
        self.pipeline.extract(
            frame[:256, :256], Options(detector="prenormalized", facen=True, gender=True, age=True, emotions=True)
        )
        self.pipeline.extract(frame, Options(detector="hog"))
        if self.pipeline.models.liveness is not None:
            self.pipeline.describe_boxes(frame, [np.array([200.0, 120.0, 440.0, 360.0])], Options(liveness=True))

    def probe(self, data: bytes) -> decode.Probe:
        return counted(decode.probe, data, self.budget)

    def decode(self, data: bytes) -> np.ndarray:
        with metrics.stage("decode"):
            return counted(decode.decode, data, self.budget)

    async def run(self, function: Callable[..., T], *args: Any, client: str = "") -> T:
        """Run CPU-bound work in the inference pool, off the event loop (timed and counted), in
        turn with the work of other clients (`client`: the address it came from)."""
        submitted = time.perf_counter()
        metrics.QUEUED.inc()
        self.pending += 1

        def work() -> T:
            started = time.perf_counter()
            metrics.QUEUED.dec()
            metrics.STAGE_SECONDS.labels("queue_wait").observe(started - submitted)
            metrics.BUSY.inc()
            try:
                return function(*args)
            finally:
                metrics.BUSY.dec()
                metrics.BUSY_SECONDS.inc(time.perf_counter() - started)

        try:
            return await self.pool.run(work, client)
        finally:
            self.pending -= 1

    def describe(self) -> dict[str, Any]:
        return {
            "name": "findface-extraction-api",
            "version": __version__,
            "detectors": list(DETECTORS),
            "models": self.bundle.versions(),
            "facen": self.pipeline.facen_identity(),
            "attributes": {"precision": self.pipeline.models.attribute_precision},
            "model_instances": self.instances,
            "threads_per_instance": self.threads,
        }

    def close(self) -> None:
        self.fetcher.close()
        self.pool.shutdown()


class FairPool:
    """The inference threads, given work round-robin across clients.

    A ThreadPoolExecutor starts work in the order it was submitted, so a client with many
    connections went ahead of everyone who came after it (each envelope keeps up to `workers`
    items queued): 13 connections of crowd photos made a one-face request wait 72 s. Here the
    executor only ever holds as many items as it has threads; when one finishes, the next item
    comes from the client after the one last served, each client's items in their own order.
    A client is its address: behind a proxy every request is the proxy's, and this is FIFO again.
    """

    def __init__(self, workers: int):
        self.executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="inference")
        self.free = workers
        self.waiting: dict[str, collections.deque[tuple[Callable[[], Any], asyncio.Future[Any]]]] = {}

    async def run(self, function: Callable[[], T], client: str) -> T:
        """`function()` in a worker thread once it is `client`'s turn."""
        turn: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(client, collections.deque()).append((function, turn))
        self.start_next()
        return await turn

    def start_next(self) -> None:
        while self.free and self.waiting:
            client = next(iter(self.waiting))  # the longest without a turn
            queue = self.waiting.pop(client)
            function, turn = queue.popleft()
            if queue:
                self.waiting[client] = queue  # to the back of the round
            if turn.done():  # its caller was cancelled while it waited
                continue
            self.free -= 1
            running = asyncio.wrap_future(self.executor.submit(function))
            running.add_done_callback(functools.partial(self.finished, turn=turn))

    def finished(self, done: asyncio.Future[Any], *, turn: asyncio.Future[Any]) -> None:
        self.free += 1
        if not turn.done():
            if done.cancelled():
                turn.cancel()
            elif done.exception() is not None:
                turn.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                turn.set_result(done.result())
        self.start_next()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def counted(step: Callable[[bytes, decode.Budget], T], data: bytes, budget: decode.Budget) -> T:
    """Run a decode step, counting its refusals by reason."""
    try:
        return step(data, budget)
    except DecodeFailed:
        metrics.DECODE_REFUSALS.labels("decode_failed").inc()
        raise
    except ImageTooLarge:
        metrics.DECODE_REFUSALS.labels("too_large").inc()
        raise


def versions() -> dict[str, str]:
    """The daemon's version and its main libraries', for the start-up line and ffea_build_info."""
    import PIL

    return {
        "version": __version__,
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "opencv": cv2.__version__,
        "pillow": PIL.__version__,
        "tornado": tornado.version,
        "openvino": bf16.version(),
    }


def make_app(service: Service, with_metrics: bool = True) -> web.Application:
    """The API, the Image API services and the operations endpoints (GET /metrics unless served apart)."""
    ops: list[Any] = [
        (r"/health", HealthHandler, {"service": service}),
        (r"/ready", ReadyHandler, {"service": service}),
    ]
    if with_metrics:
        ops.append((r"/metrics", MetricsHandler, {"service": service}))
    if os.path.exists(static.OPENAPI):
        ops.append((r"/openapi.json", static.OpenApiHandler))
    if service.settings.demo_enabled:
        ops.append((r"/demo", static.DemoRedirectHandler))
        ops.append((r"/demo/(.*)", static.DemoHandler, {"path": static.DEMO, "default_filename": "index.html"}))
    return web.Application(
        [(r"/", ExtractionHandler, {"service": service}), *ops, *imageapi.routes(service)],
        default_handler_class=NotFoundHandler,
        serve_traceback=False,
        log_function=lambda handler: None,  # api/handler.py writes the access log
    )


def make_metrics_app() -> web.Application:
    """GET /metrics alone, for [metrics] listen on its own address."""
    return web.Application(
        [(r"/metrics", MetricsHandler)], default_handler_class=NotFoundHandler, log_function=lambda handler: None
    )
