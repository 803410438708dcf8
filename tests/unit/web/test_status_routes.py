"""`/api/v1/status`'s `history` and `target` queries, and the page for one target."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NoReturn

import httpx
import pytest
from starlette.types import ASGIApp

from tests.unit.web.status_support import KEY, T0, health_body, polled_for_two_hours, target_doc
from watchdog.api.endpoints import Endpoint
from watchdog.api.results import PollResult, observe
from watchdog.app import build_watchdog
from watchdog.base.targets import Target
from watchdog.config.settings import Settings
from watchdog.simulator import Scenario, Topology
from watchdog.web.routes import create_app

# -- /api/v1/status and the page ------------------------------------------------------------------


def no_client(target: Target) -> NoReturn:
    raise AssertionError(f"nothing polls in these tests ({target.name})")


Get = Callable[..., httpx.Response]


def getter(app: ASGIApp) -> Get:
    """GET on the app as a server would call it, without its lifespan (no poller)."""

    def get(path: str, *, encoding: str = "identity", **params: str) -> httpx.Response:
        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://wd.test") as http:
                return await http.get(path, params=params, headers={"Accept-Encoding": encoding})

        return asyncio.run(fetch())

    return get


@pytest.fixture
def client() -> Get:
    """The app over a state the test fills: prod healthy for two hours, edge with its gateway
    down a second ago (its alert pending)."""
    settings = Settings(
        api_key=KEY,
        targets=[
            {"name": "prod", "url": "http://prod.test"},
            {"name": "edge", "url": "http://edge.test"},
        ],
    )
    now = T0 + 15 * 479 + 3
    watchdog = build_watchdog(settings, client_factory=no_client, clock=lambda: now)
    polled_for_two_hours(watchdog.state)
    down = health_body(Topology.SINGLE, Scenario.GATEWAY_DISCONNECTED)
    result = PollResult("edge", Endpoint.HEALTH, now - 1, 0.02, 200, None, body=down)
    change = watchdog.state.record(observe(result))
    assert change is not None
    watchdog.engine.on_change(change)
    return getter(create_app(watchdog))


def test_api_status_serves_an_hour_of_history_and_the_engine_alerts(client: Get) -> None:
    response = client("/api/v1/status")
    assert response.status_code == 200
    doc = response.json()
    assert doc["history_seconds"] == 3600
    assert len(target_doc(doc)["endpoints"]["health"]["history"]["at"]) == 240
    # The engine's alerts with their countdown: GatewayDown waits 30 s before it fires.
    (pending,) = doc["alerts"]["pending"]
    assert (pending["alertname"], pending["target"]) == ("WhatsAppGatewayDown", "edge")
    assert pending["for_left_seconds"] == 30.0  # evaluated now, on the change
    assert doc["level"] == "critical"


def test_api_status_history_query(client: Get) -> None:
    doc = client("/api/v1/status", history="2m").json()
    assert doc["history_seconds"] == 120
    assert len(target_doc(doc)["endpoints"]["health"]["history"]["at"]) == 8
    doc = client("/api/v1/status", history="24h").json()
    assert len(target_doc(doc)["endpoints"]["health"]["history"]["at"]) == 480
    doc = client("/api/v1/status", history="0").json()
    assert target_doc(doc)["endpoints"]["health"]["history"]["at"] == []


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("bogus", "history: expected a duration"),
        ("200h", "history: at most 24h is kept (the history setting); got 200h"),
        ("25h", "history: at most 24h is kept"),
    ],
)
def test_api_status_refuses_a_bad_or_too_long_history(client: Get, query: str, words: str) -> None:
    response = client("/api/v1/status", history=query)
    assert response.status_code == 400
    assert words in response.json()["error"]


def test_api_status_for_one_target(client: Get) -> None:
    doc = client("/api/v1/status", target="prod").json()
    assert [t["name"] for t in doc["targets"]] == ["prod"]
    assert doc["level"] == "critical"  # edge's, though edge is not listed
    assert [a["target"] for a in doc["alerts"]["pending"]] == ["edge"]
    response = client("/api/v1/status", target="nope")
    assert response.status_code == 404
    assert "nope" in response.json()["error"]


def test_the_page_for_one_target(client: Get) -> None:
    """`/?target=` serves the page (an alert's link); an unknown name still gets the page."""
    response = client("/", target="prod")
    assert response.status_code == 200
    assert 'id="target-prod"' in response.text
    assert 'id="target-edge"' not in response.text
    assert client("/", target="nope").status_code == 200


@pytest.mark.parametrize("path", ["/", "/api/v1/status"])
def test_page_and_status_are_gzipped_for_clients_that_accept_it(client: Get, path: str) -> None:
    """An hour of every endpoint is several MB at a hundred targets: gzip where accepted."""
    plain = client(path)
    assert "content-encoding" not in plain.headers
    zipped = client(path, encoding="gzip")
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx decoded it: the same body
    assert zipped.num_bytes_downloaded < len(plain.content) / 3  # what went over the wire


def test_metrics_are_gzipped_for_scrapers_that_accept_it(client: Get) -> None:
    """Prometheus sends `Accept-Encoding: gzip`: the body is compressed, and says so."""
    plain = client("/metrics")
    assert "content-encoding" not in plain.headers
    zipped = client("/metrics", encoding="gzip")
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.num_bytes_downloaded < len(zipped.content) / 3
    assert b'whatsapp_up{endpoint="health",target="prod"}' in zipped.content


def test_the_history_setting_bounds_what_is_kept_and_asked() -> None:
    settings = Settings(
        api_key=KEY, targets=[{"name": "prod", "url": "http://prod.test"}], history=7200.0
    )
    watchdog = build_watchdog(settings, client_factory=no_client)
    health = watchdog.state.get("prod", Endpoint.HEALTH)
    assert health is not None
    assert health.timeline.capacity == 481  # 2 h at 15 s
    get = getter(create_app(watchdog))
    assert get("/api/v1/status", history="2h").status_code == 200
    response = get("/api/v1/status", history="3h")
    assert response.status_code == 400
    assert "history: at most 2h is kept (the history setting); got 3h" in response.json()["error"]
