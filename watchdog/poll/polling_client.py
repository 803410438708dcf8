"""What the clients of both kinds of target share: a poll that never raises, and a lifetime.

`PollingClient` is the base of `watchdog.poll.client.ApiClient` (On-Prem) and
`watchdog.poll.graph_client.GraphClient` (Cloud). `poll()` times one attempt and turns its
outcome, an exception included, into a `PollResult` whose texts are scrubbed of every secret
the redactor knows; a subclass says only how it fetches one endpoint (`_fetch`) and what it
releases before its connections close (`_release`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace
from typing import Self, TypedDict

import httpx

from watchdog.api.endpoints import INTERNAL, Endpoint
from watchdog.api.graph_usage import parse_usage_header
from watchdog.api.results import PollResult
from watchdog.base.log import get_logger
from watchdog.base.redact import Redactor
from watchdog.base.targets import Target
from watchdog.poll.tls import TlsContexts
from watchdog.poll.transport import DEFAULT_MAX_BODY_BYTES, HttpExchange, Outcome, one_line

__all__ = ["ClientOptions", "PollingClient"]

log = get_logger(__name__)


class ClientOptions(TypedDict, total=False):
    """How a client is built beside its target: tests pass a transport and a clock; the daemon
    shares one redactor and the TLS contexts between its clients."""

    transport: httpx.AsyncBaseTransport | None
    clock: Callable[[], float]
    redactor: Redactor | None
    max_body_bytes: int
    tls_contexts: TlsContexts | None


class PollingClient(ABC):
    """The HTTP client of one target. Create it inside the event loop that polls with it."""

    def __init__(
        self,
        target: Target,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        redactor: Redactor | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        tls_contexts: TlsContexts | None = None,
    ) -> None:
        self.target = target
        self._clock = clock
        # A private redactor when none is shared: details are scrubbed either way.
        self._redactor = Redactor() if redactor is None else redactor
        self._closed = False
        self._http = HttpExchange(
            target, transport=transport, max_body_bytes=max_body_bytes, tls_contexts=tls_contexts
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def poll(self, endpoint: Endpoint) -> PollResult:
        """GET one endpoint and classify the outcome. Never raises: a bug becomes an
        `internal` result."""
        started_at = self._clock()
        began = time.perf_counter()
        try:
            outcome = await self._attempt(endpoint)
        except Exception as exc:
            log.exception("poll_internal_error", target=self.target.name, endpoint=endpoint.value)
            outcome = Outcome(INTERNAL, f"internal error ({type(exc).__name__}); see the log")
        redact = self._redactor.redact_text
        error = outcome.api_error
        if error is not None and (error.details or error.title):
            # The API's texts may echo what the watchdog sent (a header, a user name, a token).
            error = replace(
                error,
                title=redact(error.title) if error.title else error.title,
                details=redact(error.details) if error.details else error.details,
            )
        return PollResult(
            target=self.target.name,
            endpoint=endpoint,
            started_at=started_at,
            duration=time.perf_counter() - began,
            status_code=outcome.status_code,
            reason=outcome.reason,
            # Scrubbed before it is cut to length: a secret cut in two is no longer recognised.
            detail=one_line(redact(" ".join(outcome.detail.split()))),
            api_error=error,
            # A failure's error body has been read into api_error; it is not kept.
            body=outcome.body if outcome.reason is None else None,
            usage=parse_usage_header(outcome.usage),
        )

    async def _attempt(self, endpoint: Endpoint) -> Outcome:
        if self._closed:
            return Outcome(INTERNAL, "the client is closed")
        if self._http.setup_failure is not None:
            return self._http.setup_failure
        return await self._fetch(endpoint)

    @abstractmethod
    async def _fetch(self, endpoint: Endpoint) -> Outcome:
        """One endpoint's exchange with the target's credentials, classified."""

    async def _release(self) -> None:  # noqa: B027 - optional hook: most clients hold nothing
        """Give back what the client holds at the target, before its connections close."""

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._release()
        finally:
            await self._http.aclose()
