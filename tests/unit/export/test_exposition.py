"""`/metrics` bodies are rendered once per state change and shared by concurrent scrapes."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from watchdog.api.endpoints import Endpoint
from watchdog.api.results import PollResult, observe
from watchdog.base.targets import Target
from watchdog.export.collector import WatchdogCollector
from watchdog.export.exposition import Exposition
from watchdog.state import State

TARGET = Target(name="a", url="http://a.test")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def setup() -> tuple[State, Exposition, Clock]:
    state = State([TARGET], clock=lambda: 1_800_000_000.0)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WatchdogCollector(state, clock=lambda: 1_800_000_000.0))
    clock = Clock()
    return state, Exposition(registry, state, clock=clock), clock


def record(state: State) -> None:
    body = {"health": {"gateway_status": "connected"}, "meta": {}}
    state.record(
        observe(PollResult("a", Endpoint.HEALTH, 1_800_000_000.0, 0.1, 200, None, body=body))
    )


def test_concurrent_scrapes_share_one_render() -> None:
    """Fifty scrapes at once with an unchanged state cost one render and get the same body."""
    state, exposition, _ = setup()
    record(state)

    async def scrape_all() -> set[bytes]:
        bodies = await asyncio.gather(*(exposition.body("") for _ in range(50)))
        return {body for body, _ in bodies}

    assert len(asyncio.run(scrape_all())) == 1
    assert exposition.renders == 1


def test_state_change_or_age_renders_again() -> None:
    """A recorded poll, or a render older than max_age, makes the next scrape render anew."""
    state, exposition, clock = setup()
    first, _ = asyncio.run(exposition.body(""))
    record(state)
    second, _ = asyncio.run(exposition.body(""))
    assert b'whatsapp_up{endpoint="health",target="a"} 1.0' in second
    assert b"whatsapp_up" not in first
    asyncio.run(exposition.body(""))
    assert exposition.renders == 2
    clock.now += 1.5
    asyncio.run(exposition.body(""))
    assert exposition.renders == 3


def test_each_format_has_its_own_render() -> None:
    """Text and OpenMetrics scrapes get their own bodies and content types."""
    _, exposition, _ = setup()
    text, text_type = asyncio.run(exposition.body("text/plain"))
    om, om_type = asyncio.run(exposition.body("application/openmetrics-text"))
    assert text_type.startswith("text/plain")
    assert om_type.startswith("application/openmetrics-text")
    assert om.endswith(b"# EOF\n")
    assert not text.endswith(b"# EOF\n")
