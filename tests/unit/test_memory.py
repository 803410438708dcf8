"""The daemon's memory policy: glibc's thresholds fixed, full collections on a schedule."""

from __future__ import annotations

import asyncio
import gc
import platform
import subprocess
import sys
import weakref

from watchdog.memory import collect_on_schedule, full_collection, tune_allocator

# Run in a fresh interpreter: the count of mmapped blocks is the whole process's, and other
# tests of this process leave threads and garbage cycles that free large buffers at any time.
_MMAP_CHECK = """
import ctypes, ctypes.util, sys
from watchdog.memory import MMAP_THRESHOLD, tune_allocator

# glibc's `struct mallinfo2`, every field a size_t.
FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
          "fordblks", "keepcost")

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = MallInfo2
def blocks():
    return int(libc.mallinfo2().hblks)

assert tune_allocator()
big = bytearray(4 * 1024 * 1024)
del big  # the free that would raise a dynamic threshold
before = blocks()
buffer = bytearray(2 * 1024 * 1024)
seen = [blocks() - before]
small = bytearray(MMAP_THRESHOLD // 2)
seen.append(blocks() - before)
del buffer, small
seen.append(blocks() - before)
print(seen)
"""


def test_large_buffers_stay_mmapped_after_a_large_free() -> None:
    """Without the fixed threshold, freeing a 4 MB buffer moves glibc's threshold up to 4 MB
    and the next 2 MB buffer comes from the heap; with it, every such buffer is mmapped (and
    a buffer under the threshold is not)."""
    if platform.libc_ver()[0] != "glibc":
        assert not tune_allocator()  # nothing to tune, and no error
        return
    done = subprocess.run(
        [sys.executable, "-c", _MMAP_CHECK],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1, 1, 0]"


class Recorder:
    def __init__(self) -> None:
        self.jobs: list[tuple[float, str]] = []

    def every(self, seconds: float, job: object, job_id: str) -> None:
        self.jobs.append((seconds, job_id))


def test_full_collections_run_on_schedule_only() -> None:
    """CPython keeps collecting the young generations; the full collection becomes a job."""
    before = gc.get_threshold()
    poller = Recorder()
    try:
        collect_on_schedule(poller, seconds=90)
        assert poller.jobs == [(90, "gc-full-collection")]
        if sys.version_info >= (3, 14):  # incremental: CPython's thresholds stay as they are
            assert gc.get_threshold() == before
            return
        young, middle, full = gc.get_threshold()
        assert (young, middle) == before[:2]
        assert full >= 2**30

        # Enough survivors that CPython would start a full collection (a quarter of the old
        # generation, after ten middle ones) were it still its job.
        collections = gc.get_stats()[2]["collections"]
        kept: list[list[int]] = [[] for _ in range(len(gc.get_objects()))]
        assert gc.get_stats()[2]["collections"] == collections
        del kept

        class Cycle:
            def __init__(self) -> None:
                self.me = self

        cycle = Cycle()
        gc.collect(1)  # promoted to the oldest generation, where only a full collection looks
        probe = weakref.ref(cycle)
        del cycle
        gc.collect(1)
        assert probe() is not None
        asyncio.run(full_collection())
        assert probe() is None
    finally:
        gc.set_threshold(*before)
