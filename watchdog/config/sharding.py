"""`WATCHDOG_SHARD=i/n`: which targets this replica polls.

The hash must be stable across processes and Python versions (`hash()` is salted per process),
so every replica computes the same split: CRC-32 of the target name.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from watchdog.base.targets import Target


def in_shard(name: str, index: int, count: int) -> bool:
    return count <= 1 or zlib.crc32(name.encode()) % count == index


def select_shard(targets: Iterable[Target], index: int, count: int) -> list[Target]:
    """The targets whose stable hash mod `count` is `index`."""
    return [t for t in targets if in_shard(t.name, index, count)]
