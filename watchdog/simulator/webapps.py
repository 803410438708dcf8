"""The Webapps of a deployment and the round-robin load balancer in front of them.

Each Webapp keeps what the real one keeps in its own memory (APCu): its request counters, its
start time and the largest queue it has seen, so `/metrics` describes only the Webapp that
answered (reference §2.1, §2.4). Health and stats come from the shared Coreapps.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from watchdog.simulator.scenarios import Scenario
from watchdog.simulator.traffic import SeriesKey


@dataclass
class Webapp:
    """One Webapp container; the deployment's lock guards its fields, the balancer's `served`."""

    index: int
    # `$WEBAPP_HOSTNAME` or the container's hostname, a 12-hex Docker id as in the docs' example.
    host: str
    started_at: float
    # A scenario of this Webapp alone (`POST /_sim/scenario` with `webapp`); None: it plays the
    # deployment's.
    override: Scenario | None = None
    max_pending: float = 0.0
    served: int = 0
    counters: dict[SeriesKey, float] = field(default_factory=dict)

    def restart(self, now: float) -> None:
        self.counters.clear()
        self.started_at = now
        self.max_pending = 0.0

    def add(self, key: SeriesKey, amount: float) -> None:
        self.counters[key] = self.counters.get(key, 0.0) + amount


class LoadBalancer:
    """Round robin over the Webapps, one turn per API request, shared by every client."""

    def __init__(self, count: int, rng: random.Random, now: float) -> None:
        self.webapps = [Webapp(i, f"{rng.getrandbits(48):012x}", now) for i in range(count)]
        self._turn = 0
        self._lock = threading.Lock()

    def next(self) -> Webapp:
        """The Webapp whose turn it is."""
        with self._lock:
            webapp = self.webapps[self._turn]
            self._turn = (self._turn + 1) % len(self.webapps)
        return webapp

    def serve(self, webapp: Webapp) -> None:
        """`webapp` got the request (the proxy did not answer it itself)."""
        with self._lock:
            webapp.served += 1
