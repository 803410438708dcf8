"""What a failed poll means, read only from what the answer shows.

One reading of a failure serves the alert rules, the status page, `watchdog check` and the
log, so they never tell different stories. The rule of this module: diagnose only what the
answer carries. A 503 is "overloaded" only when the body is the API's envelope with code 1016;
a 502/503/504 without the envelope is a proxy or load balancer talking, because the Webapp
answers every error with `{"meta", "errors"}` (reference §5.1); a 1014 is worded from its
`details`, because the Webapp answers 1014 for any unhandled error, a database failure
included (reference §5.2), not only for an unreachable Coreapp (§1.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from watchdog.api.endpoints import (
    AUTH_CONFIG,
    GRAPH_OTHER,
    GRAPH_PERMISSION,
    GRAPH_THROTTLED,
    GRAPH_TOKEN,
    GRAPH_TRANSIENT,
    INTERNAL,
    RATE_LIMITED,
    UNREACHABLE,
    UNUSABLE_BODY,
)
from watchdog.api.payloads import ApiErrorInfo
from watchdog.api.results import PollResult
from watchdog.base.targets import Target

OVERLOADED_CODE = 1016
NOT_READY_CODE = 1011
INTERNAL_ERROR_CODE = 1014
ACCESS_DENIED_CODE = 1005
PASSWORD_CHANGE_CODE = 1024
_PROXY_STATUSES = (502, 503, 504)
# Words in a 1014's details that name the Coreapp: "Please check if wacore is running:
# wacore:6252" (reference §1.4). The wording of later versions is UNCONFIRMED; these are the
# parts seen in the source, in field reports and in BSP docs.
_COREAPP_WORDS = ("wacore", "coreapp")
# Words that name the database: "Can't connect to the Database server through socket"
# (reference §5.2), SQLSTATE codes, MySQL/PostgreSQL driver messages.
_DATABASE_WORDS = ("database", "sqlstate", "mysql", "postgres", "pdo", "db server")


class Failure(StrEnum):
    """Kinds of failure; each one is the business of exactly one alert rule (on health)."""

    UNREACHABLE = "unreachable"  # nothing came back: timeout, refused, DNS, TLS, hang-up
    PROXY = "proxy"  # an HTTP error that is not the API's: a proxy or load balancer answered
    OVERLOADED = "overloaded"  # 503 with code 1016 System overloaded
    RATE_LIMITED = "rate_limited"  # 429
    AUTH = "auth"  # the API refuses the watchdog's credentials, or they are not usable
    COREAPP_UNREACHABLE = "coreapp_unreachable"  # 1014 whose details name the Coreapp
    NOT_READY = "not_ready"  # 1011 Service not ready: starting, or stuck starting
    API_ERROR = "api_error"  # any other error the API answered in its own envelope
    NOT_FOUND = "not_found"  # 404: the URL is not the monitoring node
    UNUSABLE = "unusable"  # a 2xx whose body cannot be used
    INTERNAL = "internal"  # the watchdog itself failed (a bug); see its log
    TRANSIENT = "transient"  # Graph: a temporary failure at Meta (codes 1, 2, 131000, 131016)


# A Cloud number's poll that failed on the way to Meta (a timeout, a proxy's or edge's error
# page, a captive portal's 200 or a body cut short) is as likely a blip as Meta's own temporary
# errors: reference §9 alerts on transient failures after 3 in a row. An On-Prem health node is
# the watchdog's neighbour; it pages at once.
_CLOUD_TRANSIENT = (Failure.TRANSIENT, Failure.UNREACHABLE, Failure.PROXY, Failure.UNUSABLE)


def is_transient(target: Target, failure: Failure) -> bool:
    """Whether a failed poll of `target` may be a blip, which pages only when it repeats."""
    return failure is Failure.TRANSIENT or (target.kind == "cloud" and failure in _CLOUD_TRANSIENT)


@dataclass(frozen=True)
class Diagnosis:
    """A failure's kind and what to tell people: a short phrase and a sentence of advice."""

    failure: Failure
    # "is overloaded (503, code 1016)": completes "WhatsApp API <target> ...".
    what: str
    # What to do, for descriptions and the status page; what the answer said is the result's
    # `detail`, which carries the API's error with its details.
    advice: str


def api_error_text(error: ApiErrorInfo | None) -> str:
    """`Internal error (1014): Can't connect to ...`, or "" without an API error."""
    if error is None:
        return ""
    text = error.title or "error"
    if error.code is not None:
        text += f" ({error.code})"
    if error.details:
        text += f": {error.details}"
    return text


