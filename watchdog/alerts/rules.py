"""The contract's alerts as conditions over one target's state.

A rule looks at the latest results, the windowed history and its parameters, and returns the
conditions that hold now (none, one, or one per node). Timing — `for`, hysteresis, resolving —
is the engine's business, so rules stay pure and easy to test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from watchdog.alerts.history import History
from watchdog.durations import format_duration
from watchdog.gateways import NOT_REGISTERED, gateway_verdict
from watchdog.payloads import Health
from watchdog.results import Endpoint
from watchdog.state import EndpointState
from watchdog.status import AUTH_REJECTED, UNREACHABLE
from watchdog.targets import Target


@dataclass(frozen=True)
class Params:
    """One rule's parameters; each rule reads the ones it needs. Defaults as documented."""

    window: float = 60.0
    threshold: int = 5
    ratio: float = 0.05
    expected_shards: int = 0
    pending_messages: int = 50_000
    callback_queue_size: int = 50_000


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
    # Coreapps seen connected at the first health answer (multiconnect's expected shards).
    first_connected: int | None = None

    def fresh_health(self) -> Health | None:
        state = self.endpoints.get(Endpoint.HEALTH)
        if state is None or state.last is None or not state.last.ok or not state.fresh(self.now):
            return None
        return state.last.health


Check = Callable[[TargetView, Params], list[Condition]]


@dataclass(frozen=True)
class Rule:
    key: str  # the settings key (`alerts.<key>` in YAML, WATCHDOG_ALERT_<KEY>_* in env)
    alertname: str
    severity: str
    check: Check


def _window(params: Params) -> str:
    return format_duration(params.window)


def overloaded(view: TargetView, params: Params) -> list[Condition]:
    own = view.history.own_failures(view.now, params.window, "http_503")
    others = view.history.api_requests(view.now, params.window, "503")
    if not own and not others:
        return []
    return [
        Condition(
            summary=f"WhatsApp API {view.target.name} is overloaded (503, code 1016)",
            description=(
                f"In the last {_window(params)}, {own} of the watchdog's polls and "
                f"{others:.0f} requests of other clients got 503 System overloaded. The "
                "Coreapp's queues are close to full: slow down or pause senders, check "
                "pending_messages and callback_queue_size (webhook receivers failing?), and "
                "add coreapps/shards if this is load."
            ),
        )
    ]


def rate_limit_spike(view: TargetView, params: Params) -> list[Condition]:
    own = view.history.own_failures(view.now, params.window, "http_429")
    limited = view.history.api_requests(view.now, params.window, "429")
    total = view.history.api_requests(view.now, params.window)
    share = limited / total if total else 0.0
    if (
        own < params.threshold
        and limited < params.threshold
        and not (limited and share >= params.ratio)
    ):
        return []
    return [
        Condition(
            summary=f"WhatsApp API {view.target.name} is rate limiting requests (429)",
            description=(
                f"In the last {_window(params)}, {own} of the watchdog's polls and "
                f"{limited:.0f} of {total:.0f} requests counted by the API ({share:.1%}) got "
                "429 Too many requests (1015). Senders exceed 20 requests/s per endpoint (50 "
                "for messages), or something probes /v1/health directly (10 calls per 60 s for "
                "all callers): point probes at the watchdog's /probe endpoints and smooth bursts."
            ),
        )
    ]


