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
}
