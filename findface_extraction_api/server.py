"""The running service: models, pipeline, fetcher, decoder and worker pool built from Settings, and the app.

This is the one place that reads Settings for the request path: the adapters get a Service
(api/service.py says what they may use) and never see the configuration or the models.
"""

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import cv2
import numpy as np
from tornado import web

from . import __version__
from .api import imageapi
from .api.extraction import DETECTORS, ExtractionHandler
from .api.handler import NotFoundHandler
from .api.service import RequestLimits
from .config import Settings
from .models import liveness
from .models.runtime import Bundle, Runtime, cpu_count
from .pipeline import Models, Pipeline, Thresholds
from .sources import decode
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


class Service:
    """Everything a request needs, built once at start-up.

    `model_instances` workers run inference concurrently, and each onnxruntime session gets
    cpus // instances threads, so the threads in use never exceed the CPUs we may use.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.cpus = cpu_count()
        self.instances = settings.model_instances or self.cpus
        self.threads = max(1, self.cpus // self.instances)
        cv2.setNumThreads(self.threads)
        self.bundle = Bundle(settings.models_root)
        self.pipeline = Pipeline(
            Models(Runtime(self.bundle, self.threads)),
            settings.min_face_size,
            settings.max_face_size,
            settings.quality_estimator,
            Thresholds(real=settings.liveness_threshold),
        )
        if self.pipeline.models.liveness is None:
            log.warning(
                "liveness: not installed (need_liveness and face-detector-liveness-estimator will "
                "answer with an error): %s",
                liveness.PACK_HINT,
            )
        else:
            log.info("liveness: MiniFASNet pack installed, threshold %.2f", settings.liveness_threshold)
        self.executor = concurrent.futures.ThreadPoolExecutor(self.instances, thread_name_prefix="inference")
        self.fetcher = Fetcher(fetch_policy(settings))
        self.budget = decode.Budget(settings.max_dimension, settings.max_pixels)
        self.limits = RequestLimits(settings.envelope_pixels, settings.max_objects, self.instances)

    def probe(self, data: bytes) -> decode.Probe:
        return decode.probe(data, self.budget)

    def decode(self, data: bytes) -> np.ndarray:
        return decode.decode(data, self.budget)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run CPU-bound work in the inference pool, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    def describe(self) -> dict[str, Any]:
        return {
            "name": "findface-extraction-api",
            "version": __version__,
            "detectors": list(DETECTORS),
            "models": self.bundle.versions(),
            "model_instances": self.instances,
            "threads_per_instance": self.threads,
        }

    def close(self) -> None:
        self.fetcher.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


def make_app(service: Service) -> web.Application:
    return web.Application(
        [(r"/", ExtractionHandler, {"service": service}), *imageapi.routes(service)],
        default_handler_class=NotFoundHandler,
        serve_traceback=False,
    )