def _status_and_code(status: int | None, error: ApiErrorInfo) -> str:
    return f"{status}, code {error.code}" if error.code is not None else f"{status}"


def _mentions(error: ApiErrorInfo | None, words: tuple[str, ...]) -> bool:
    text = " ".join(filter(None, (error.details, error.title))) if error else ""
    return any(word in text.lower() for word in words)


def is_password_change(error: ApiErrorInfo | None) -> bool:
    """A login refused until the password is changed: code 1024, or (UNCONFIRMED wording of
    later versions) details that say the password expired or must be changed."""
    if error is None:
        return False
    if error.code == PASSWORD_CHANGE_CODE:
        return True
    details = (error.details or "").lower()
    return "password" in details and ("expired" in details or "must be changed" in details)


def diagnose(result: PollResult) -> Diagnosis | None:
    """What the failed poll `result` means; None for a success."""
    reason = result.reason
    if reason is None:
        return None
    error = result.api_error
    status = result.status_code
    if result.endpoint.spec.kind == "cloud":
        return _graph(reason, status, error)
    if reason in UNREACHABLE:
        return Diagnosis(
            Failure.UNREACHABLE,
            f"is unreachable ({reason})",
            "Check the webapp pods, their Service and network policies, DNS, "
            "and the certificate (WATCHDOG_TLS_CA_FILE / WATCHDOG_TLS_INSECURE).",
        )
    if reason in UNUSABLE_BODY:
        return Diagnosis(
            Failure.UNUSABLE,
            f"gives an unusable answer ({reason})",
            "The answer is not the API's: a proxy, an ingress or a captive "
            "page may stand in front of the Webapp, or the URL points elsewhere.",
        )
    if reason == INTERNAL:
        return Diagnosis(
            Failure.INTERNAL,
            "cannot be checked (internal error)",
            "The watchdog failed to poll; its log has the traceback.",
        )
    if reason == AUTH_CONFIG:
        password = is_password_change(error)
        return Diagnosis(
            Failure.AUTH,
            "refuses the web user's login: password change required"
            if password
            else "cannot be polled: credentials not usable",
            "Log in once with a new password (POST /v1/users/login with new_password) and "
            "give it to the watchdog (WA_WEB_PASSWORD or WA_WEB_PASSWORD_FILE)."
            if password
            else "Fix the credentials the detail names.",
        )
    if status == 429 or reason == RATE_LIMITED:
        return Diagnosis(
            Failure.RATE_LIMITED,
            "rate limits the watchdog (429)",
            "Something else uses up the API's budget (health: 10 calls per "
            "60 s for all callers): point probes at the watchdog's /probe endpoints.",
        )
    if error is None and status is not None and status >= 500:
        where = (
            "is unavailable behind its proxy/load balancer"
            if status in _PROXY_STATUSES
            else "fails without an API answer"
        )
        return Diagnosis(
            Failure.PROXY,
            f"{where} (HTTP {status})",
            f"HTTP {status} without the API's error envelope: a proxy, load balancer or the "
            "web server answered, not the Webapp. Check that the webapp pods run and pass "
            "their readiness, and the proxy's upstream configuration.",
        )
    if status == 401 or (status == 403 and error is not None and error.code == ACCESS_DENIED_CODE):
        return Diagnosis(
            Failure.AUTH,
            f"rejects the watchdog's credentials ({status})",
            "The API key is wrong or was rotated (update the secret behind "
            "WA_API_KEY_FILE; the watchdog re-reads it), or this version refuses the key here "
            "(set WATCHDOG_AUTH_MODE=auto with WA_WEB_USERNAME/WA_WEB_PASSWORD).",
        )
    if status == 404:
        by = "the API" if error is not None else "the server (not the API's envelope)"
        return Diagnosis(
            Failure.NOT_FOUND,
            "answers 404 Not Found",
            f"{by.capitalize()} does not know {result.endpoint.path}: check the target URL "
            "(scheme, host, path prefix) and the ingress in front of the Webapp.",
        )
    if error is None:
        return Diagnosis(
            Failure.PROXY,
            f"answers HTTP {status} without an API answer",
            "Not the API's error envelope: something in front of the Webapp (a proxy, WAF or "
            "ingress) answered. Check what serves the target URL.",
        )
    if status == 503 and error.code == OVERLOADED_CODE:
        return Diagnosis(
            Failure.OVERLOADED,
            "is overloaded (503, code 1016)",
            "The Coreapp's queues are close to full. "
            "Slow down or pause senders, check pending_messages and callback_queue_size "
            "(webhook receivers failing?), and add coreapps/shards if this is load.",
        )
    if error.code == NOT_READY_CODE:
        return Diagnosis(
            Failure.NOT_READY,
            f"is not ready ({status}, code 1011)",
            "A Webapp that is starting says this until its Coreapp is up; one that stays so is "
            "stuck: check the coreapp and master pods and their logs.",
        )
    if error.code == INTERNAL_ERROR_CODE and _mentions(error, _COREAPP_WORDS):
        return Diagnosis(
            Failure.COREAPP_UNREACHABLE,
            "cannot reach its Coreapp (1014)",
            "The Webapp cannot reach the Coreapp: check the coreapp pods and their ports "
            "6250-6253.",
        )
    if _mentions(error, _DATABASE_WORDS) or error.code == 1023:
        return Diagnosis(
            Failure.API_ERROR,
            f"reports a database error ({_status_and_code(status, error)})",
            "Check the database (MySQL/PostgreSQL) and the Webapp's connection settings to it.",
        )
    return Diagnosis(
        Failure.API_ERROR,
        f"answers an error ({_status_and_code(status, error)})",
        "Check the Webapp's and the Coreapp's logs around this time.",
    )