def gateway_down(view: TargetView, params: Params) -> list[Condition]:
    state = view.endpoints.get(Endpoint.HEALTH)
    if state is not None and state.last is not None and state.last.result.reason == "http_5xx":
        error = state.last.result.api_error
        if error is not None and error.code == 1014:
            # 500/1014 on health: the Webapp cannot reach the Coreapp (reference §1.4).
            return [
                Condition(
                    summary=f"WhatsApp gateway of {view.target.name} is down: Coreapp unreachable",
                    description=(
                        f"Health answers 500/1014: {state.last.result.detail}. The Webapp "
                        "cannot reach the Coreapp; check the coreapp pods and their ports "
                        "6250-6253."
                    ),
                )
            ]
    health = view.fresh_health()
    if health is None:
        return []
    if health.topology == "single":
        if health.nodes[0].status in NOT_REGISTERED:
            return []  # WhatsAppNotRegistered says it better
        expected = 1
    elif health.topology == "multiconnect":
        expected = params.expected_shards or view.first_connected or 1
    else:
        expected = 1
    coreapps = [n for n in health.nodes if n.role in ("coreapp", None)]
    if coreapps and all(n.status in NOT_REGISTERED for n in coreapps):
        return []
    verdict = gateway_verdict(health, expected_connected=expected)
    if verdict.up:
        return []
    down = [
        f"{n.node} ({'error' if n.error else n.known_status})"
        for n in coreapps
        if n.error is not None or n.status not in ("connected", "connecting")
    ]
    return [
        Condition(
            summary=f"WhatsApp gateway of {view.target.name} is down: {verdict.summary}",
            description=(
                f"Expected at least {expected} connected gateway(s), found {verdict.connected}"
                f" ({health.topology}). Not connected: {', '.join(down) or 'none'}. Messages "
                "queue up and are not delivered; check the coreapp logs and their connection "
                "to WhatsApp."
            ),
        )
    ]


def unreachable(view: TargetView, params: Params) -> list[Condition]:
    state = view.endpoints.get(Endpoint.HEALTH)
    if state is None or state.last is None or state.last.result.reason not in UNREACHABLE:
        return []
    result = state.last.result
    return [
        Condition(
            summary=f"WhatsApp API {view.target.name} is unreachable ({result.reason})",
            description=(
                f"The last {state.consecutive_failures} health poll(s) failed: {result.detail}. "
                "Check the webapp pods, their Service and network policies, DNS, and the "
                "certificate (WATCHDOG_TLS_CA_FILE / WATCHDOG_TLS_INSECURE)."
            ),
        )
    ]


def auth_rejected(view: TargetView, params: Params) -> list[Condition]:
    rejected = []
    for endpoint, state in view.endpoints.items():
        result = state.last.result if state.last is not None else None
        if result is None or result.reason not in AUTH_REJECTED:
            continue
        if result.reason == "http_403" and result.api_error and result.api_error.code != 1005:
            continue
        rejected.append(f"{endpoint.value}: {result.detail}")
    if not rejected:
        return []
    return [
        Condition(
            summary=f"WhatsApp API {view.target.name} rejects the watchdog's credentials",
            description=(
                "; ".join(rejected) + ". The API key is wrong or was rotated (update the "
                "secret behind WA_API_KEY_FILE; the watchdog re-reads it), or this version "
                "refuses the key on metrics and stats (set WATCHDOG_AUTH_MODE=auto with "
                "WA_WEB_USERNAME/WA_WEB_PASSWORD)."
            ),
        )
    ]


def not_registered(view: TargetView, params: Params) -> list[Condition]:
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


def queue_backlog(view: TargetView, params: Params) -> list[Condition]:
    state = view.endpoints.get(Endpoint.STATS_APP)
    if state is None or state.last_success is None or not state.fresh(view.now):
        return []
    samples = state.last_success.samples
    if samples is None:
        return []
    limits = {
        "pending_messages": params.pending_messages,
        "callback_queue_size": params.callback_queue_size,
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


RULES: tuple[Rule, ...] = (
    Rule("overloaded", "WhatsAppOverloaded", "critical", overloaded),
    Rule("rate_limit_spike", "WhatsAppRateLimitSpike", "warning", rate_limit_spike),
    Rule("gateway_down", "WhatsAppGatewayDown", "critical", gateway_down),
    Rule("unreachable", "WhatsAppUnreachable", "critical", unreachable),
    Rule("auth_rejected", "WhatsAppAuthRejected", "critical", auth_rejected),
    Rule("not_registered", "WhatsAppNotRegistered", "warning", not_registered),
    Rule("queue_backlog", "WhatsAppQueueBacklog", "warning", queue_backlog),
)
