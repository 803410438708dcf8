"""The fault scenarios the simulator can play, switchable at start and at run time."""

from __future__ import annotations

from enum import StrEnum


class Scenario(StrEnum):
    """What the simulated deployment is going through. The README documents each one."""

    HEALTHY = "healthy"
    OVERLOADED = "overloaded"
    BUSY = "busy"
    RATE_LIMITED = "rate_limited"
    GATEWAY_DISCONNECTED = "gateway_disconnected"
    COREAPP_DOWN = "coreapp_down"
    UNINITIALIZED = "uninitialized"
    UNREGISTERED = "unregistered"
    SLOW = "slow"
    MALFORMED = "malformed"
    FLAPPING = "flapping"
    NOT_READY = "not_ready"
    PROXY_502 = "proxy_502"
    PROXY_503 = "proxy_503"
    PROXY_504 = "proxy_504"
    DATABASE_DOWN = "database_down"
    HEALTH_UNUSABLE = "health_unusable"
    GATEWAY_CONNECTING = "gateway_connecting"
    MASTER_LOST = "master_lost"


DESCRIPTIONS: dict[Scenario, str] = {
    Scenario.HEALTHY: "all gateways as the topology expects, every endpoint answers 200",
    Scenario.OVERLOADED: "503/1016 on every API endpoint; other clients' 503s and queues climb",
    Scenario.BUSY: "other clients get 503/1016 (the API's counters rise) while monitoring "
    "endpoints still answer",
    Scenario.RATE_LIMITED: "other callers use up the health budget (health answers 429/1015); "
    "about half the requests to the other endpoints get 429/1015; the API's 429 counters rise",
    Scenario.GATEWAY_DISCONNECTED: "single/HA: every node reports disconnected; multiconnect: "
    "one shard's coreapp disconnects",
    Scenario.COREAPP_DOWN: "single: health and stats answer 500/1014; HA/multiconnect: the "
    "active coreapp's health entry becomes an errors object and it drops out of stats",
    Scenario.UNINITIALIZED: "every node reports uninitialized (upgrade or schema set-up)",
    Scenario.UNREGISTERED: "every node reports unregistered (the number is not registered)",
    Scenario.SLOW: "every API endpoint answers correctly after a delay (--slow-delay)",
    Scenario.MALFORMED: "every API endpoint answers 200 with a truncated JSON body",
    Scenario.FLAPPING: "alternates between healthy and gateway_disconnected every "
    "--flap-period seconds",
    Scenario.NOT_READY: "the Webapp is starting and its Coreapp is not ready: health and stats "
    "answer 500/1011 Service not ready; /metrics still answers",
    Scenario.PROXY_502: "a reverse proxy in front answers every API path 502 with an HTML page "
    "(no JSON, no error envelope, no X-Request-ID); the Webapp sees nothing",
    Scenario.PROXY_503: "as proxy_502, with 503 (no upstream available)",
    Scenario.PROXY_504: "as proxy_502, with 504 after --slow-delay (the proxy gave up waiting)",
    Scenario.DATABASE_DOWN: "health, stats and login answer 500/1014 \"Can't connect to the "
    'Database server through socket" (so do bearer tokens); /metrics answers the API key and '
    "shows failing database calls",
    Scenario.HEALTH_UNUSABLE: 'health answers 200 with {"health": {}, "meta": ...}: JSON, but '
    "no gateway status in it; other endpoints answer normally",
    Scenario.GATEWAY_CONNECTING: "the active coreapp(s) report connecting for as long as it "
    "lasts; accepted messages pile up",
    Scenario.MASTER_LOST: "multiconnect: the primary master and one shard's coreapp report "
    "disconnected (it looks like HA); other topologies answer as healthy",
}

# What the Coreapps report: the same whichever Webapp answers, so a per-Webapp override of one
# of these would contradict the other Webapps' answers and is refused.
COREAPP_SCENARIOS = frozenset(
    {
        Scenario.GATEWAY_DISCONNECTED,
        Scenario.COREAPP_DOWN,
        Scenario.UNINITIALIZED,
        Scenario.UNREGISTERED,
        Scenario.FLAPPING,
        Scenario.GATEWAY_CONNECTING,
        Scenario.MASTER_LOST,
    }
)

PROXY_STATUS: dict[Scenario, int] = {
    Scenario.PROXY_502: 502,
    Scenario.PROXY_503: 503,
    Scenario.PROXY_504: 504,
}
