"""What the state means for people and probes: per-target verdicts, readiness, status JSON.

One reading of the state serves `/probe/...`, `/api/v1/status`, the status page and
`watchdog check`, so they never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from watchdog.alerts.model import AlertView
from watchdog.api.cloud import token_unchecked
from watchdog.api.diagnosis import api_error_text, diagnose, is_transient
from watchdog.api.endpoints import GRAPH_THROTTLED, RATE_LIMITED, Endpoint, primary
from watchdog.api.results import PollResult
from watchdog.base.log import get_logger
from watchdog.base.targets import Target
from watchdog.base.turns import SLICE_SECONDS, Turns
from watchdog.state import Change, EndpointState, State
from watchdog.web import recent
from watchdog.web.cloud_status import cloud_status

log = get_logger(__name__)


class Level(IntEnum):
    """Monitoring-plugin levels; the value is `watchdog check`'s exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def rank(self) -> int:
        """How bad, for "the worst of": a known problem outranks not knowing."""
        return _RANKS[self]


_RANKS = {Level.OK: 0, Level.UNKNOWN: 1, Level.WARNING: 2, Level.CRITICAL: 3}
_ALERT_LEVELS = {severity: Level(value) for severity, value in recent.SEVERITY_LEVELS.items()}
# How much history `/api/v1/status` carries unless asked: the hour the status page draws.
DEFAULT_HISTORY = 3600.0
# A poll refused for these says the watchdog used up its budget (the On-Prem API's 429; Graph's
# throttling codes): nothing about whether the target works, so the last good answer stands
# while it is fresh.
_THROTTLED = (RATE_LIMITED, GRAPH_THROTTLED)


def worst(levels: Iterable[Level], default: Level = Level.UNKNOWN) -> Level:
    return max(levels, key=lambda level: level.rank, default=default)


@dataclass(frozen=True)
class Verdict:
    level: Level
    summary: str


def _failure_summary(endpoint: Endpoint, state: EndpointState) -> str:
    assert state.last is not None
    result = state.last.result
    diagnosis = diagnose(result)
    what = diagnosis.what if diagnosis is not None else "failed"
    return f"{endpoint.value} {what}: {result.detail or result.reason}"


def _is_cloud(state: State, target: str) -> bool:
    spec = state.target(target)
    return spec is not None and primary(spec) is Endpoint.PHONE_NUMBER


def _other_problems(
    target: Target | None, endpoints: dict[Endpoint, EndpointState], main: Endpoint
) -> list[str]:
    """The failures of the endpoints other than *main*: each only warns. `debug_token` refused
    for want of an app token is none: only the token's expiry stays unknown (`token_unchecked`)."""
    return [
        _failure_summary(endpoint, endpoint_state)
        for endpoint, endpoint_state in endpoints.items()
        if endpoint is not main
        and endpoint_state.last is not None
        and not endpoint_state.last.ok
        and not (
            target is not None and token_unchecked(target, endpoint, endpoint_state.last.result)
        )
    ]


def verdict(state: State, target: str, now: float) -> Verdict:
    """The target's overall verdict: health decides critical; other endpoints can only warn.

    Health failing is critical whatever the reason, as its alerts are, except a 429 while the
    last good answer is still fresh: the API is answering, other callers used the budget.
    A Cloud target is judged by its number's answer instead (`_cloud_verdict`)."""
    if _is_cloud(state, target):
        return _cloud_verdict(state, target, now)
    endpoints = state.endpoints(target)
    health = endpoints.get(Endpoint.HEALTH)
    if health is None or health.last is None:
        return Verdict(Level.UNKNOWN, "health not polled yet")
    if not health.last.ok:
        summary = _failure_summary(Endpoint.HEALTH, health)
        blind_for_now = health.last.result.reason == RATE_LIMITED and health.fresh(now)
        return Verdict(Level.WARNING if blind_for_now else Level.CRITICAL, summary)
    gateway = state.gateway(target, now)
    if gateway is None:
        return Verdict(Level.UNKNOWN, "no fresh health answer")
    if not gateway.up and gateway.not_registered:
        # Registration or set-up, not a failing gateway: a warning, as WhatsAppNotRegistered.
        return Verdict(Level.WARNING, f"not registered: {gateway.summary}")
    if not gateway.up:
        return Verdict(Level.CRITICAL, f"gateway down: {gateway.summary}")
    problems = _other_problems(state.target(target), endpoints, Endpoint.HEALTH)
    if problems or gateway.degraded:
        return Verdict(Level.WARNING, "; ".join([gateway.summary, *problems]))
    return Verdict(Level.OK, gateway.summary)


def _last_answer_stands(target: Target, result: PollResult) -> bool:
    """A failed poll that leaves the last good answer standing while it is fresh: the API or
    Meta throttling the watchdog's own calls, or a failure that may be a blip and pages only
    when it repeats (`is_transient`: a Cloud number's timeout, proxy page, transient error)."""
    if result.reason in _THROTTLED:
        return True
    diagnosis = diagnose(result)
    return diagnosis is not None and is_transient(target, diagnosis.failure)


