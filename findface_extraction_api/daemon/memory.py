"""Give memory back after bursts: glibc allocator settings and a periodic trim.

CPython frees large request bodies, decoded images and model buffers to glibc malloc, which
keeps much of it mapped: per-thread arenas (up to 8 x CPUs of them) and freed chunks below the
heap top are not returned. Fewer arenas (M_ARENA_MAX) and a fixed mmap threshold (allocations
over it come from mmap and are unmapped on free) keep the footprint near the working set, and
malloc_trim(0) returns whatever free pages are left once requests have finished. A no-op where
libc is not glibc.
"""

import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable

from tornado.ioloop import PeriodicCallback

log = logging.getLogger(__name__)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 1024 * 1024
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
    """Fewer arenas and a fixed mmap threshold; call before the worker threads start."""
    if LIBC is not None:
        LIBC.mallopt(M_ARENA_MAX, ARENAS)
        LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


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
