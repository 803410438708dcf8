"""Alertmanager API v2 delivery, the way Prometheus does it.

The sink keeps the *current set* of alerts by fingerprint — every firing alert, and every
resolved one until ``resolved_retention`` after it resolved — and POSTs the whole set to
``<url>/api/v2/alerts`` of each configured Alertmanager every ``resend_interval``, and at once
(within the event loop's next turn) after a transition was submitted. Firing alerts carry
``endsAt = now + 4 x resend_interval``: if the watchdog dies, Alertmanager resolves them itself
a few minutes later; while it runs, each resend pushes ``endsAt`` forward. Resolved alerts carry
``endsAt`` = the resolve time.

Because every POST carries the whole set, a URL that was down is caught up by its first
successful POST: nothing queued can be lost or dropped, and there is no queue to bound. Labels
are passed through untouched (no replica label), so replicas of the watchdog produce identical
alerts and Alertmanager deduplicates them.

One sink holds every URL (``sink="alertmanager"``); each URL has its own task, retry backoff and
resend schedule, so a dead Alertmanager never delays a live one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from watchdog.alerts.model import Alert, AlertState
from watchdog.alerts.sinks.delivery import (
    Backoff,
    HttpEndpoint,
    NotificationStats,
    http_client,
    page_url,
    post_json,
    rfc3339,
    wait_until,
    wake,
)
from watchdog.base.log import get_logger
from watchdog.base.redact import Redactor

__all__ = ["API_PATH", "AlertmanagerSink", "alertmanager_body"]

log = get_logger(__name__)

API_PATH: Final = "/api/v2/alerts"
# Firing alerts are valid in Alertmanager for this many resend intervals (as Prometheus).
ENDS_AT_FACTOR: Final = 4


@dataclass(eq=False)
class _Url:
    endpoint: HttpEndpoint
    # Set when the current set changed (or a POST failed) and must go out now.
    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    sending: bool = False
    next_due: float = 0.0  # event-loop time of the next periodic resend


def alertmanager_body(
    alerts: list[Alert], *, now: float, resend_interval: float, generator_url: str
) -> list[dict[str, Any]]:
    """The ``POST /api/v2/alerts`` body (``postableAlerts``) for *alerts* at time *now*."""
    body = []
    for alert in alerts:
        if alert.state is AlertState.RESOLVED:
            ends_at = alert.ends_at if alert.ends_at is not None else now
        else:
            ends_at = now + ENDS_AT_FACTOR * resend_interval
        starts_at = alert.starts_at if alert.starts_at is not None else alert.active_since
        body.append(
            {
                "labels": dict(alert.labels),
                "annotations": dict(alert.annotations),
                "startsAt": rfc3339(starts_at),
                "endsAt": rfc3339(ends_at),
                "generatorURL": page_url(generator_url, alert),
            }
        )
    return body


class AlertmanagerSink:
    """Sends the current alert set to every Alertmanager URL, promptly and then periodically.

    *clock* (epoch seconds) stamps ``startsAt``/``endsAt`` and ages resolved alerts; the
    schedule itself (resend interval, backoff) runs on the event loop's monotonic clock.
    """

    name = "alertmanager"

    def __init__(
        self,
        urls: list[str],
        *,
        generator_url: str,
        stats: NotificationStats,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        resend_interval: float = 60.0,
        resolved_retention: float = 900.0,
        timeout: float = 10.0,
        max_backoff: float = 60.0,
        redactor: Redactor | None = None,
    ) -> None:
        self.generator_url = generator_url
        self.stats = stats
        self.clock = clock
        self.resend_interval = resend_interval
        self.resolved_retention = resolved_retention
        self.max_backoff = max_backoff
        self._transport = transport
        self._timeout = timeout
        self._redactor = redactor
        self._urls = [
            _Url(HttpEndpoint.parse(url, suffix=API_PATH, redactor=redactor)) for url in urls
        ]
        self._lock = threading.Lock()
        self._alerts: dict[str, Alert] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        for result in ("success", "failure"):
            stats.add(self.name, result, 0)

    def submit(self, alert: Alert) -> None:
        """Put a firing or resolved alert in the current set and wake every URL's sender."""
        try:
            if alert.state not in (AlertState.FIRING, AlertState.RESOLVED):
                return
            with self._lock:
                self._alerts[alert.fingerprint] = alert
            for url in self._urls:
                wake(self._loop, url.dirty)
        except Exception:  # a sink must never break the engine that called it
            log.exception("alert_submit_failed", sink=self.name)

    def refresh(self, alert: Alert) -> None:
        """Replace a firing alert's stored copy (new annotations) without sending at once:
        the next periodic resend carries it."""
        with self._lock:
            if alert.fingerprint in self._alerts:
                self._alerts[alert.fingerprint] = alert

    def current(self) -> list[Alert]:
        """The set sent now: firing alerts and resolved ones still within their retention."""
        now = self.clock()
        with self._lock:
            for key, alert in list(self._alerts.items()):
                ended = alert.ends_at if alert.ends_at is not None else now
                if alert.state is AlertState.RESOLVED and now - ended > self.resolved_retention:
                    del self._alerts[key]
            return list(self._alerts.values())

    async def start(self) -> None:
        if self._tasks:
            return
        self._loop = asyncio.get_running_loop()
        self._client = http_client(self._transport, self._timeout)
        for url in self._urls:  # fresh events: an asyncio.Event belongs to one loop
            url.dirty = asyncio.Event()
            url.dirty.set()  # changes submitted before start (or since stop) go out now
        self._tasks = [
            asyncio.create_task(self._run(url), name=f"alertmanager-sink-{i}")
            for i, url in enumerate(self._urls)
        ]

    async def stop(self, grace: float = 5.0) -> None:
        """Flush changes not yet accepted by each URL for up to *grace* s, then stop.

        Firing alerts are *not* resolved on shutdown: they stay valid in Alertmanager until
        their ``endsAt`` (4 x resend interval), which another replica keeps pushing forward.
        """
        if not self._tasks:
            return

        def flushed() -> bool:
            return all(not u.dirty.is_set() and not u.sending for u in self._urls)

        if not await wait_until(flushed, grace):
            log.warning(
                "notifications_undelivered",
                sink=self.name,
                urls=[u.endpoint.shown for u in self._urls if u.dirty.is_set() or u.sending],
                alerts=len(self.current()),
            )
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._loop = None

    async def _run(self, url: _Url) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff(self.max_backoff)
        while True:
            delay = url.next_due - loop.time()
            if not url.dirty.is_set() and delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(url.dirty.wait(), delay)
            url.dirty.clear()
            url.sending = True
            try:
                ok = await self._send(url)
            except Exception:  # top of a delivery task: log, back off, keep going
                log.exception("notification_task_error", sink=self.name, url=url.endpoint.shown)
                ok = False
            finally:
                url.sending = False
            if ok:
                backoff.reset()
                url.next_due = loop.time() + self.resend_interval
            else:
                url.dirty.set()  # whatever changed is still to be delivered
                await asyncio.sleep(backoff.next())

    async def _send(self, url: _Url) -> bool:
        alerts = self.current()
        if not alerts:
            return True
        assert self._client is not None
        body = alertmanager_body(
            alerts,
            now=self.clock(),
            resend_interval=self.resend_interval,
            generator_url=self.generator_url,
        )
        status = await post_json(
            self._client,
            url.endpoint,
            body,
            sink=self.name,
            stats=self.stats,
            redactor=self._redactor,
            alerts=len(body),
        )
        return status is not None and 200 <= status < 300
