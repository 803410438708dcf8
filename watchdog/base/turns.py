"""Turns for the event loop in the middle of long work: one every few milliseconds of it.

At thousands of targets a scrape, the status page or `/api/v1/status` take far longer than any
poll may wait, so they hand the loop back now and then. Not after every item: under load each
turn waits for a whole pass of the loop, and 2,000 turns made the page take six minutes
(`benchmarks/loop_steps.py`).
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["SLICE_SECONDS", "Turns"]

# Work on the event loop between two turns (issue #15: no step over 50 ms, with room for a
# collection of the youngest objects or a busy machine inside one).
SLICE_SECONDS = 0.01


class Turns:
    """Gives the event loop a turn once `seconds` of work have passed since the last."""

    def __init__(self, seconds: float = SLICE_SECONDS) -> None:
        self.seconds = seconds
        self.taken = 0  # how many turns were given (for tests)
        self._since = time.perf_counter()

    async def take(self) -> None:
        if time.perf_counter() - self._since >= self.seconds:
            await asyncio.sleep(0)
            self.taken += 1
            self._since = time.perf_counter()
