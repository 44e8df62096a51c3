"""What the protocol adapters may use of the running service (server.Service provides it).

A Protocol, so the adapters depend on this small surface and not on the module that builds it:
the pipeline, the URL fetcher, the decoder with its size budget, the worker pool, a banner.
"""

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import numpy as np

from ..pipeline import Pipeline
from ..sources.fetch import Fetcher

T = TypeVar("T")


class Service(Protocol):
    pipeline: Pipeline
    fetcher: Fetcher

    def decode(self, data: bytes) -> np.ndarray:
        """An upright BGR image within the configured size budget; sources' errors otherwise."""
        ...

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run CPU-bound work in the inference pool, off the event loop."""
        ...

    def describe(self) -> dict[str, Any]:
        """A banner: name, version, models."""
        ...