def _cloud_verdict(state: State, target: str, now: float) -> Verdict:
    """A Cloud target's verdict: its number's answer decides, with its WABA's (`api/cloud.py`:
    critical when an entity cannot send messages, warning when limited or quality RED); the
    WABA's and the token's polls failing only warn.

    The number's poll failing is critical, as its alerts are, except while the last good
    answer is fresh and the failure is Meta throttling the watchdog's own calls, or may be a
    blip (a transient Graph error, a timeout, a proxy's page: `is_transient`): that answer
    still stands, and the alert that pages after several such failures in a row raises the
    level when it fires."""
    endpoints = state.endpoints(target)
    phone = endpoints.get(Endpoint.PHONE_NUMBER)
    spec = state.target(target)
    if phone is None or phone.last is None or spec is None:
        return Verdict(Level.UNKNOWN, "phone_number not polled yet")
    cloud = state.cloud(target, now)
    if not phone.last.ok:
        summary = _failure_summary(Endpoint.PHONE_NUMBER, phone)
        if _last_answer_stands(spec, phone.last.result) and cloud is not None:
            # Blind for now, not known to be broken; but a number the last answer said cannot
            # send is still not known to send again.
            level = Level.WARNING if cloud.up else Level.CRITICAL
            return Verdict(level, f"{summary}; last answer: {cloud.summary}")
        return Verdict(Level.CRITICAL, summary)
    if cloud is None:
        return Verdict(Level.UNKNOWN, "no fresh phone_number answer")
    if not cloud.up:
        return Verdict(Level.CRITICAL, cloud.summary)
    problems = _other_problems(state.target(target), endpoints, Endpoint.PHONE_NUMBER)
    if problems or cloud.degraded:
        return Verdict(Level.WARNING, "; ".join([cloud.summary, *problems]))
    return Verdict(Level.OK, cloud.summary)


def probe_ready(state: State, target: str, now: float) -> tuple[bool, str]:
    """Ready: the last health answer is fresh, not a failure, and enough gateways are up.

    A 429 to the watchdog's own poll says nothing about the API's health (other callers used
    up the shared budget), so the last good answer stands while it is fresh. A Cloud target
    is ready when its number's last answer is fresh and says it can send messages (Graph's
    throttling, like the 429, and a blip leave the last answer standing).
    """
    cloud = _is_cloud(state, target)
    endpoint = Endpoint.PHONE_NUMBER if cloud else Endpoint.HEALTH
    polled = state.get(target, endpoint)
    spec = state.target(target)
    if polled is None or polled.last is None or spec is None:
        return False, f"{endpoint.value} not polled yet"
    if not polled.last.ok and not _last_answer_stands(spec, polled.last.result):
        return False, _failure_summary(endpoint, polled)
    judged = state.cloud(target, now) if cloud else state.gateway(target, now)
    if judged is None:
        return False, f"no fresh {endpoint.value} answer"
    return judged.up, judged.summary


def probe_live(state: State, target: str, now: float) -> tuple[bool, str]:
    """Live: the Webapp (a Cloud target's Graph) answered anything, an error status included,
    recently."""
    for endpoint, endpoint_state in state.endpoints(target).items():
        if endpoint_state.answered_recently(now):
            return True, f"answered {endpoint.value} recently"
    who = "Graph" if _is_cloud(state, target) else "the webapp"
    return False, f"no answer from {who} recently"


def target_status(
    state: State,
    target: Target,
    now: float,
    *,
    firing: Iterable[dict[str, Any]] = (),
    history: float = DEFAULT_HISTORY,
) -> dict[str, Any]:
    """One target's part of the status document. *firing* are the firing alerts (as
    `recent.alerts_doc` lists them, most severe first): the target's level is never milder
    than the most severe of its own."""
    endpoints = state.endpoints(target.name)
    result = verdict(state, target.name, now)
    own = [a for a in firing if a["target"] == target.name]
    levels = [(_ALERT_LEVELS.get(a["severity"]), a["alertname"]) for a in own]
    level = worst([result.level, *(lvl for lvl, _ in levels if lvl is not None)])
    # The alert that says so: the most severe firing one at the target's level, whether it
    # raised the level or confirms what the polls say (on-call reads the alert's name first).
    level_alert = next((name for lvl, name in levels if lvl is level), None)
    # Uptime is the endpoint that says whether the target works: health, a number's answer.
    main_state = endpoints.get(primary(target))
    health = state.health(target.name, now)
    gateway = state.gateway(target.name, now)
    nodes = []
    if health is not None:
        nodes = [
            {
                "node": n.node,
                "role": n.role,
                "gateway_status": "error" if n.error else n.known_status,
                "error_code": n.error.code if n.error else None,
                "error": api_error_text(n.error) or None,
            }
            for n in health.nodes
        ]
    ready, ready_reason = probe_ready(state, target.name, now)
    start = now - history
    return {
        "name": target.name,
        "kind": target.kind,
        "level": level.name.lower(),
        "poll_level": result.level.name.lower(),
        "level_alert": level_alert,
        "alerts": list(dict.fromkeys(a["alertname"] for a in own)),
        "summary": result.summary,
        "ready": ready,
        "ready_reason": ready_reason,
        "topology": gateway.topology if gateway else None,
        "gateways": (
            {
                "up": gateway.up,
                "connected": gateway.connected,
                "expected": gateway.expected,
                "down": list(gateway.down),
                "degraded": [d.text for d in gateway.degraded],
            }
            if gateway
            else None
        ),
        "version": health.version if health else None,
        "api_status": health.api_status if health else None,
        "uptime_percent": (
            recent.uptime(main_state.timeline, now, state.history)
            if main_state is not None
            else dict.fromkeys(recent.UPTIME_WINDOWS)
        ),
        "queues": recent.queues(state.queues(target.name), max(start, now - 3600.0)),
        "nodes": nodes,
        # A Cloud target's number, its health, token, usage and drops; None for On-Prem.
        "cloud": cloud_status(state, target, now) if target.kind == "cloud" else None,
        "endpoints": {e.value: recent.endpoint_status(s, now, start) for e, s in endpoints.items()},
    }


