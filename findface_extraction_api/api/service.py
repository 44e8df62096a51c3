"""What the protocol adapters may use of the running service (server.Service provides it).

A Protocol, so the adapters depend on this small surface and not on the module that builds it:
the pipeline, the URL fetcher, the decoder with its size budget, the worker pool, a banner.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from ..pipeline import Pipeline
from ..sources.decode import Probe
from ..sources.fetch import Fetcher

T = TypeVar("T")


@dataclass(frozen=True)
class RequestLimits:
    """The per-call bounds the adapters enforce ([limits] of the configuration)."""

    envelope_pixels: int = 200_000_000  # all images of one FindFace envelope together
    max_objects: int = 100  # face objects of one Image API sample
    concurrency: int = 2  # requests of one envelope in the worker pool at once (= the workers)
    envelope_normalized: int = 64 * 1024 * 1024  # bytes of `normalized` crops one envelope may answer


class Service(Protocol):
    pipeline: Pipeline
    fetcher: Fetcher
    limits: RequestLimits

    def probe(self, data: bytes) -> Probe:
        """Format and size from the header (cheap: for the event loop); sources' errors if refused."""
        ...

    def decode(self, data: bytes) -> np.ndarray:
        """An upright BGR image within the configured size budget; sources' errors otherwise."""
        ...

    async def run(self, function: Callable[..., T], *args: Any, client: str = "") -> T:
        """Run CPU-bound work in the inference pool, off the event loop, in turn with other clients'."""
        ...

    def describe(self) -> dict[str, Any]:
        """A banner: name, version, models."""
        ...
