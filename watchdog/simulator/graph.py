"""The simulated WhatsApp Cloud API (Meta Graph API): one WABA, its phone numbers, one token.

A monitor reads the phone-number node, the WABA's `health_status` and `debug_token`
(reference §1 to §3); the WABA's management calls share one hourly budget (§4, `graph_usage.py`).
Thread-safe, since uvicorn and the tests share it; time comes from an injectable clock.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from watchdog.simulator.graph_errors import (
    INVALID_TOKEN,
    GraphError,
    expired_token,
    nonexisting_field,
)
from watchdog.simulator.graph_health import Ids, health_status
from watchdog.simulator.graph_scenarios import NUMBER_SCENARIOS, GraphScenario
from watchdog.simulator.graph_usage import Usage, UsageMeter

Clock = Callable[[], float]

DAY = 86_400.0
# A system-user token's look (Graph tokens start with "EAA"); a well-known demo value, like the
# On-Prem simulator's demo key.
DEMO_TOKEN = "EAAwatchdogDemoGraphToken0123456789"  # noqa: S105 - documented demo value
DEMO_APP_SECRET = "watchdog-demo-app-secret"  # noqa: S105 - documented demo value
# The ids of Meta's own health-status examples.
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
BUSINESS_ID = "506914307656634"
APP_ID = "634974688087057"
SCOPES = ("business_management", "whatsapp_business_management", "whatsapp_business_messaging")

PHONE_NODE = "WhatsAppBusinessPhoneNumber"
WABA_NODE = "WhatsAppBusinessAccount"
# The phone-number fields a monitor reads (§2); without `fields` Graph returns the first four.
PHONE_DEFAULT = ("id", "display_phone_number", "verified_name", "quality_rating")
PHONE_FIELDS = frozenset(
    {
        *PHONE_DEFAULT,
        "status",
        "whatsapp_business_manager_messaging_limit",
        "messaging_limit_tier",
        "throughput",
        "name_status",
        "code_verification_status",
        "platform_type",
        "is_official_business_account",
        "last_onboarded_time",
        "health_status",
    }
)
# A WABA's defaults are UNCONFIRMED; id and name are what Graph gives most nodes.
WABA_DEFAULT = ("id", "name")
WABA_FIELDS = frozenset(
    {
        *WABA_DEFAULT,
        "currency",
        "timezone_id",
        "account_review_status",
        "whatsapp_business_manager_messaging_limit",
        "health_status",
    }
)


@dataclass
class GraphConfig:
    """What the simulated account is and how tight its budget is; defaults follow the reference."""

    token: str = DEMO_TOKEN
    phone_number_ids: tuple[str, ...] = (PHONE_NUMBER_ID,)
    waba_id: str = WABA_ID
    business_id: str = BUSINESS_ID
    app_id: str = APP_ID
    # debug_token may also be called with the app token `<app_id>|<app_secret>` (reference §3).
    app_secret: str = DEMO_APP_SECRET
    scenario: GraphScenario = GraphScenario.HEALTHY
    # Management calls per rolling hour of an active WABA (reference §4).
    hourly_allowance: int = 5_000
    # The allowance while the throttling scenario plays, so the usage climbs in a few polls.
    throttling_allowance: int = 10
    # Graph answers 80008 with 400 or 429 (sources differ). 429 by default, in line with the
    # BSP mapping the other errors follow (190 → 401, 2 → 503); 400 tests a client that keys on
    # the code, as it should.
    throttle_status: int = 429
    # The version of an unversioned call (Graph uses the app dashboard's, reference §5).
    default_version: str = "v25.0"
    display_phone_number: str = "15550783881"
    verified_name: str = "Watchdog Demo"
    waba_name: str = "Watchdog Demo WABA"
    app_name: str = "wa-watchdog simulator"
    system_user_id: str = "122094817265330001"

    def __post_init__(self) -> None:
        ids = [*self.phone_number_ids, self.waba_id, self.business_id, self.app_id]
        if not self.phone_number_ids:
            raise ValueError("at least one phone number id is needed")
        if not all(i.isdecimal() for i in ids) or len(set(ids)) != len(ids):
            raise ValueError("phone number, WABA, business and app ids must be distinct numbers")
        if not self.token:
            raise ValueError("the token must not be empty")
        if min(self.hourly_allowance, self.throttling_allowance) < 1:
            raise ValueError("allowances must be at least 1")
        if self.throttle_status not in (400, 429):
            raise ValueError("throttle_status must be 400 or 429")


@dataclass(frozen=True)
class PhoneNumber:
    id: str
    display_phone_number: str
    onboarded_at: float


class GraphDeployment:
    """The state of one simulated WABA; thread-safe."""

    def __init__(self, config: GraphConfig, clock: Clock = time.time) -> None:
        self.config = config
        self.clock = clock
        now = clock()
        self.started_at = now
        base = int(config.display_phone_number)
        self.numbers = [
            PhoneNumber(number_id, str(base + i), now - (90 + i) * DAY)
            for i, number_id in enumerate(config.phone_number_ids)
        ]
        self._by_id = {n.id: n for n in self.numbers}
        self.ids = Ids(waba=config.waba_id, business=config.business_id, app=config.app_id)
        self._lock = threading.RLock()
        self._scenario = config.scenario
        self._switched_at = now
        self._overrides: dict[str, GraphScenario] = {}
        self._hourly_allowance = config.hourly_allowance
        self.usage = UsageMeter(self._allowance(config.scenario))

    # -- scenario ---------------------------------------------------------------------------

    @property
    def scenario(self) -> GraphScenario:
        return self._scenario

    @property
    def switched_at(self) -> float:
        """When the account's scenario was last switched (at start, at first)."""
        return self._switched_at

    def set_scenario(self, scenario: GraphScenario, phone_number_id: str | None = None) -> None:
        """Switch the account's scenario (clearing every number's own), or one number's.

        Raises ValueError for an unknown number, or for a scenario of the account (token,
        budget, WABA, transport), which every number shares.
        """
        if phone_number_id is not None:
            if phone_number_id not in self._by_id:
                raise ValueError(f"unknown phone number id {phone_number_id!r}")
            if scenario not in NUMBER_SCENARIOS and scenario is not GraphScenario.HEALTHY:
                raise ValueError(f"{scenario.value} concerns the whole account: set it alone")
            with self._lock:
                self._overrides[phone_number_id] = scenario
            return
        with self._lock:
            self._scenario = scenario
            self._switched_at = self.clock()
            self._overrides.clear()
            self.usage.set_allowance(self._allowance(scenario))

    def number_scenario(self, phone_number_id: str) -> GraphScenario:
        """What one number plays: its own scenario, else the account's if it is a number's."""
        with self._lock:
            own = self._overrides.get(phone_number_id)
            if own is not None:
                return own
            return self._scenario if self._scenario in NUMBER_SCENARIOS else GraphScenario.HEALTHY

    def overrides(self) -> dict[str, GraphScenario]:
        with self._lock:
            return dict(self._overrides)

    # -- budget -----------------------------------------------------------------------------

    @property
    def hourly_allowance(self) -> int:
        return self._hourly_allowance

    def set_hourly_allowance(self, allowance: int) -> None:
        """The allowance outside the throttling scenario (which keeps its own small one)."""
        if allowance < 1:
            raise ValueError("the hourly allowance must be at least 1")
        with self._lock:
            self._hourly_allowance = allowance
            self.usage.set_allowance(self._allowance(self._scenario))

    def _allowance(self, scenario: GraphScenario) -> int:
        if scenario is GraphScenario.THROTTLING:
            return self.config.throttling_allowance
        return self._hourly_allowance

    def count_call(self, now: float) -> tuple[bool, Usage]:
        """One management call on the WABA: (allowed, the usage to report)."""
        return self.usage.call(now)

    def restart(self) -> None:
        """Forget the calls of the past hour (the budget is full again)."""
        self.usage.reset()

    # -- token ------------------------------------------------------------------------------

    def token_expires_at(self) -> float:
        """`expires_at` of the token: 0 = never (a system user's usual choice)."""
        with self._lock:
            if self._scenario is GraphScenario.TOKEN_EXPIRED:
                return self._switched_at
            if self._scenario is GraphScenario.TOKEN_EXPIRING:
                return self._switched_at + 3 * DAY
        return 0.0

    def check_token(self, token: str, now: float) -> GraphError | None:
        """None if `token` is the account's and has not expired; else the 190 to answer."""
        if not token or not hmac.compare_digest(token.encode(), self.config.token.encode()):
            return INVALID_TOKEN
        expires = self.token_expires_at()
        if expires and now >= expires:
            return expired_token(expires, now)
        return None

    def is_app_token(self, token: str) -> bool:
        app_token = f"{self.config.app_id}|{self.config.app_secret}"
        return hmac.compare_digest(token.encode(), app_token.encode())

    def debug_token(self, input_token: str, now: float) -> dict[str, Any]:
        """The `data` of `GET /debug_token?input_token=...` (reference §3)."""
        c = self.config
        if self.is_app_token(input_token):
            return {
                "app_id": c.app_id,
                "type": "APP",
                "application": c.app_name,
                "is_valid": True,
                "scopes": [],
            }
        if not hmac.compare_digest(input_token.encode(), c.token.encode()):
            # Graph answers an unknown token inside `data`, with 200 (plausible wording).
            return {
                "error": {
                    "code": 190,
                    "message": "Invalid OAuth access token - Cannot parse access token",
                },
                "is_valid": False,
                "scopes": [],
            }
        expires = self.token_expires_at()
        problem = self.check_token(input_token, now)
        data: dict[str, Any] = {
            "app_id": c.app_id,
            "type": "SYSTEM_USER",
            "application": c.app_name,
            "data_access_expires_at": 0,
            "expires_at": int(expires),
            "is_valid": problem is None,
            "issued_at": int(self.started_at - 30 * DAY),
            "scopes": list(SCOPES),
            "granular_scopes": [
                {"scope": "business_management"},
                {"scope": "whatsapp_business_management", "target_ids": [c.waba_id]},
                {"scope": "whatsapp_business_messaging", "target_ids": [c.waba_id]},
            ],
            "user_id": c.system_user_id,
        }
        if problem is not None:
            # An expired token's data carries the error it would raise (Graph's habit).
            data["error"] = {
                "code": problem.code,
                "message": problem.message,
                "subcode": problem.subcode,
            }
        return data

    # -- nodes ------------------------------------------------------------------------------

    def is_phone_number(self, node_id: str) -> bool:
        return node_id in self._by_id

    def is_waba(self, node_id: str) -> bool:
        return node_id == self.config.waba_id

    def phone_number(self, node_id: str, fields: list[str] | None) -> dict[str, Any] | GraphError:
        """The phone-number node with `fields` (None: the defaults), or a 100 for a bad field."""
        return _select(
            fields, PHONE_DEFAULT, PHONE_FIELDS, PHONE_NODE, lambda: self._phone(node_id)
        )

    def phone_numbers(self, fields: list[str] | None) -> dict[str, Any] | GraphError:
        """`GET /<WABA_ID>/phone_numbers`: every number, oldest onboarding last."""
        data = []
        for number in sorted(self.numbers, key=lambda n: n.onboarded_at, reverse=True):
            answer = self.phone_number(number.id, fields)
            if isinstance(answer, GraphError):
                return answer
            data.append(answer)
        cursor = "QVFIU" + self.config.waba_id  # opaque to clients; one page only
        return {"data": data, "paging": {"cursors": {"before": cursor, "after": cursor}}}

    def waba(self, fields: list[str] | None) -> dict[str, Any] | GraphError:
        return _select(fields, WABA_DEFAULT, WABA_FIELDS, WABA_NODE, self._waba)

    def _limits(self) -> tuple[str, str]:
        """The portfolio's messaging limit and the throughput level (shared by its numbers).

        HIGH is known only from one SDK (reference §2, UNCONFIRMED); the drop to TIER_2K and
        STANDARD is what limit_dropped shows from the moment it is switched on.
        """
        if self._scenario is GraphScenario.LIMIT_DROPPED:
            return "TIER_2K", "STANDARD"
        return "TIER_10K", "HIGH"

    def _phone(self, node_id: str) -> dict[str, Any]:
        number = self._by_id[node_id]
        with self._lock:
            account = self._scenario
            own = self.number_scenario(node_id)
            limit, level = self._limits()
        return {
            "id": number.id,
            "display_phone_number": number.display_phone_number,
            "verified_name": self.config.verified_name,
            "status": "DISCONNECTED" if own is GraphScenario.DISCONNECTED else "CONNECTED",
            "quality_rating": "RED" if own is GraphScenario.QUALITY_RED else "GREEN",
            "whatsapp_business_manager_messaging_limit": limit,
            # Deprecated: a report says it comes back null (reference §2, UNCONFIRMED).
            "messaging_limit_tier": None,
            "throughput": {"level": level},
            "name_status": "PENDING_REVIEW" if own is GraphScenario.LIMITED else "APPROVED",
            "code_verification_status": "VERIFIED",
            "platform_type": "CLOUD_API",
            "is_official_business_account": False,
            "last_onboarded_time": _graph_time(number.onboarded_at),
            # A disconnected number keeps an AVAILABLE health_status: which entity and code a
            # disconnection would show is UNCONFIRMED, and a monitor must read `status` anyway.
            "health_status": health_status(self.ids, account, (node_id, own)),
        }

    def _waba(self) -> dict[str, Any]:
        with self._lock:
            account = self._scenario
            limit, _ = self._limits()
        return {
            "id": self.config.waba_id,
            "name": self.config.waba_name,
            "currency": "USD",
            "timezone_id": "1",
            "account_review_status": "APPROVED",
            "whatsapp_business_manager_messaging_limit": limit,
            "health_status": health_status(self.ids, account),
        }


def _select(
    fields: list[str] | None,
    default: tuple[str, ...],
    known: frozenset[str],
    node_type: str,
    build: Callable[[], dict[str, Any]],
) -> dict[str, Any] | GraphError:
    wanted = list(default) if fields is None else fields
    for name in wanted:
        if name not in known:
            return nonexisting_field(name, node_type)
    values = build()
    # The fields asked for, in their order, then `id`, which Graph always adds (last).
    answer = {name: values[name] for name in dict.fromkeys(wanted) if name != "id"}
    answer["id"] = values["id"]
    return answer


def _graph_time(epoch: float) -> str:
    """Graph's datetime format (`2024-01-15T10:00:00+0000`); for this field UNCONFIRMED."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