def status(
    state: State,
    now: float,
    *,
    alerts: Iterable[AlertView] = (),
    history: float = DEFAULT_HISTORY,
    only: str | None = None,
) -> dict[str, Any]:
    """The `/api/v1/status` document: *alerts* (the engine's views) listed and folded into the
    verdicts, *history* seconds of every endpoint's polls, every target or *only* one (the
    overall level is still every target's)."""
    listed = recent.alerts_doc(alerts)
    every = [_part(state, t, now, listed=listed, history=history, only=only) for t in state.targets]
    return _document(state, now, listed=listed, history=history, only=only, every=every)


def slices() -> Turns:
    """Turns for the loop while the page or `/api/v1/status` is made (`SLICE_SECONDS` apart)."""
    return Turns(SLICE_SECONDS)


async def status_in_slices(
    state: State,
    now: float,
    *,
    alerts: Iterable[AlertView] = (),
    history: float = DEFAULT_HISTORY,
    only: str | None = None,
) -> dict[str, Any]:
    """`status`, giving the event loop turns between targets: at 2,000 targets the document
    takes seconds, which no poll due meanwhile should wait for. Polls recorded meanwhile may
    show in the targets read after them; each target's part is read in one go."""
    listed = recent.alerts_doc(alerts)
    every = []
    turns = slices()
    for target in state.targets:
        every.append(_part(state, target, now, listed=listed, history=history, only=only))
        await turns.take()
    return _document(state, now, listed=listed, history=history, only=only, every=every)


def _part(
    state: State,
    target: Target,
    now: float,
    *,
    listed: dict[str, list[dict[str, Any]]],
    history: float,
    only: str | None,
) -> dict[str, Any]:
    # The other targets count for the overall level only: no history needed for that.
    kept = history if only in (None, target.name) else 0
    return target_status(state, target, now, firing=listed["firing"], history=kept)


def _document(
    state: State,
    now: float,
    *,
    listed: dict[str, list[dict[str, Any]]],
    history: float,
    only: str | None,
    every: list[dict[str, Any]],
) -> dict[str, Any]:
    overall = worst(Level[t["level"].upper()] for t in every)
    targets = [t for t in every if only in (None, t["name"])]
    return {
        "level": overall.name.lower(),
        "polled_once": state.polled_once(),
        "generated_at": now,
        "history_seconds": history,
        "alerts": listed,
        # Last, so that `status_json` can send the rest first, then the targets one by one.
        "targets": targets,
    }


def _json(value: Any) -> str:
    # Starlette's JSONResponse encoding, so the parts join into the very body it would send.
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def status_json(document: dict[str, Any]) -> Iterator[bytes]:
    """The status document encoded as JSON in parts, the targets one by one, so that it can be
    sent with the event loop free between parts; joined, the parts are one JSON document."""
    head = {key: value for key, value in document.items() if key != "targets"}
    yield (_json(head)[:-1] + ',"targets":[').encode()
    for i, target in enumerate(document["targets"]):
        yield ("," * (i > 0) + _json(target)).encode()
    yield b"]}"


class VerdictLog:
    """Logs a target's verdict whenever its level changes: what on-call reads in the log."""

    def __init__(self, state: State, clock: Callable[[], float]) -> None:
        self.state = state
        self.clock = clock
        self._levels: dict[str, Level] = {}

    def __call__(self, change: Change) -> None:
        result = verdict(self.state, change.target, self.clock())
        previous = self._levels.get(change.target)
        if previous == result.level:
            return
        self._levels[change.target] = result.level
        if previous is None and result.level in (Level.OK, Level.UNKNOWN):
            return  # a healthy start is not news
        emit = log.warning if result.level in (Level.WARNING, Level.CRITICAL) else log.info
        emit(
            "target_status_changed",
            target=change.target,
            verdict=result.level.name.lower(),
            previous=previous.name.lower() if previous is not None else None,
            summary=result.summary,
        )
