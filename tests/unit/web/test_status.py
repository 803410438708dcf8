"""Verdicts, probes, gateway logic and the status page, from real simulator answers."""

from __future__ import annotations

from typing import Any

import pytest

from watchdog.api.endpoints import Endpoint
from watchdog.api.gateways import Expectation, gateway_verdict
from watchdog.api.payloads import ApiErrorInfo, parse_health
from watchdog.api.results import PollResult, observe
from watchdog.base.targets import Target
from watchdog.check import exit_code, render_table
from watchdog.simulator import Deployment, Scenario, SimulatorConfig, Topology
from watchdog.simulator.errors import ApiError
from watchdog.state import State
from watchdog.web.page import render_page
from watchdog.web.status import Level, VerdictLog, probe_live, probe_ready, status, verdict

T0 = 1_800_000_000.0
TARGET = Target(name="prod", url="http://prod.test")


def health_body(topology: Topology, scenario: Scenario) -> dict[str, Any]:
    deployment = Deployment(SimulatorConfig(topology=topology, scenario=scenario))
    answer = deployment.health(T0)
    assert not isinstance(answer, ApiError)
    return {"health": answer, "meta": deployment.meta}


def ok(endpoint: Endpoint, body: Any, at: float = T0) -> PollResult:
    return PollResult("prod", endpoint, at, 0.02, 200, None, body=body)


def failed(
    endpoint: Endpoint,
    reason: str,
    status_code: int | None,
    at: float = T0,
    error: ApiErrorInfo | None = None,
) -> PollResult:
    return PollResult(
        "prod", endpoint, at, 0.02, status_code, reason, f"detail of {reason}", api_error=error
    )


OVERLOADED = ApiErrorInfo(1016, "System overloaded", "System overloaded. Please retry later")


def state_with(*results: PollResult, expectation: Expectation | None = None) -> State:
    state = State([TARGET], clock=lambda: T0, expectation=expectation)
    for result in results:
        state.record(observe(result))
    return state


@pytest.mark.parametrize(
    ("topology", "scenario", "up"),
    [
        (Topology.SINGLE, Scenario.HEALTHY, True),
        (Topology.SINGLE, Scenario.GATEWAY_DISCONNECTED, False),
        (Topology.SINGLE, Scenario.UNREGISTERED, False),
        (Topology.HA, Scenario.HEALTHY, True),
        (Topology.HA, Scenario.GATEWAY_DISCONNECTED, False),
        (Topology.HA, Scenario.COREAPP_DOWN, False),
        (Topology.MULTICONNECT, Scenario.HEALTHY, True),
        (Topology.MULTICONNECT, Scenario.GATEWAY_DISCONNECTED, True),
        (Topology.MULTICONNECT, Scenario.UNINITIALIZED, False),
    ],
)
def test_gateway_verdict_is_topology_aware(
    topology: Topology, scenario: Scenario, up: bool
) -> None:
    """HA standbys reporting `disconnected` are normal; no connected coreapp is not."""
    assert gateway_verdict(parse_health(health_body(topology, scenario))).up is up


def test_multiconnect_expected_shards() -> None:
    """With one shard disconnected, a multiconnect deployment is down if two are expected."""
    health = parse_health(health_body(Topology.MULTICONNECT, Scenario.GATEWAY_DISCONNECTED))
    assert gateway_verdict(health, Expectation(shards=1)).up
    assert not gateway_verdict(health, Expectation(shards=2)).up
    assert gateway_verdict(health).summary.startswith("1 of 3 coreapps connected")


def cluster(master: str, *coreapps: str) -> Any:
    """A per-node health answer: the primary master's status, then each coreapp's."""
    nodes = {"master-0:m0": {"gateway_status": master, "role": "primary_master"}}
    nodes["master-1:m1"] = {"gateway_status": "disconnected", "role": "secondary_master"}
    for i, gateway in enumerate(coreapps):
        nodes[f"coreapp-{i}:c{i}"] = {"gateway_status": gateway, "role": "coreapp"}
    return {"health": nodes, "meta": {"version": "v2.45.1", "api_status": "stable"}}


def test_lost_master_does_not_hide_a_lost_shard() -> None:
    """Once seen as multiconnect, a deployment whose primary master is lost is not taken for
    HA: the shards seen at first are still expected, and the lost master is a signal too."""
    state = state_with(ok(Endpoint.HEALTH, cluster("connected", "connected", "connected")))
    first = state.gateway("prod", T0)
    assert first is not None
    assert (first.topology, first.expected, first.up, first.degraded) == (
        "multiconnect",
        2,
        True,
        (),
    )
    state.record(observe(ok(Endpoint.HEALTH, cluster("disconnected", "connected", "disconnected"))))
    lost = state.gateway("prod", T0)
    assert lost is not None
    assert (lost.topology, lost.connected, lost.expected, lost.up) == ("multiconnect", 1, 2, False)
    assert lost.down == ("coreapp-1:c1 (disconnected)",)
    assert [(d.node, d.problem, d.text) for d in lost.degraded] == [
        ("master-0:m0", "primary_master", "primary master master-0:m0 (disconnected) not connected")
    ]
    assert verdict(state, "prod", T0).level is Level.CRITICAL


