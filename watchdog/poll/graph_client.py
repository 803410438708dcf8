"""Poll one Cloud API number's Graph nodes with its access token; every outcome is a result.

One `GraphClient` per Cloud target, the counterpart of `watchdog.poll.client.ApiClient` (both
are a `watchdog.poll.polling_client.PollingClient`): `poll()` never raises. The token travels
as ``Authorization: Bearer`` (reference §3); a token file is re-read when it changes. Graph
errors (`{"error": {...}}`, reference §4) become the `graph_*` reasons of
`watchdog.api.graph_errors`, with Meta's code, message, details and fbtrace_id in the result;
the usage header of every answer is kept on the result, so the scheduler can slow down before
Meta throttles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Unpack
from urllib.parse import quote

from pydantic import SecretStr

from watchdog.api.endpoints import AUTH_CONFIG, Endpoint
from watchdog.api.graph import PHONE_NUMBER_FIELDS
from watchdog.api.graph_errors import describe, graph_reason, parse_graph_error
from watchdog.api.payloads import ApiErrorInfo
from watchdog.base.log import get_logger
from watchdog.base.redact import Redactor
from watchdog.base.secrets import read_cloud_token_file
from watchdog.base.targets import Target
from watchdog.poll.credentials import SecretSource
from watchdog.poll.polling_client import ClientOptions, PollingClient
from watchdog.poll.transport import Outcome

__all__ = ["GraphClient"]

log = get_logger(__name__)

_TOKEN_HINT = "set WA_CLOUD_ACCESS_TOKEN or WA_CLOUD_ACCESS_TOKEN_FILE (or access_token_file)"  # noqa: S105


class GraphClient(PollingClient):
    """The HTTP client of one Cloud target. Create it inside the event loop that polls."""

    def __init__(self, target: Target, **options: Unpack[ClientOptions]) -> None:
        super().__init__(target, **options)
        self._token = SecretSource(
            kind="access_token",
            target=target.name,
            redactor=self._redactor,
            value=target.access_token,
            path=target.access_token_file,
            read=read_cloud_token_file,
            variable=_FILE_VAR if target.access_token_file else _VALUE_VAR,
        )
        self._app_token = SecretSource(
            kind="app_token",
            target=target.name,
            redactor=self._redactor,
            value=target.app_token,
            path=target.app_token_file,
            read=_read_app_token,
            variable="WA_CLOUD_APP_TOKEN_FILE" if target.app_token_file else "WA_CLOUD_APP_TOKEN",
        )

    async def _fetch(self, endpoint: Endpoint) -> Outcome:
        """GET one Graph node of the number."""
        token = self._token.current()
        if token is None:
            return Outcome(AUTH_CONFIG, self._token.problem or f"no access token: {_TOKEN_HINT}")
        path, bearer = self._request(endpoint, token)
        outcome = await self._http.request("GET", path, {"Authorization": f"Bearer {bearer}"})
        if outcome.status_code in (400, 401) and self._token.from_file:
            # The file may have been rewritten within its mtime's resolution: read it once more
            # and retry at once with a new token (a rotation must not page).
            fresh = self._token.current(force=True)
            if fresh is not None and fresh != token:
                path, bearer = self._request(endpoint, fresh)
                outcome = await self._http.request(
                    "GET", path, {"Authorization": f"Bearer {bearer}"}
                )
        return _classified(outcome, self._redactor)

    def _request(self, endpoint: Endpoint, token: str) -> tuple[str, str]:
        """The path (with its query) of `endpoint`, and the token it is sent with."""
        version = self.target.graph_version
        if endpoint is Endpoint.PHONE_NUMBER:
            return f"/{version}/{self.target.phone_number_id}?fields={PHONE_NUMBER_FIELDS}", token
        if endpoint is Endpoint.WABA:
            return f"/{version}/{self.target.waba_id}?fields=health_status", token
        if endpoint is Endpoint.TOKEN:
            # debug_token wants an app token (or one of the app's admins'); a system user's
            # token may inspect itself (UNCONFIRMED for every token type: when Meta refuses,
            # the poll fails with graph_permission and only the expiry stays unknown).
            app = self._app_token.current()
            return f"/{version}/debug_token?input_token={quote(token, safe='')}", app or token
        raise ValueError(f"{endpoint.value} is not a Cloud API endpoint")


_VALUE_VAR = "WA_CLOUD_ACCESS_TOKEN"
# A target's own access_token_file and the inherited global file look alike to the target; the
# message names the variable.
_FILE_VAR = "WA_CLOUD_ACCESS_TOKEN_FILE"


def _read_app_token(path: Path) -> SecretStr:
    return read_cloud_token_file(path, variable="WA_CLOUD_APP_TOKEN_FILE")


def _classified(outcome: Outcome, redactor: Redactor) -> Outcome:
    """A Graph answer's outcome: a failure keyed on Meta's error code, also when a 2xx answer
    carries an error envelope instead of the node."""
    error = parse_graph_error(outcome.body)
    if error is not None:
        # Scrubbed before the parser clips Meta's texts: a token it cut in two (an error that
        # echoes it) would leave a piece no redactor recognises.
        error = parse_graph_error(redactor.redact(outcome.body))
    status = outcome.status_code
    if outcome.reason is None and error is None:
        return outcome
    if outcome.reason is not None and status is None:
        return outcome  # nothing came back: timeout, refused, DNS, TLS
    if outcome.reason in ("too_large", "decode") and error is None:
        return outcome
    reason = graph_reason(status, error)
    if error is None:
        # Not Meta's envelope: a proxy or an edge answered (HTML, an empty body).
        return Outcome(reason, outcome.detail, status, None, usage=outcome.usage)
    info = ApiErrorInfo(
        code=error.code,
        title=error.message or error.type,
        details=_details(error.subcode, error.details, error.fbtrace_id),
    )
    return Outcome(reason, f"HTTP {status} {describe(error)}", status, info, usage=outcome.usage)


def _details(subcode: int | None, details: str | None, fbtrace_id: str | None) -> str | None:
    parts = []
    if details:
        parts.append(details)
    if subcode is not None:
        parts.append(f"subcode {subcode}")
    if fbtrace_id:
        parts.append(f"fbtrace_id {fbtrace_id}")
    return "; ".join(parts) or None