# What a failed Graph poll means, by reason (`api/graph_errors.py` keyed them on Meta's codes).
_GRAPH: dict[str, tuple[Failure, str, str]] = {
    GRAPH_TOKEN: (
        Failure.AUTH,
        "refuses the access token",
        "The token expired, was revoked or is invalid: issue a new system user token in "
        "Business Manager and write it to WA_CLOUD_ACCESS_TOKEN_FILE (the watchdog re-reads it).",
    ),
    GRAPH_PERMISSION: (
        Failure.AUTH,
        "denies the access token this node",
        "Give the system user whatsapp_business_management and whatsapp_business_messaging, "
        "and assign it the WhatsApp Business Account as an asset.",
    ),
    GRAPH_THROTTLED: (
        Failure.RATE_LIMITED,
        "rate limits the watchdog (Graph throttling)",
        "The business's hourly Graph allowance is used up: the watchdog slows down until "
        "Meta lets calls through; lower the poll rate or find the other heavy caller.",
    ),
    GRAPH_TRANSIENT: (
        Failure.TRANSIENT,
        "has a temporary failure at Meta",
        "Meta says a retry may work; check https://metastatus.com if it lasts.",
    ),
    GRAPH_OTHER: (
        Failure.API_ERROR,
        "answers a Graph error",
        "Read Meta's message and code in the detail (100 with subcode 33: the "
        "phone_number_id or waba_id does not exist, or the token may not see it); the "
        "fbtrace_id identifies the call for Meta support.",
    ),
}


def _graph(reason: str, status: int | None, error: ApiErrorInfo | None) -> Diagnosis:
    known = _GRAPH.get(reason)
    if known is not None:
        return Diagnosis(*known)
    if reason in UNREACHABLE:
        return Diagnosis(
            Failure.UNREACHABLE,
            f"cannot reach the Graph API ({reason})",
            "Check the egress to graph.facebook.com (proxy, network policy, DNS) and the "
            "target's url.",
        )
    if reason in UNUSABLE_BODY:
        return Diagnosis(
            Failure.UNUSABLE,
            f"gives an unusable answer ({reason})",
            "The answer is not Graph's: a proxy or captive page may stand in the way, or the "
            "url points elsewhere.",
        )
    if reason == AUTH_CONFIG:
        return Diagnosis(
            Failure.AUTH,
            "cannot be polled: access token not usable",
            "Fix the token the detail names (WA_CLOUD_ACCESS_TOKEN or its file).",
        )
    if reason == INTERNAL:
        return Diagnosis(
            Failure.INTERNAL,
            "cannot be checked (internal error)",
            "The watchdog failed to poll; its log has the traceback.",
        )
    if status == 404:
        return Diagnosis(
            Failure.NOT_FOUND,
            "answers 404 Not Found",
            "Check the target's url, graph_version and the node id.",
        )
    if error is None:
        return Diagnosis(
            Failure.PROXY,
            f"answers HTTP {status} without Graph's error envelope",
            "Something between the watchdog and Meta answered (an egress proxy, a gateway, a "
            "firewall): check that it lets the watchdog reach graph.facebook.com, and the "
            "target's url.",
        )
    code = f", code {error.code}" if error.code is not None else ""
    return Diagnosis(
        Failure.API_ERROR,
        f"answers HTTP {status}{code}",
        "Check the phone_number_id / waba_id and the token's access to them; Meta's message "
        "is in the detail.",
    )
