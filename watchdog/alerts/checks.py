"""What each alert rule checks: conditions over one target's state at one moment.

A check looks at the latest results, the windowed history and the parameters its rule passes,
and returns the conditions that hold now (none, one, or one per node). Timing — `for`,
hysteresis, resolving — is the engine's business, so checks stay pure and easy to test. The
rules themselves (names, severities, parameters and their defaults) are declared in
`watchdog.alerts.rules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from watchdog.alerts.history import History
from watchdog.api.cloud import CloudMemory
from watchdog.api.diagnosis import Failure, diagnose, is_transient
from watchdog.api.endpoints import Endpoint, primary
from watchdog.api.gateways import NOT_REGISTERED, GatewayVerdict
from watchdog.api.payloads import Health
from watchdog.api.results import Observation
from watchdog.base.durations import format_duration
from watchdog.base.targets import Target
from watchdog.state import EndpointState


@dataclass(frozen=True)
class Condition:
    """A rule holding for one target (and node, when `labels` has one), with what to say."""

    summary: str
    description: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetView:
    """What a rule may look at for one target at one moment."""

    target: Target
    endpoints: dict[Endpoint, EndpointState]
    history: History
    now: float
    # The gateway verdict on the latest fresh health answer (`State.gateway`).
    gateway: GatewayVerdict | None = None
    # A Cloud target's memory of earlier answers: drops, the latest usage (`State.cloud_memory`).
    cloud: CloudMemory | None = None

    def fresh(self, endpoint: Endpoint) -> Observation | None:
        """The last answer of `endpoint` when it succeeded and is fresh."""
        state = self.endpoints.get(endpoint)
        if state is None or state.last is None or not state.last.ok or not state.fresh(self.now):
            return None
        return state.last

    def recent(self, endpoint: Endpoint) -> Observation | None:
        """The last successful answer of `endpoint` while it is fresh, even when a later poll
        failed (`EndpointState.fresh_success`): a Cloud number's state (a block, a RED rating)
        is Meta's until an answer says otherwise, so a throttled or failed poll must not resolve
        its alert (the poll's failure has rules of its own). `/metrics` and the page keep it
        just as long."""
        state = self.endpoints.get(endpoint)
        return state.fresh_success(self.now) if state is not None else None

    def fresh_health(self) -> Health | None:
        state = self.endpoints.get(Endpoint.HEALTH)
        if state is None or state.last is None or not state.last.ok or not state.fresh(self.now):
            return None
        return state.last.health


# Which rule speaks for a failed health poll, by what the failure is: every kind has exactly
# one, so no failing health answer goes without an alert and none pages twice.
HEALTH_RULES: dict[Failure, str] = {
    Failure.UNREACHABLE: "unreachable",
    Failure.PROXY: "unreachable",
    Failure.OVERLOADED: "overloaded",
    Failure.AUTH: "auth_rejected",
    Failure.COREAPP_UNREACHABLE: "gateway_down",
    Failure.RATE_LIMITED: "health_failing",
    Failure.NOT_READY: "health_failing",
    Failure.API_ERROR: "health_failing",
    Failure.NOT_FOUND: "health_failing",
    Failure.UNUSABLE: "health_failing",
    Failure.INTERNAL: "health_failing",
    # Graph: Meta says a retry may work; `health_failing` speaks only after several in a row.
    Failure.TRANSIENT: "health_failing",
}
# A Cloud number's poll: Graph throttling (the only way one is rate limited) is the business's
# hourly allowance used up, `cloud_rate_limit_near`'s warning, not a failure of the number.
CLOUD_HEALTH_RULES: dict[Failure, str] = {
    **HEALTH_RULES,
    Failure.RATE_LIMITED: "cloud_rate_limit_near",
}


def health_rules(target: Target) -> dict[Failure, str]:
    """Which rule speaks for a failed poll of `primary(target)`, by what the failure is."""
    return CLOUD_HEALTH_RULES if target.kind == "cloud" else HEALTH_RULES


def _health_conditions(
    view: TargetView, rule: str, summary: str = "", *, transient_polls: int = 1
) -> list[Condition]:
    """The condition of the failing health poll this rule speaks for, if there is one: what
    the answer showed, how long it has failed, and what to do."""
    endpoint = primary(view.target)
    state = view.endpoints.get(endpoint)
    if state is None or state.last is None:
        return []
    diagnosis = diagnose(state.last.result)
    if diagnosis is None or health_rules(view.target)[diagnosis.failure] != rule:
        return []
    count = state.consecutive_failures
    if is_transient(view.target, diagnosis.failure) and count < transient_polls:
        return []
    polls = f"The last {count} {endpoint.value} poll{'s' if count != 1 else ''} failed"
    return [
        Condition(
            summary=summary or f"WhatsApp API {view.target.name} {diagnosis.what}",
            description=f"{polls}: {state.last_detail}. {diagnosis.advice}",
        )
    ]


def overloaded(view: TargetView, *, window: float) -> list[Condition]:
    own = view.history.own_failures(view.now, window, Failure.OVERLOADED)
    others = view.history.api_requests(view.now, window, "503")
    # Counts from the API's counters are spread over the time since each series' last value:
    # less than one request in the window is no evidence of a 503 in it.
    if not own and others < 1:
        return []
    window_text = format_duration(window)
    return [
        Condition(
            summary=f"WhatsApp API {view.target.name} is overloaded (503, code 1016)",
            description=(
                f"In the last {window_text}, {own} of the watchdog's polls got 503 System "
                f"overloaded (1016) and the API counted {others:.0f} requests of other clients "
                "answered 503. The Coreapp's queues are close to full: slow down or pause "
                "senders, check pending_messages and callback_queue_size (webhook receivers "
                "failing?), and add coreapps/shards if this is load."
            ),
        )
    ]


def rate_limit_spike(
    view: TargetView, *, window: float, threshold: int, ratio: float
) -> list[Condition]:
    if view.target.kind == "cloud":
        return []  # Graph throttling is `cloud_rate_limit_near`'s, with Meta's own usage figures
    own = view.history.own_failures(view.now, window, Failure.RATE_LIMITED)
    limited = view.history.api_requests(view.now, window, "429")
    total = view.history.api_requests(view.now, window)
    share = limited / total if total else 0.0
    if own < threshold and limited < threshold and not (limited >= 1 and share >= ratio):
        return []
    window_text = format_duration(window)
    return [
        Condition(
            summary=f"WhatsApp API {view.target.name} is rate limiting requests (429)",
            description=(
                f"In the last {window_text}, {own} of the watchdog's polls and "
                f"{limited:.0f} of {total:.0f} requests counted by the API ({share:.1%}) got "
                "429 Too many requests (1015). Senders exceed 20 requests/s per endpoint (50 "
                "for messages), or something probes /v1/health directly (10 calls per 60 s for "
                "all callers): point probes at the watchdog's /probe endpoints and smooth bursts."
            ),
        )
    ]


def health_failing(view: TargetView, *, transient_polls: int = 3) -> list[Condition]:
    return _health_conditions(view, "health_failing", transient_polls=transient_polls)


def gateway_down(view: TargetView) -> list[Condition]:
    summary = f"WhatsApp gateway of {view.target.name} is down: Coreapp unreachable"
    unreachable_coreapp = _health_conditions(view, "gateway_down", summary)
    if unreachable_coreapp:
        return unreachable_coreapp
    verdict = view.gateway if view.fresh_health() is not None else None
    if verdict is None or verdict.up or verdict.not_registered:
        return []  # WhatsAppNotRegistered says "not registered" better
    return [
        Condition(
            summary=f"WhatsApp gateway of {view.target.name} is down: {verdict.summary}",
            description=(
                f"Expected at least {verdict.expected} connected gateway(s), found "
                f"{verdict.connected} ({verdict.topology}). Not connected: "
                f"{', '.join(verdict.down) or 'none'}. Messages queue up and are not "
                "delivered; check the coreapp logs and their connection to WhatsApp."
            ),
        )
    ]


def gateway_degraded(view: TargetView) -> list[Condition]:
    verdict = view.gateway if view.fresh_health() is not None else None
    if verdict is None or not verdict.degraded:
        return []
    return [
        Condition(
            summary=f"WhatsApp gateways of {view.target.name} are degraded",
            description=(
                f"{'; '.join(d.text for d in verdict.degraded)}. Messages may still flow, but "
                "a multiconnect deployment without its primary master cannot fail over or "
                "rebalance shards, and a gateway that stays connecting never delivers: check "
                "the master and coreapp logs and their connection to WhatsApp."
            ),
        )
    ]


def unreachable(view: TargetView, *, transient_polls: int = 3) -> list[Condition]:
    return _health_conditions(view, "unreachable", transient_polls=transient_polls)


def auth_rejected(view: TargetView) -> list[Condition]:
    rejected = []
    advice = ""
    for endpoint, state in view.endpoints.items():
        if state.last is None:
            continue
        if endpoint is Endpoint.TOKEN:
            # debug_token's refusal may be the app token's, not the access token's, and its
            # answer is up to a day old; a rejected access token fails the number's own poll,
            # made with it. WhatsAppTokenExpiring speaks for debug_token (as the PromQL rule).
            continue
        diagnosis = diagnose(state.last.result)
        if diagnosis is None or diagnosis.failure is not Failure.AUTH:
            continue
        rejected.append(f"{endpoint.value}: {state.last.result.detail}")
        advice = advice or diagnosis.advice
    if not rejected:
        return []
    return [
        Condition(
            summary=f"WhatsApp API {view.target.name} rejects the watchdog's credentials",
            description=f"{'; '.join(rejected)}. {advice}",
        )
    ]


def not_registered(view: TargetView) -> list[Condition]:
    health = view.fresh_health()
    if health is None:
        return []
    conditions = []
    for node in health.nodes:
        if node.status not in NOT_REGISTERED:
            continue
        advice = (
            "The phone number must be registered (POST /v1/account) before messages flow."
            if node.status == "unregistered"
            else "The app is upgrading or setting up its database schema; if this lasts more "
            "than a few minutes, check the coreapp logs and contact support."
        )
        conditions.append(
            Condition(
                summary=f"WhatsApp node {node.node} of {view.target.name} is {node.status}",
                description=f"gateway_status is {node.status}. {advice}",
                labels={"node": node.node},
            )
        )
    return conditions


def queue_backlog(
    view: TargetView, *, pending_messages: int, callback_queue_size: int
) -> list[Condition]:
    observation = view.recent(Endpoint.STATS_APP)
    samples = observation.samples if observation is not None else None
    if samples is None:
        return []
    limits = {
        "pending_messages": pending_messages,
        "callback_queue_size": callback_queue_size,
    }
    over: dict[str, list[str]] = {}
    for sample in samples.samples:
        limit = limits.get(sample.name)
        if limit is not None and sample.value > limit:
            node = dict(sample.labels).get("node", "")
            over.setdefault(node, []).append(f"{sample.name} {sample.value:.0f} > {limit}")
    return [
        Condition(
            summary=f"WhatsApp queues of {view.target.name} are backing up",
            description=(
                f"{'; '.join(found)}. A full outgoing queue means 503 System overloaded "
                "(1016) next; a growing callback queue means webhook deliveries fail or are "
                "slow — check the webhook receiver."
            ),
            labels={"node": node} if node else {},
        )
        for node, found in sorted(over.items())
    ]
