"""Give memory back after bursts: glibc allocator settings and a periodic trim.

CPython frees large request bodies, decoded images and model buffers to glibc malloc, which
keeps much of it mapped: per-thread arenas (up to 8 x CPUs of them) and freed chunks below the
heap top are not returned. Fewer arenas (M_ARENA_MAX) and a fixed mmap threshold (allocations
over it come from mmap and are unmapped on free) keep the footprint near the working set, and
malloc_trim(0) returns whatever free pages are left once requests have finished. A no-op where
libc is not glibc.

Those large buffers (a decoded frame, the detector's input and its feature maps) are mapped and
unmapped on every request, so each request page-faults them in again, 4 KiB at a time: about 6,000
faults for a 1280x720 frame. glibc's `glibc.malloc.hugetlb=1` tunable lets them come as
transparent huge pages (2 MiB) instead; it must be in the environment when the process starts, so
the daemon re-executes itself with it (`hugepage_environment`) unless the operator set it.
"""

import ctypes
import ctypes.util
import gc
import logging
import os
import sys
from collections.abc import Callable, Mapping

from tornado.ioloop import PeriodicCallback

log = logging.getLogger(__name__)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 1024 * 1024
ARENAS = 2
TRIM_EVERY_MS = 5000
HUGEPAGE_TUNABLE = "glibc.malloc.hugetlb"
THP_SETTING = "/sys/kernel/mm/transparent_hugepage/enabled"


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


def hugepage_environment(environ: Mapping[str, str], thp_setting: str = THP_SETTING) -> dict[str, str] | None:
    """`environ` with glibc malloc's transparent-huge-page tunable added, to re-execute with; None
    where it would change nothing: the operator already set the tunable (to 0 to turn it off), the
    libc is not glibc 2.35 or later, or the kernel's THP mode is `never` (or unknown)."""
    tunables = environ.get("GLIBC_TUNABLES", "")
    if HUGEPAGE_TUNABLE in tunables:
        return None
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()  # type: ignore[union-attr]
        major, minor = (int(part) for part in version.split(".")[:2])
        with open(thp_setting, encoding="ascii") as f:
            mode = f.read()
    except (AttributeError, ValueError, OSError):
        return None
    if name != "glibc" or (major, minor) < (2, 35) or "[never]" in mode or "[" not in mode:
        return None
    return {**environ, "GLIBC_TUNABLES": ":".join(filter(None, (tunables, f"{HUGEPAGE_TUNABLE}=1")))}


def start_over_with_hugepages() -> None:
    """Re-execute this program (same PID, same arguments) with the huge-page tunable added; returns
    only where that would change nothing (`hugepage_environment`) or the exec fails."""
    environment = hugepage_environment(os.environ)
    if environment is not None and sys.executable:
        try:
            os.execve(sys.executable, sys.orig_argv, environment)
        except OSError:
            pass  # go on without: the start-up log says "no huge pages"


def describe(environ: Mapping[str, str]) -> str:
    """The allocator settings in effect, for the start-up log."""
    if LIBC is None:
        return "not glibc: allocator defaults"
    hugepages = next(
        (
            t.split("=", 1)[1]
            for t in environ.get("GLIBC_TUNABLES", "").split(":")
            if t.startswith(HUGEPAGE_TUNABLE + "=")
        ),
        None,
    )
    if hugepages == "1":
        pages = "transparent huge pages for large buffers"
    elif hugepages is None:
        pages = "no huge pages (glibc before 2.35, or transparent huge pages off in the kernel)"
    else:
        pages = f"{HUGEPAGE_TUNABLE}={hugepages} from GLIBC_TUNABLES"
    return f"{ARENAS} arenas, mmap threshold {MMAP_THRESHOLD // 1024} KiB, trim when idle, {pages}"


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
