"""The endpoints the watchdog polls, and the reasons a poll of one can fail.

A failure's `reason` is the `reason` label of `whatsapp_poll_errors_total` and the `reason` of
`/api/v1/status`; the groups below are what the rest of the watchdog reads from it (the
diagnosis, the status verdicts, the login backoff), so a reason is classified in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from watchdog.base.targets import Target

__all__ = [
    "AUTH_CONFIG",
    "GRAPH_OTHER",
    "GRAPH_PERMISSION",
    "GRAPH_REASONS",
    "GRAPH_THROTTLED",
    "GRAPH_TOKEN",
    "GRAPH_TRANSIENT",
    "INTERNAL",
    "LOGIN_BACKS_OFF",
    "RATE_LIMITED",
    "REASONS",
    "SHAPE",
    "UNREACHABLE",
    "UNUSABLE_BODY",
    "Endpoint",
    "EndpointSpec",
    "primary",
    "status_reason",
]


class Endpoint(StrEnum):
    """The monitoring nodes the watchdog polls; values are the `endpoint` label. The first four
    are an On-Premises deployment's, the last three a Cloud API number's (Graph nodes)."""

    HEALTH = "health"
    METRICS = "metrics"
    STATS_APP = "stats_app"
    STATS_DB = "stats_db"
    PHONE_NUMBER = "phone_number"
    WABA = "waba"
    TOKEN = "token"  # noqa: S105 (an endpoint label, not a secret)

    @property
    def spec(self) -> EndpointSpec:
        return _SPECS[self]

    @property
    def path(self) -> str:
        return _SPECS[self].path

    def interval(self, target: Target) -> float:
        """The poll interval of this endpoint on `target`; 0 means not polled (an endpoint of
        the other kind of target, or a WABA not configured)."""
        spec = _SPECS[self]
        if spec.kind != target.kind or (self is Endpoint.WABA and target.waba_id is None):
            return 0.0
        return float(getattr(target, spec.interval_key or f"{self.value}_interval"))


def primary(target: Target) -> Endpoint:
    """The endpoint whose answer says whether the target works: what probes, verdicts and the
    failure alerts read (the health node; a Cloud number's own fields and health status)."""
    return Endpoint.PHONE_NUMBER if target.kind == "cloud" else Endpoint.HEALTH


@dataclass(frozen=True)
class EndpointSpec:
    """Everything the watchdog knows of one endpoint, so adding one is one row below (plus its
    interval setting in `watchdog/config/fields.py`, and a parser if its body is a new kind).

    `body`: how `api/results.observe` reads a 200 (`health`: the health document; `prometheus`:
    Prometheus text; `stats`: the stats JSON, whose keys are the path's last segment).
    `prefix`: the re-exported families' name prefix (`export/reexport.py`), `None` if the
    endpoint's samples are not re-exported. `claim`: the order in which re-exported endpoints
    claim family names; the first one wins a clash."""

    path: str
    body: Literal["health", "prometheus", "stats", "graph_phone", "graph_waba", "graph_token"]
    prefix: str | None = None
    claim: int = 0
    # Which kind of target has it, and the Target field with its interval when that is not
    # `<value>_interval`.
    kind: Literal["onprem", "cloud"] = "onprem"
    interval_key: str | None = None


_SPECS = {
    Endpoint.HEALTH: EndpointSpec("/v1/health", "health"),
    Endpoint.METRICS: EndpointSpec("/metrics", "prometheus", prefix="whatsapp_", claim=3),
    Endpoint.STATS_APP: EndpointSpec("/v1/stats/app", "stats", prefix="whatsapp_app_", claim=1),
    # The API's db stats already start with `db_`.
    Endpoint.STATS_DB: EndpointSpec("/v1/stats/db", "stats", prefix="whatsapp_", claim=2),
    # Graph paths carry the version and the node id: `poll/graph_client.py` builds them.
    Endpoint.PHONE_NUMBER: EndpointSpec(
        "/{version}/{phone_number_id}", "graph_phone", kind="cloud", interval_key="health_interval"
    ),
    Endpoint.WABA: EndpointSpec("/{version}/{waba_id}", "graph_waba", kind="cloud"),
    Endpoint.TOKEN: EndpointSpec("/{version}/debug_token", "graph_token", kind="cloud"),
}

# Failure reasons. HTTP statuses map to http_<code> for the ones with a meaning of their own,
# else http_4xx / http_5xx (`status_reason`).
REASONS = (
    "http_401", "http_403", "http_404", "http_429", "http_503", "http_4xx", "http_5xx",
    "timeout", "connect", "dns", "tls", "protocol", "too_large", "decode", "shape",
    "auth_config", "internal",
    "graph_token", "graph_permission", "graph_throttled", "graph_transient", "graph_error",
)  # fmt: skip

# Graph (Cloud API) errors by what the watchdog does about them (`api/graph_errors.py` maps
# Meta's codes to these).
# The token is expired, invalid or revoked: a person must issue a new one.
GRAPH_TOKEN = "graph_token"  # noqa: S105 (a reason label, not a secret)
# The token works but may not read this node: missing permission or WABA asset access.
GRAPH_PERMISSION = "graph_permission"
# Rate limited (application, user, business use case or throughput): back off, not broken.
GRAPH_THROTTLED = "graph_throttled"
# Meta's side failed and says a retry may work.
GRAPH_TRANSIENT = "graph_transient"
# A Graph error none of the groups claims.
GRAPH_OTHER = "graph_error"
GRAPH_REASONS = (GRAPH_TOKEN, GRAPH_PERMISSION, GRAPH_THROTTLED, GRAPH_TRANSIENT, GRAPH_OTHER)

# Nothing from the Webapp reached the watchdog: timeout, refused, DNS, TLS, hang-up.
UNREACHABLE = ("timeout", "connect", "dns", "tls", "protocol")
# A 2xx answer whose body cannot be used.
UNUSABLE_BODY = ("decode", "shape", "too_large")
# Other callers used up the API's shared budget: says nothing about the API's health.
RATE_LIMITED = "http_429"
# The credentials cannot be used as configured (missing, unreadable, password to change).
AUTH_CONFIG = "auth_config"
# The watchdog itself failed; its log has the traceback.
INTERNAL = "internal"
# A 2xx answer that is JSON but not of the shape the endpoint gives.
SHAPE = "shape"
# A login refused for one of these is not tried again soon: the API refused the credentials,
# asks for a password change, or rate limited logins, and every try counts towards its
# lock-out of this address (30 bad logins an hour, reference §4.1).
LOGIN_BACKS_OFF = ("http_401", "http_403", RATE_LIMITED, AUTH_CONFIG)

_OWN_STATUSES = (401, 403, 404, 429, 503)


def status_reason(status: int) -> str:
    """The reason of a poll answered with the HTTP error `status`."""
    if status in _OWN_STATUSES:
        return f"http_{status}"
    if 400 <= status < 500:
        return "http_4xx"
    if 500 <= status < 600:
        return "http_5xx"
    return "protocol"  # a redirect (not followed) or a status outside HTTP's range
