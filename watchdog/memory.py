"""How the daemon's memory is managed: flat RSS, and no long garbage-collection pauses.

Two settings for `watchdog run`, both process-wide, so the command sets them, not the library:

- glibc's allocator. A `/metrics` body is about 2 MB at 100 targets, rendered every few
  seconds, and the API's answers are decoded from buffers of similar sizes. glibc serves blocks
  this large with mmap and gives them back when freed, but after the first such free it raises
  its mmap threshold to that size (up to 32 MB), so the next ones come from the heap, where
  freed space stays mapped and fragments: at 100 targets RSS swung by 8 % within a minute and
  crept past 80 MB (`benchmarks/memory.py`). `tune_allocator` fixes the mmap and trim
  thresholds, as `MALLOC_MMAP_THRESHOLD_` in the environment would, but also where the daemon
  is not started by our image. Elsewhere than glibc (musl, macOS) nothing is changed.
- Python's cyclic garbage collector. The state of thousands of targets is millions of objects,
  renewed poll by poll, and CPython runs a full collection whenever a quarter as many new
  objects have survived as the old generation holds: at 2,000 targets that was a 400 ms pause
  of the event loop every 7 s, and every poll due meanwhile started late (`benchmarks/scale.py`).
  `collect_on_schedule` leaves the young generations to CPython (they catch most cycles) but
  runs the full collection itself every `FULL_COLLECTION_SECONDS`, so cyclic garbage that
  reached the old generation is still freed (httpx makes a few reference cycles per request,
  about 1,000 objects a second at 2,000 targets), in one pause every two minutes: 0.7 s at
  2,000 targets, a few milliseconds at 100.
"""

from __future__ import annotations

import ctypes
import gc
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from watchdog.base.log import get_logger

__all__ = [
    "FULL_COLLECTION_SECONDS",
    "MMAP_THRESHOLD",
    "collect_on_schedule",
    "defer_full_collections",
    "full_collection",
    "tune_allocator",
]

log = get_logger(__name__)

# glibc's own default, before its dynamic adjustment: blocks from 128 KiB up are mmapped.
MMAP_THRESHOLD = 128 * 1024
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
FULL_COLLECTION_SECONDS = 120.0
# CPython starts a full collection after this many collections of the middle generation (and
# the quarter rule); this many never comes, so only `full_collection` runs one.
_NEVER = 2**30


def tune_allocator() -> bool:
    """Fix glibc's mmap and trim thresholds; False where the C library is not glibc."""
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 on error.
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    done = bool(mallopt(_M_TRIM_THRESHOLD, MMAP_THRESHOLD)) and done
    if not done:
        log.warning("allocator_not_tuned", reason="mallopt refused the thresholds")
    return done


class Housekeeping(Protocol):
    """What `collect_on_schedule` needs of the poller (`watchdog.poll.scheduler.Poller.every`)."""

    def every(self, seconds: float, job: Callable[[], Awaitable[None]], job_id: str) -> None: ...


async def full_collection() -> None:
    """One full collection, timed in the debug log."""
    started = time.perf_counter()
    freed = gc.collect()
    log.debug("gc_full_collection", freed=freed, seconds=round(time.perf_counter() - started, 3))


def defer_full_collections() -> bool:
    """CPython stops starting full collections; young ones go on as before.

    False, and nothing changed, from Python 3.14 on: its collector is incremental (no pause
    over the whole heap) and ignores the third threshold.
    """
    if sys.version_info >= (3, 14):
        return False
    # The young generations keep CPython's thresholds: collected more rarely they grow, and
    # each of their collections pauses longer (300 ms with 20,000 instead of 700).
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, _NEVER)
    return True


def collect_on_schedule(poller: Housekeeping, seconds: float = FULL_COLLECTION_SECONDS) -> None:
    """Leave full collections to a housekeeping job every `seconds` instead of CPython."""
    defer_full_collections()
    poller.every(seconds, full_collection, "gc-full-collection")
