"""Keep the daemon's large, short-lived buffers out of the C heap, so its RSS stays flat.

A `/metrics` body is about 2 MB at 100 targets, rendered every few seconds, and the API's
answers are decoded from buffers of similar sizes. glibc serves blocks this large with mmap and
gives them back when freed, but after the first such free it raises its mmap threshold to that
size (up to 32 MB), so the next ones come from the heap, where freed space stays mapped and
fragments: at 100 targets RSS swung by 8 % within a minute and crept past 80 MB
(`benchmarks/memory.py`). Setting the threshold (and the trim threshold) explicitly turns the
adjustment off, as `MALLOC_MMAP_THRESHOLD_` in the environment would, but also where the
daemon is not started by our image. Elsewhere than glibc (musl, macOS) nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util

from watchdog.log import get_logger

__all__ = ["MMAP_THRESHOLD", "tune_allocator"]

log = get_logger(__name__)

# glibc's own default, before its dynamic adjustment: blocks from 128 KiB up are mmapped.
MMAP_THRESHOLD = 128 * 1024
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_allocator() -> bool:
    """Fix glibc's mmap and trim thresholds; False where there is no glibc `mallopt`."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
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
