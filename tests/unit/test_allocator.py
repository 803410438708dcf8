"""glibc's mmap threshold is fixed, so large transient buffers never stay in the heap."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

from watchdog.allocator import MMAP_THRESHOLD, tune_allocator

# glibc's `struct mallinfo2`, every field a size_t.
FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
          "fordblks", "keepcost")  # fmt: skip


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS]


def mmapped_blocks() -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallinfo2.restype = MallInfo2
    return int(libc.mallinfo2().hblks)


def test_large_buffers_stay_mmapped_after_a_large_free() -> None:
    """Without the fixed threshold, freeing a 4 MB buffer moves glibc's threshold up to 4 MB
    and the next 2 MB buffer comes from the heap; with it, every such buffer is mmapped."""
    if platform.libc_ver()[0] != "glibc":
        assert not tune_allocator()  # nothing to tune, and no error
        return
    assert tune_allocator()
    big = bytearray(4 * 1024 * 1024)
    del big  # the free that would raise a dynamic threshold
    before = mmapped_blocks()
    buffer = bytearray(2 * 1024 * 1024)
    assert mmapped_blocks() == before + 1
    small = bytearray(MMAP_THRESHOLD // 2)
    assert mmapped_blocks() == before + 1
    del buffer, small
    assert mmapped_blocks() == before
