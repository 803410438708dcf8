"""Shared HTTP delivery of alert notifications: counters, the `Sink` protocol, endpoints
with their secrets split off, JSON POSTs, backoff and the wake-ups of the delivery tasks.

The sinks (`watchdog.alerts.sinks.alertmanager`, `watchdog.alerts.sinks.webhook`,
`watchdog.alerts.sinks.log`) build on this module; `watchdog.alerts.sinks.build_sinks` wires
them. `submit` never blocks and never raises: it records the alert and wakes a background task.
Delivery outcomes are counted in a `NotificationStats`, exported by a collector as
``watchdog_notifications_total{sink,result}``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from watchdog.alerts.model import Alert
from watchdog.base.log import get_logger
from watchdog.base.redact import MASK, Redactor
from watchdog.base.urls import mask_url
from watchdog.base.version import user_agent

__all__ = [
    "RESULTS",
    "Backoff",
    "HttpEndpoint",
    "NotificationStats",
    "Sink",
    "http_client",
    "page_url",
    "post_json",
    "rfc3339",
    "wait_until",
    "wake",
]

log = get_logger(__name__)

RESULTS: Final = ("success", "failure", "dropped")
# A webhook path shorter than this is too generic to be masked in every log line.
_MIN_PATH_SECRET: Final = 8
_BODY_EXCERPT: Final = 200


class NotificationStats:
    """Delivery counts per (sink, result); safe to update and read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}

    def add(self, sink: str, result: str, n: int = 1) -> None:
        """Count *n* outcomes; ``n=0`` makes the series exist (exported as 0) before any."""
        with self._lock:
            key = (sink, result)
            self._counts[key] = self._counts.get(key, 0) + n

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)


class Sink(Protocol):
    """A destination for alert transitions."""

    name: str

    def submit(self, alert: Alert) -> None:
        """Take a firing or resolved transition; never blocks, never raises."""

    async def start(self) -> None:
        """Start the background delivery task(s)."""

    async def stop(self, grace: float = 5.0) -> None:
        """Deliver what is queued within *grace* seconds, then stop the tasks."""


def page_url(status_url: str, alert: Alert) -> str:
    """The status page opened at the alert's target: where its link takes people.

    *status_url* has no query or fragment (the `external_url` setting refuses them). Its path
    gets a final `/`: the page is the watchdog's root behind any prefix, and its own links are
    relative to it."""
    parts = urlsplit(status_url)
    query = "target=" + quote(alert.labels.get("target", ""), safe="")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def rfc3339(epoch: float) -> str:
    """``2026-11-25T10:00:00.000Z``: UTC, milliseconds, as Alertmanager reads and writes."""
    text = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


@dataclass(frozen=True)
class HttpEndpoint:
    """One destination URL, split into what is sent, what is shown and what is secret.

    The userinfo becomes HTTP basic auth and leaves the URL, so it never appears in a request
    line, an httpx log or an exception message; ``shown`` is the masked form for logs.
    """

    url: str
    shown: str
    auth: httpx.BasicAuth | None
    replacements: tuple[tuple[str, str], ...]

    @classmethod
    def parse(
        cls,
        base: str,
        *,
        suffix: str = "",
        secret_path: bool = False,
        redactor: Redactor | None = None,
    ) -> HttpEndpoint:
        parts = urlsplit(base)
        hostport = parts.netloc.rpartition("@")[2]
        path = parts.path.rstrip("/") + suffix
        url = urlunsplit((parts.scheme, hostport, path, parts.query, ""))
        shown = mask_url(base, hide_path=secret_path)
        auth = None
        secrets: list[tuple[str, str]] = []  # (secret, what replaces it in an error text)
        if parts.username is not None or parts.password is not None:
            password = parts.password or ""
            auth = httpx.BasicAuth(unquote(parts.username or ""), unquote(password))
            secrets += [(password, MASK), (unquote(password), MASK)]
        if secret_path:  # the whole URL is a secret, and so is the path on its own
            secrets += [(base, shown), (url, shown)]
            tail = parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")
            if len(tail.strip("/")) >= _MIN_PATH_SECRET:
                secrets.append((tail, f"/{MASK}"))
        secrets = [(old, new) for old, new in secrets if old]
        if redactor is not None:  # masked in every log line, whoever writes it
            for old, _new in secrets:
                redactor.add(old)
        pairs = [*secrets, (base, shown), (url, shown)]
        pairs.sort(key=lambda pair: len(pair[0]), reverse=True)
        return cls(url=url, shown=shown, auth=auth, replacements=tuple(pairs))

    def scrub(self, text: str, redactor: Redactor | None = None) -> str:
        """*text* (an error message, a response body) without this endpoint's secrets."""
        for old, new in self.replacements:
            text = text.replace(old, new)
        return redactor.redact_text(text) if redactor is not None else text


def http_client(transport: httpx.AsyncBaseTransport | None, timeout: float) -> httpx.AsyncClient:
    """The client a sink delivers with: no redirects (a 3xx is a failure), the watchdog's UA."""
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        headers={"User-Agent": user_agent()},
    )


async def post_json(
    client: httpx.AsyncClient,
    endpoint: HttpEndpoint,
    body: Any,
    *,
    sink: str,
    stats: NotificationStats,
    redactor: Redactor | None = None,
    **context: object,
) -> int | None:
    """POST *body*; count and log the outcome. Returns the status code, None if none came."""
    try:
        auth = httpx.USE_CLIENT_DEFAULT if endpoint.auth is None else endpoint.auth
        response = await client.post(endpoint.url, json=body, auth=auth)
    except Exception as exc:  # delivery boundary: whatever went wrong, this attempt failed
        stats.add(sink, "failure")
        log.warning(
            "notification_failed",
            sink=sink,
            url=endpoint.shown,
            error=type(exc).__name__,
            detail=endpoint.scrub(str(exc), redactor),
            **context,
        )
        return None
    if response.is_success:
        stats.add(sink, "success")
        log.debug("notification_sent", sink=sink, url=endpoint.shown, **context)
    else:
        stats.add(sink, "failure")
        log.warning(
            "notification_failed",
            sink=sink,
            url=endpoint.shown,
            status=response.status_code,
            detail=endpoint.scrub(response.text[:_BODY_EXCERPT], redactor),
            **context,
        )
    return response.status_code


class Backoff:
    """Capped exponential delays: 1 s, 2 s, 4 s ... up to *cap* (never above *cap*)."""

    def __init__(self, cap: float, start: float = 1.0) -> None:
        self.cap = cap
        self.start = start
        self._attempt = 0

    def next(self) -> float:
        delay = min(self.cap, self.start * 2.0 ** min(self._attempt, 32))
        self._attempt += 1
        return delay

    def reset(self) -> None:
        self._attempt = 0


def wake(loop: asyncio.AbstractEventLoop | None, event: asyncio.Event) -> None:
    """Set *event* from the loop that owns it, whichever thread calls."""
    if loop is None:  # not started yet: nobody waits; start() finds the event set
        event.set()
        return
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        event.set()
    elif not loop.is_closed():
        loop.call_soon_threadsafe(event.set)


async def wait_until(done: Callable[[], bool], timeout: float) -> bool:
    """Poll *done* every 10 ms for up to *timeout* seconds; True once it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(timeout, 0.0)
    while not done():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(min(0.01, max(deadline - loop.time(), 0.0)))
    return True