def test_configured_shards_apply_whatever_the_topology_looks_like() -> None:
    """`expected_shards` applies to a deployment that looks like HA from its first answer."""
    answer = ok(Endpoint.HEALTH, cluster("disconnected", "connected", "disconnected"))
    assert verdict(state_with(answer), "prod", T0).level is Level.OK  # HA: one is enough
    state = state_with(answer, expectation=Expectation(shards=2))
    result = verdict(state, "prod", T0)
    assert result.level is Level.CRITICAL
    assert "1 of 2 coreapps connected (multiconnect, 2 expected)" in result.summary
    assert probe_ready(state, "prod", T0)[0] is False
    assert exit_code(status(state, T0)) == 2


def test_gateway_stuck_connecting_warns() -> None:
    """`connecting` counts as up, until it has lasted longer than the limit: then it warns."""
    clock = [T0]
    state = State([TARGET], clock=lambda: clock[0], expectation=Expectation(connecting_limit=300))
    connecting = {"health": {"gateway_status": "connecting"}, "meta": {}}
    state.record(observe(ok(Endpoint.HEALTH, connecting, at=T0)))
    assert verdict(state, "prod", T0).level is Level.OK
    clock[0] = T0 + 301
    state.record(observe(ok(Endpoint.HEALTH, connecting, at=T0 + 301)))
    result = verdict(state, "prod", T0 + 301)
    assert result.level is Level.WARNING
    assert "webapp connecting for 5m1s" in result.summary
    connected = {"health": {"gateway_status": "connected"}, "meta": {}}
    state.record(observe(ok(Endpoint.HEALTH, connected, at=T0 + 302)))
    assert verdict(state, "prod", T0 + 302).level is Level.OK


@pytest.mark.parametrize(
    ("reason", "status_code", "error", "words"),
    [
        ("http_503", 503, OVERLOADED, "is overloaded (503, code 1016)"),
        ("http_503", 503, None, "unavailable behind its proxy/load balancer (HTTP 503)"),
        ("http_5xx", 502, None, "unavailable behind its proxy/load balancer (HTTP 502)"),
        ("http_401", 401, ApiErrorInfo(1005, "Access denied"), "rejects the watchdog's"),
        ("connect", None, None, "unreachable"),
        ("timeout", None, None, "unreachable"),
        ("http_429", 429, None, "rate limits the watchdog"),
        ("decode", 200, None, "unusable answer"),
        ("http_5xx", 500, ApiErrorInfo(1011, "Service not ready"), "is not ready"),
        ("http_404", 404, None, "404"),
        (
            "http_5xx",
            500,
            ApiErrorInfo(1014, "Internal error", "Please check if wacore is running: wacore:6252"),
            "cannot reach its Coreapp",
        ),
        (
            "http_5xx",
            500,
            ApiErrorInfo(1014, "Internal error", "Can't connect to the Database server"),
            "database error",
        ),
    ],
)
def test_health_failure_verdicts(
    reason: str, status_code: int | None, error: ApiErrorInfo | None, words: str
) -> None:
    """Any failed health poll is critical; the summary says what the answer shows."""
    state = state_with(failed(Endpoint.HEALTH, reason, status_code, error=error))
    result = verdict(state, "prod", T0)
    assert result.level is Level.CRITICAL
    assert words in result.summary


def test_health_429_warns_while_the_last_answer_is_fresh() -> None:
    """A 429 after a good answer that is still fresh only warns: the API answers, others used
    the budget."""
    state = state_with(
        ok(Endpoint.HEALTH, health_body(Topology.SINGLE, Scenario.HEALTHY)),
        failed(Endpoint.HEALTH, "http_429", 429),
    )
    assert verdict(state, "prod", T0).level is Level.WARNING


def test_other_endpoint_failure_only_warns() -> None:
    """Health fine but /metrics failing is a warning, not critical."""
    state = state_with(
        ok(Endpoint.HEALTH, health_body(Topology.SINGLE, Scenario.HEALTHY)),
        failed(Endpoint.METRICS, "http_503", 503, error=OVERLOADED),
    )
    result = verdict(state, "prod", T0)
    assert result.level is Level.WARNING
    assert "metrics is overloaded" in result.summary


def test_not_polled_is_unknown() -> None:
    """Before the first health poll the verdict is unknown (exit 3 for `check`)."""
    assert verdict(state_with(), "prod", T0).level is Level.UNKNOWN


