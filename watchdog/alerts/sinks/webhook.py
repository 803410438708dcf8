"""Webhook delivery: one message per transition, in the shape of Alertmanager's webhook.

Receivers written for Alertmanager (``version: "4"``) work unchanged: each firing and each
resolved transition becomes one message holding that one alert. Each URL has its own bounded
FIFO queue and its own task, so a dead receiver never delays a live one, and a resolved
message never overtakes its firing one. A failed POST (connection error, timeout, 3xx, 5xx,
408, 429) is retried with capped exponential backoff until it succeeds; other 4xx answers are
final — the receiver rejected the message, and retrying it would block the queue forever —
as in Alertmanager's own webhook notifier.

Delivery is at least once: a POST that timed out after the receiver got it is sent again.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
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

__all__ = ["RECEIVER", "ZERO_TIME", "WebhookSink", "group_key", "webhook_payload"]

log = get_logger(__name__)

RECEIVER: Final = "wa-watchdog"
# Go's zero time: what Alertmanager puts in `endsAt` of a firing alert.
ZERO_TIME: Final = "0001-01-01T00:00:00Z"
_RETRIED_4XX: Final = frozenset({408, 429})

Message = dict[str, Any]


def group_key(alert: Alert) -> str:
    """A group key unique per alert instance, in Alertmanager's ``route:groupLabels`` form.

    Receivers that track incidents by ``groupKey`` must not merge two targets' alerts, and
    every message here holds exactly one alert.
    """
    return f'{{}}/{{fingerprint="{alert.fingerprint}"}}:{{alertname={json.dumps(alert.name)}}}'


def webhook_payload(alert: Alert, *, external_url: str) -> Message:
    """Alertmanager's webhook message (version 4) for one alert's transition.

    Both links open the status page at the alert's target: the message holds just that alert."""
    status = alert.state.value
    link = page_url(external_url, alert)
    labels, annotations = dict(alert.labels), dict(alert.annotations)
    starts_at = alert.starts_at if alert.starts_at is not None else alert.active_since
    ends_at = ZERO_TIME
    if alert.state is AlertState.RESOLVED and alert.ends_at is not None:
        ends_at = rfc3339(alert.ends_at)
    return {
        "version": "4",
        "groupKey": group_key(alert),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": RECEIVER,
        "groupLabels": {"alertname": alert.name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": link,
        "alerts": [
            {
                "status": status,
                "labels": dict(labels),
                "annotations": dict(annotations),
                "startsAt": rfc3339(starts_at),
                "endsAt": ends_at,
                "generatorURL": link,
                "fingerprint": alert.fingerprint,
            }
        ],
    }


@dataclass(eq=False)
class _Receiver:
    endpoint: HttpEndpoint
    queue: deque[Message] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    inflight: Message | None = None


class WebhookSink:
    """Posts one Alertmanager-shaped message per transition to every webhook URL.

    Each URL queues up to *queue_size* messages besides the one being delivered; when the
    queue is full the oldest waiting message is dropped (``result="dropped"``). Messages carry
    the alert's own times, so *clock* is only kept for symmetry with the other sinks.
    """

    name = "webhook"

    def __init__(
        self,
        urls: list[str],
        *,
        external_url: str,
        stats: NotificationStats,
        transport: httpx.AsyncBaseTransport | None = None,
        queue_size: int = 1000,
        timeout: float = 10.0,
        max_backoff: float = 60.0,
        redactor: Redactor | None = None,
    ) -> None:
        self.external_url = external_url
        self.stats = stats
        self.queue_size = max(queue_size, 1)
        self.max_backoff = max_backoff
        self._transport = transport
        self._timeout = timeout
        self._redactor = redactor
        self._receivers = [
            _Receiver(HttpEndpoint.parse(url, secret_path=True, redactor=redactor)) for url in urls
        ]
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        for result in ("success", "failure", "dropped"):
            stats.add(self.name, result, 0)

    def submit(self, alert: Alert) -> None:
        """Queue the transition's message for every URL (dropping the oldest if full)."""
        try:
            if alert.state not in (AlertState.FIRING, AlertState.RESOLVED):
                return
            message = webhook_payload(alert, external_url=self.external_url)
            for receiver in self._receivers:
                dropped = None
                with self._lock:
                    if len(receiver.queue) >= self.queue_size:
                        dropped = receiver.queue.popleft()
                    receiver.queue.append(message)
                if dropped is not None:
                    self.stats.add(self.name, "dropped")
                    log.warning(
                        "notification_dropped",
                        sink=self.name,
                        url=receiver.endpoint.shown,
                        alertname=dropped["groupLabels"]["alertname"],
                        transition=dropped["status"],
                        queue_size=self.queue_size,
                    )
                wake(self._loop, receiver.ready)
        except Exception:  # a sink must never break the engine that called it
            log.exception("alert_submit_failed", sink=self.name)

    def queued(self) -> int:
        """Messages not yet delivered, over every URL (in flight included)."""
        with self._lock:
            return sum(len(r.queue) + (r.inflight is not None) for r in self._receivers)

    async def start(self) -> None:
        if self._tasks:
            return
        self._loop = asyncio.get_running_loop()
        self._client = http_client(self._transport, self._timeout)
        for receiver in self._receivers:  # fresh events: an asyncio.Event belongs to one loop
            receiver.ready = asyncio.Event()
            receiver.ready.set()
        self._tasks = [
            asyncio.create_task(self._run(receiver), name=f"webhook-sink-{i}")
            for i, receiver in enumerate(self._receivers)
        ]

    async def stop(self, grace: float = 5.0) -> None:
        """Keep delivering for up to *grace* s until the queues are empty, then stop.

        Messages still undelivered then are counted ``dropped`` and logged; they are lost.
        """
        if not self._tasks:
            return
        await wait_until(lambda: self.queued() == 0, grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        with self._lock:
            for receiver in self._receivers:
                lost = len(receiver.queue) + (receiver.inflight is not None)
                receiver.queue.clear()
                receiver.inflight = None
                if lost:
                    self.stats.add(self.name, "dropped", lost)
                    log.warning(
                        "notifications_undelivered",
                        sink=self.name,
                        url=receiver.endpoint.shown,
                        messages=lost,
                    )
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._loop = None

    async def _run(self, receiver: _Receiver) -> None:
        backoff = Backoff(self.max_backoff)
        while True:
            with self._lock:
                if receiver.queue:
                    receiver.inflight = receiver.queue.popleft()
                else:
                    receiver.ready.clear()
            message = receiver.inflight
            if message is None:
                await receiver.ready.wait()
                continue
            while not await self._deliver(receiver, message):
                await asyncio.sleep(backoff.next())
            backoff.reset()
            with self._lock:
                receiver.inflight = None

    async def _deliver(self, receiver: _Receiver, message: Message) -> bool:
        """One attempt; True when the message is done with (delivered or finally rejected)."""
        assert self._client is not None
        context = {
            "alertname": message["groupLabels"]["alertname"],
            "transition": message["status"],
        }
        try:
            status = await post_json(
                self._client,
                receiver.endpoint,
                message,
                sink=self.name,
                stats=self.stats,
                redactor=self._redactor,
                **context,
            )
        except Exception:  # top of a delivery task: log, back off, keep going
            log.exception("notification_task_error", sink=self.name, url=receiver.endpoint.shown)
            return False
        if status is not None and 400 <= status < 500 and status not in _RETRIED_4XX:
            log.error(
                "notification_rejected", sink=self.name, url=receiver.endpoint.shown, **context
            )
            return True
        return status is not None and 200 <= status < 300
