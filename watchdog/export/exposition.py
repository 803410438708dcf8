"""`/metrics` bodies, rendered once per state change and shared by every scraper.

Rendering thousands of series costs far more than serving bytes; the body only changes when a
poll is recorded (or time makes values stale), so concurrent and repeated scrapes share one
render: a render is reused while the state's version is unchanged and it is younger than
`max_age`, and concurrent scrapes wait for the render in progress instead of starting their
own. Renders run in a worker thread so the event loop keeps polling on time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.concurrency import run_in_threadpool

from watchdog.state import State

# Process metrics and staleness move with time, not only with polls: renders older than this
# are never reused.
MAX_AGE = 1.0


@dataclass(frozen=True)
class _Render:
    version: int
    at: float
    body: bytes


class Exposition:
    def __init__(
        self,
        registry: CollectorRegistry,
        state: State,
        *,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.state = state
        self.max_age = max_age
        self.clock = clock
        self._renders: dict[str, _Render] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.renders = 0  # how many times a body was actually rendered (for tests/benchmarks)

    async def body(self, accept: str) -> tuple[bytes, str]:
        """The body and content type for a scrape with this `Accept` header."""
        encoder, content_type = choose_encoder(accept)
        lock = self._locks.setdefault(content_type, asyncio.Lock())
        async with lock:
            render = self._renders.get(content_type)
            version = self.state.version
            if (
                render is None
                or render.version != version
                or (self.clock() - render.at > self.max_age)
            ):
                body = await run_in_threadpool(encoder, self.registry)
                self.renders += 1
                render = _Render(version, self.clock(), body)
                self._renders[content_type] = render
        return render.body, content_type
