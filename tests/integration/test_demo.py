"""`watchdog demo --kind cloud` and `--kind both` as processes: zero configuration, the Graph
simulator polled as a Cloud API target, and the demo's token on no page and in no log line."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import wait_for
from tests.integration.demo_process import demo
from watchdog.demo import DEMO_APP_TOKEN
from watchdog.simulator.graph import DEMO_APP_SECRET, DEMO_TOKEN, PHONE_NUMBER_ID

PAGES = ("", "metrics", "api/v1/status", "api/v1/alerts")


def sample(base: str, name: str, labels: Mapping[str, str]) -> float | None:
    """The value of the series `name` whose labels include `labels`, or None."""
    text = httpx.get(base + "metrics").text
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and labels.items() <= found.labels.items():
                return float(found.value)
    return None


def has(base: str, name: str, labels: Mapping[str, str], value: float) -> Callable[[], bool]:
    return lambda: sample(base, name, labels) == value


def test_demo_cloud_polls_a_graph_number_without_showing_its_token() -> None:
    """`watchdog demo --kind cloud --scenario blocked`: the demo's Cloud target is polled (its
    number shows BLOCKED, as the scenario says), no On-Prem target exists, and neither the
    access token nor the app token appears in a page or the log."""
    with demo("--kind", "cloud", "--scenario", "blocked") as (base, lines):
        phone = {"target": "demo-cloud", "entity_type": "PHONE_NUMBER"}
        blocked = {**phone, "entity_id": PHONE_NUMBER_ID, "status": "BLOCKED"}
        wait_for(has(base, "whatsapp_cloud_can_send_message", blocked, 1.0))
        up = {"target": "demo-cloud", "endpoint": "phone_number"}
        assert sample(base, "whatsapp_up", up) == 1.0
        # The WABA and the token are polled too: the demo configures the WABA and an app token.
        wait_for(has(base, "whatsapp_up", {"target": "demo-cloud", "endpoint": "token"}, 1.0))
        wait_for(has(base, "whatsapp_up", {"target": "demo-cloud", "endpoint": "waba"}, 1.0))
        assert sample(base, "whatsapp_up", {"target": "demo"}) is None
        # The probe the demo prints follows the number: it cannot send.
        assert httpx.get(base + "probe/demo-cloud/ready").status_code == 503
        pages = {page: httpx.get(base + page).text for page in PAGES}
    output = "".join(lines)
    assert "demo_started" in output
    assert "graph_simulator=http://127.0.0.1:" in output
    for secret in (DEMO_TOKEN, DEMO_APP_TOKEN, DEMO_APP_SECRET):
        assert secret not in output
        for page, text in pages.items():
            assert secret not in text, f"/{page}"


def test_demo_both_runs_one_target_of_each_kind_side_by_side() -> None:
    """`watchdog demo --kind both --scenario overloaded`: the On-Prem target plays the
    scenario (its health polls fail) while the Cloud target beside it stays up."""
    with demo("--kind", "both", "--scenario", "overloaded") as (base, lines):
        wait_for(has(base, "whatsapp_up", {"target": "demo", "endpoint": "health"}, 0.0))
        cloud = {"target": "demo-cloud", "endpoint": "phone_number"}
        wait_for(has(base, "whatsapp_up", cloud, 1.0))
        available = {"target": "demo-cloud", "entity_type": "PHONE_NUMBER", "status": "AVAILABLE"}
        assert sample(base, "whatsapp_cloud_can_send_message", available) == 1.0
        failing = {"target": "demo", "endpoint": "health", "diagnosis": "overloaded"}
        assert sample(base, "whatsapp_poll_failing", failing) == 1.0
        assert httpx.get(base + "probe/demo/ready").status_code == 503
        assert httpx.get(base + "probe/demo-cloud/ready").status_code == 200
    output = "".join(lines)
    assert "probe=http://127.0.0.1:" in output
    assert "cloud_probe=http://127.0.0.1:" in output
    assert DEMO_TOKEN not in output
