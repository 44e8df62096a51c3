"""Give memory back after bursts: glibc allocator settings and a periodic trim.

CPython frees large request bodies, decoded images and model buffers to glibc malloc, which
keeps much of it mapped: per-thread arenas (up to 8 x CPUs of them) and freed chunks below the
heap top are not returned. Fewer arenas (M_ARENA_MAX) and fixed mmap and trim thresholds keep
the footprint bounded, and malloc_trim(0) returns whatever free pages are left once requests have
finished. A no-op where libc is not glibc.

The thresholds are 32 MiB, above a frame's working buffers (a 1280x720 frame, its detector
blob, crops), so those are reused from the heap within a burst: at 1 MiB every such buffer was
mapped, page-faulted and unmapped on each request, which cost ~20% more CPU per 1280x720
all-attribute request (measured in-process, 62-66 vs 52-53 ms). Whole request bodies and
max_pixels images are larger and still come from mmap; the idle trim returns the rest.
"""

import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable

from tornado.ioloop import PeriodicCallback

log = logging.getLogger(__name__)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = TRIM_THRESHOLD = 32 * 1024 * 1024
ARENAS = 2
TRIM_EVERY_MS = 5000


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes, libc.mallopt.argtypes = [ctypes.c_size_t], [ctypes.c_int, ctypes.c_int]
        return libc
    except (OSError, AttributeError):
        return None


LIBC = _libc()


def tune_allocator() -> None:
    """Fewer arenas and fixed mmap and trim thresholds; call before the worker threads start."""
    if LIBC is not None:
        LIBC.mallopt(M_ARENA_MAX, ARENAS)
        LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        LIBC.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)


def trim() -> None:
    """Return free heap pages to the system."""
    if LIBC is not None:
        LIBC.malloc_trim(0)


class Trimmer:
    """Every TRIM_EVERY_MS, once requests have finished since the last look and the inference pool
    has no work, collects garbage and trims. Tornado's handler, request and connection objects form
    reference cycles, so a finished request's body is only freed by the cycle collector, which an
    idle process never triggers: without the collect, a burst's bodies would stay in memory.
    Requests still waiting on a URL fetch or a slow client do not hold the trim back: only work in
    the pool allocates much, and a 10 s fetch timeout would otherwise keep a burst's memory."""

    def __init__(self, finished: Callable[[], int], in_flight: Callable[[], int]) -> None:
        self.finished, self.in_flight = finished, in_flight  # in_flight: work items in the pool
        self.seen = finished()
        self.callback = PeriodicCallback(self.tick, TRIM_EVERY_MS)

    def tick(self) -> None:
        count = self.finished()
        if count != self.seen and not self.in_flight():
            self.seen = count
            gc.collect()
            trim()

    def start(self) -> None:
        self.callback.start()

    def stop(self) -> None:
        self.callback.stop()
