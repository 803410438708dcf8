"""When each request reached the multi-deployment simulator: the API's view of a poller's schedule.

A poller's own metrics say when it meant to poll; the arrivals say when its requests got there,
which is what the API's rate limits and load see. `GET /_sim/arrivals?since=<epoch seconds>`
on a multi-deployment simulator answers `{"served": <requests since start>, "arrivals":
[[<epoch seconds>, "<path>"], ...]}` for the requests that arrived after `since`; the admin
API's requests (`/_sim/...`, also under a deployment's prefix) are not counted.
`benchmarks/scale.py` takes the polls done and their lateness from here, so the watchdog and a
baseline poller are measured the same way, without scraping either of them.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

ADMIN = "/_sim/"
# About 155 bytes each: 39 MB at most, twenty minutes of 2,000 targets at the default intervals.
MAX_KEPT = 250_000


class ArrivalLog:
    """The last `MAX_KEPT` arrivals, oldest first, and how many requests arrived in all."""

    def __init__(self, clock: Callable[[], float] = time.time, keep: int = MAX_KEPT) -> None:
        self.clock = clock
        self.served = 0
        self._arrivals: deque[tuple[float, str]] = deque(maxlen=keep)

    def record(self, path: str) -> None:
        self.served += 1
        self._arrivals.append((self.clock(), path))

    def since(self, after: float) -> list[tuple[float, str]]:
        # Newest first until the first older one: a query for the last minute reads a minute.
        found = []
        for arrival in reversed(self._arrivals):
            if arrival[0] <= after:
                break
            found.append(arrival)
        found.reverse()
        return found

    async def endpoint(self, request: Request) -> JSONResponse:
        try:
            after = float(request.query_params.get("since", "0"))
        except ValueError:
            return JSONResponse({"error": "since: epoch seconds, e.g. 1795000000.5"}, 400)
        return JSONResponse({"served": self.served, "arrivals": self.since(after)})


class RecordArrivals:
    """ASGI middleware: every HTTP request but the admin API's goes into the log."""

    def __init__(self, app: ASGIApp, log: ArrivalLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ADMIN not in scope["path"]:
            self.log.record(scope["path"])
        await self.app(scope, receive, send)