def test_probe_ready_follows_gateway_freshness_and_503() -> None:
    """Ready needs a fresh, non-503 health answer with a gateway up."""
    healthy = ok(Endpoint.HEALTH, health_body(Topology.HA, Scenario.HEALTHY))
    assert probe_ready(state_with(healthy), "prod", T0)[0]
    # Three intervals (15 s) later the answer is stale.
    assert probe_ready(state_with(healthy), "prod", T0 + 46) == (
        False,
        "no fresh health answer",
    )
    down = ok(Endpoint.HEALTH, health_body(Topology.HA, Scenario.GATEWAY_DISCONNECTED))
    assert not probe_ready(state_with(down), "prod", T0)[0]
    # The watchdog's own poll rate limited: the last good answer stands while fresh.
    limited = failed(Endpoint.HEALTH, "http_429", 429)
    assert probe_ready(state_with(healthy, limited), "prod", T0)[0]
    assert not probe_ready(state_with(limited), "prod", T0)[0]
    overloaded = failed(Endpoint.HEALTH, "http_503", 503, error=OVERLOADED)
    ready, reason = probe_ready(state_with(healthy, overloaded), "prod", T0)
    assert not ready
    assert "overloaded" in reason


def test_probe_live_counts_any_answer() -> None:
    """Live: an HTTP error status is still an answer; a connection failure is not."""
    assert probe_live(state_with(failed(Endpoint.HEALTH, "http_503", 503)), "prod", T0)[0]
    assert not probe_live(state_with(failed(Endpoint.HEALTH, "connect", None)), "prod", T0)[0]
    assert not probe_live(state_with(failed(Endpoint.HEALTH, "http_503", 503)), "prod", T0 + 100)[0]


def test_status_document_and_page_escape_api_text() -> None:
    """The status JSON lists nodes and endpoints; the page escapes text that came from the API."""
    body = health_body(Topology.HA, Scenario.HEALTHY)
    first = next(iter(body["health"]))
    body["health"]["<script>alert(1)</script>:x"] = body["health"].pop(first)
    state = state_with(ok(Endpoint.HEALTH, body), failed(Endpoint.METRICS, "http_429", 429))
    document = status(state, T0)
    target = document["targets"][0]
    assert target["level"] == "warning"
    assert {n["gateway_status"] for n in target["nodes"]} == {"connected", "disconnected"}
    assert target["endpoints"]["metrics"]["reason"] == "http_429"
    page = render_page(document)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_check_table_and_exit_code() -> None:
    """`watchdog check` prints one line per target plus failing endpoints; exit = worst level."""
    state = state_with(
        ok(Endpoint.HEALTH, health_body(Topology.SINGLE, Scenario.HEALTHY)),
        failed(Endpoint.METRICS, "http_429", 429),
    )
    document = status(state, T0)
    table = render_table(document)
    assert table.splitlines()[1].startswith("prod")
    assert "WARNING" in table
    assert "metrics: detail of http_429" in table
    assert exit_code(document) == 1


def test_verdict_log_reports_level_changes_once(capsys: pytest.CaptureFixture[str]) -> None:
    """The verdict log speaks when a target's level changes; a healthy start is not news."""
    state = State([TARGET], clock=lambda: T0)
    log = VerdictLog(state, lambda: T0)
    events = []
    for result in (
        ok(Endpoint.HEALTH, health_body(Topology.SINGLE, Scenario.HEALTHY)),
        ok(Endpoint.HEALTH, health_body(Topology.SINGLE, Scenario.HEALTHY)),
        failed(Endpoint.HEALTH, "http_503", 503),
        failed(Endpoint.HEALTH, "http_503", 503),
        ok(Endpoint.HEALTH, health_body(Topology.SINGLE, Scenario.HEALTHY)),
    ):
        change = state.record(observe(result))
        assert change is not None
        log(change)
        events.append(capsys.readouterr().out.count("target_status_changed"))
    assert events == [0, 0, 1, 0, 1]


def test_status_and_page_show_the_api_error_and_the_backoff() -> None:
    """The API's own error (code, title, details) and the watchdog's backoff are shown."""
    state = state_with(failed(Endpoint.HEALTH, "http_503", 503, error=OVERLOADED))
    health = state.get("prod", Endpoint.HEALTH)
    assert health is not None
    health.backoff_seconds, health.backoff_until = 15.0, T0 + 30
    document = status(state, T0)
    endpoint = document["targets"][0]["endpoints"]["health"]
    assert endpoint["api_error"] == {
        "code": 1016,
        "title": "System overloaded",
        "details": "System overloaded. Please retry later",
        "text": "System overloaded (1016): System overloaded. Please retry later",
    }
    assert endpoint["diagnosis"] == "overloaded"
    assert (endpoint["backoff_seconds"], endpoint["backoff_remaining_seconds"]) == (15.0, 30.0)
    page = render_page(document)
    assert "+15s, next poll in 30s" in page


@pytest.mark.parametrize("scenario", [Scenario.UNREGISTERED, Scenario.UNINITIALIZED])
def test_not_registered_is_a_warning_as_its_alert(scenario: Scenario) -> None:
    """Every gateway unregistered/uninitialized: a warning (as WhatsAppNotRegistered), not
    "gateway down", and not ready for probes."""
    state = state_with(ok(Endpoint.HEALTH, health_body(Topology.HA, scenario)))
    result = verdict(state, "prod", T0)
    assert result.level is Level.WARNING
    assert result.summary.startswith("not registered:")
    assert scenario.value in result.summary
    assert probe_ready(state, "prod", T0)[0] is False
