"""Prometheus metrics (prometheus_client), on one registry the daemon serves at GET /metrics.

Names follow Prometheus conventions: `ffea_` prefix, base units (`_seconds`, `_bytes`),
counters end in `_total`. The process collector adds RSS, CPU seconds and open descriptors.
Every layer may record here; nothing here imports the rest of the package.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

INFO = Info("ffea_build", "Version of the daemon and of its main libraries.", registry=REGISTRY)
REQUESTS = Counter(
    "ffea_http_requests_total",
    "HTTP requests answered, by protocol (extraction, imageapi, ops), route and outcome (ok or the error code).",
    ["protocol", "route", "code"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "ffea_http_request_duration_seconds",
    "Whole HTTP request time, from headers to response, by protocol.",
    ["protocol"],
    buckets=LATENCY,
    registry=REGISTRY,
)
IMAGES = Counter(
    "ffea_images_total",
    "Images (FindFace requests or Image API samples) processed, by protocol and outcome (ok or the error code).",
    ["protocol", "code"],
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "ffea_stage_duration_seconds",
    "Time per pipeline stage: queue_wait, decode, detect, landmarks, quality, normalize, facen, gender, age, "
    "emotions, liveness; Image API: mesh, qaa, bodies.",
    ["stage"],
    buckets=LATENCY,
    registry=REGISTRY,
)
FACES = Histogram(
    "ffea_faces_per_image",
    "Faces found (or given, for Image API estimators) per image.",
    buckets=(0, 1, 2, 3, 5, 10, 20, 50, 100, 250),
    registry=REGISTRY,
)
IN_FLIGHT = Gauge("ffea_http_requests_in_flight", "HTTP requests received and not yet answered.", registry=REGISTRY)
QUEUED = Gauge("ffea_work_queued", "Images waiting for a worker.", registry=REGISTRY)
BUSY = Gauge("ffea_workers_busy", "Workers running an image now.", registry=REGISTRY)
WORKERS = Gauge("ffea_workers", "Workers (model_instances).", registry=REGISTRY)
BUSY_SECONDS = Counter(
    "ffea_worker_busy_seconds_total",
    "Seconds workers spent on images; rate() / ffea_workers is the utilisation.",
    registry=REGISTRY,
)
FETCHES = Counter(
    "ffea_fetch_total",
    "URL fetches by outcome (ok, refused, too_large, http_error, failed).",
    ["outcome"],
    registry=REGISTRY,
)
FETCH_BYTES = Counter("ffea_fetch_bytes_total", "Bytes of images downloaded from URLs.", registry=REGISTRY)
DECODE_REFUSALS = Counter(
    "ffea_decode_refusals_total",
    "Images refused before or while decoding, by reason (decode_failed, too_large, envelope_budget).",
    ["reason"],
    registry=REGISTRY,
)
ADMISSION_REFUSALS = Counter(
    "ffea_admission_refusals_total",
    "Requests refused at the HTTP layer by status (413 body too large, 503 body budget full).",
    ["status"],
    registry=REGISTRY,
)
MODEL_LOAD_SECONDS = Gauge(
    "ffea_model_load_seconds",
    "Seconds it took to load and check each model at start-up.",
    ["model"],
    registry=REGISTRY,
)
READY = Gauge("ffea_ready", "1 when the daemon is ready for traffic, 0 while starting or draining.", registry=REGISTRY)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time a block as one pipeline stage."""
    started = time.perf_counter()
    try:
        yield
    finally:
        STAGE_SECONDS.labels(name).observe(time.perf_counter() - started)
