"""The scenarios the simulated Cloud API (Graph) can play, switchable at start and at run time."""

from __future__ import annotations

from enum import StrEnum


class GraphScenario(StrEnum):
    """What the simulated WhatsApp Business Account is going through."""

    HEALTHY = "healthy"
    BLOCKED = "blocked"
    LIMITED = "limited"
    QUALITY_RED = "quality_red"
    DISCONNECTED = "disconnected"
    CALLING_BLOCKED = "calling_blocked"
    WABA_BLOCKED = "waba_blocked"
    LIMIT_DROPPED = "limit_dropped"
    THROTTLING = "throttling"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 (a scenario name)
    TOKEN_EXPIRING = "token_expiring"  # noqa: S105 (a scenario name)
    TRANSIENT_503 = "transient_503"
    HTML_PROXY = "html_proxy"


GRAPH_DESCRIPTIONS: dict[GraphScenario, str] = {
    GraphScenario.HEALTHY: "every entity AVAILABLE, quality GREEN, status CONNECTED, limit "
    "TIER_10K, throughput HIGH, a token that never expires",
    GraphScenario.BLOCKED: "the phone number's can_send_message is BLOCKED (error 131031, "
    "account locked); overall BLOCKED",
    GraphScenario.LIMITED: "the phone number is LIMITED with additional_info (display name not "
    "approved yet); name_status PENDING_REVIEW; overall LIMITED",
    GraphScenario.QUALITY_RED: "quality_rating RED; health and limits unchanged (quality no "
    "longer lowers the limit)",
    GraphScenario.DISCONNECTED: "the number's status is DISCONNECTED; health_status still "
    "says AVAILABLE, so only `status` shows it",
    GraphScenario.CALLING_BLOCKED: "the documented SIP quirk: overall BLOCKED (errors "
    "138024/138025 on can_receive_call_sip) while every can_send_message is AVAILABLE",
    GraphScenario.WABA_BLOCKED: "the WABA entity is BLOCKED (error 141006, payment method) in "
    "the number's and the WABA's health_status",
    GraphScenario.LIMIT_DROPPED: "the portfolio's messaging limit drops from TIER_10K to "
    "TIER_2K and throughput from HIGH to STANDARD when switched on",
    GraphScenario.THROTTLING: "a small hourly allowance (GraphConfig.throttling_allowance, 10 "
    "calls): the usage header climbs call by call to 100 %, then 80008 with a regain time",
    GraphScenario.TOKEN_EXPIRED: "the token expired when switched on: 190/463 on every call "
    "made with it; debug_token (with the app token) says is_valid false",
    GraphScenario.TOKEN_EXPIRING: "the token is valid but expires 3 days after being switched "
    "on (debug_token expires_at), then answers as token_expired",
    GraphScenario.TRANSIENT_503: 'every Graph call answers 503 with code 2 "Service '
    'temporarily unavailable", is_transient true',
    GraphScenario.HTML_PROXY: "a proxy in front answers every Graph call 502 with an HTML page "
    "(no JSON, no error envelope, no usage header)",
}

# What one phone number shows; a number may play one of these (or healthy) on its own while the
# others play the account's scenario. Every other scenario belongs to the WABA, its portfolio,
# the token or the path to Graph, which all numbers share.
NUMBER_SCENARIOS = frozenset(
    {
        GraphScenario.BLOCKED,
        GraphScenario.LIMITED,
        GraphScenario.QUALITY_RED,
        GraphScenario.DISCONNECTED,
        GraphScenario.CALLING_BLOCKED,
    }
)
