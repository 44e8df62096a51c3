"""The running service: settings, loaded models, the inference pool, and the Tornado app."""

import asyncio
import concurrent.futures
import logging

import cv2
from tornado import web

from . import __version__, pipeline
from .api import imageapi
from .api.extraction import ExtractionHandler
from .api.handler import NotFoundHandler
from .config import cpu_count
from .models import liveness
from .models.runtime import Bundle
from .sources import Fetcher

log = logging.getLogger(__name__)


class Service:
    """Everything a request needs, built once at start-up.

    `model_instances` workers run inference concurrently, and each onnxruntime session gets
    cpus // instances threads, so the threads in use never exceed the CPUs we may use.
    """

    def __init__(self, settings):
        self.settings = settings
        self.cpus = cpu_count()
        self.instances = settings.model_instances or self.cpus
        self.threads = max(1, self.cpus // self.instances)
        cv2.setNumThreads(self.threads)
        self.bundle = Bundle(settings.models_root)
        self.models = pipeline.Models(self.bundle, self.threads, liveness_threshold=settings.liveness_threshold)
        if self.models.liveness is None:
            log.warning("liveness: not installed (need_liveness and face-detector-liveness-estimator will "
                        "answer with an error): %s", liveness.PACK_HINT)
        else:
            log.info("liveness: MiniFASNet pack installed, threshold %.2f", settings.liveness_threshold)
        self.executor = concurrent.futures.ThreadPoolExecutor(self.instances, thread_name_prefix="inference")
        self.fetcher = Fetcher(settings)

    async def run(self, function, *args):
        """Run CPU-bound work in the inference pool, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    def describe(self):
        return {"name": "findface-extraction-api", "version": __version__,
                "detectors": list(pipeline.DETECTORS), "models": self.bundle.describe(),
                "model_instances": self.instances, "threads_per_instance": self.threads}

    def close(self):
        self.fetcher.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


def make_app(service):
    return web.Application([(r"/", ExtractionHandler, {"service": service}), *imageapi.routes(service)],
                           default_handler_class=NotFoundHandler, serve_traceback=False)
