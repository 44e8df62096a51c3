"""Operations endpoints: liveness of the process, readiness for traffic, Prometheus metrics.

GET /health answers 200 whenever the event loop runs. GET /ready answers 200 only once the
models are loaded and a warm-up inference on a generated image has run, and 503 while starting
or draining, so a balancer or Kubernetes stops sending traffic before the process stops.
GET /metrics is the Prometheus text format.
"""

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import metrics
from .handler import JsonHandler


class HealthHandler(JsonHandler):
    protocol = "ops"
    route = "/health"

    def get(self) -> None:
        self.write({"status": "ok"})


class ReadyHandler(JsonHandler):
    protocol = "ops"
    route = "/ready"

    def get(self) -> None:
        state = self.service.state if self.service is not None else "starting"
        if state != "ready":
            self.set_status(503)
            self.set_header("Retry-After", "1")
        self.write({"status": state})


class MetricsHandler(JsonHandler):
    protocol = "ops"
    route = "/metrics"

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.write(generate_latest(metrics.REGISTRY))
