"""`/metrics` bodies: the targets' parts joined, once per state change, shared by every scrape."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge

from watchdog.api.endpoints import Endpoint
from watchdog.api.results import PollResult, observe
from watchdog.base.targets import Target
from watchdog.export.exposition import Body, Exposition, accepts_gzip
from watchdog.export.parts import Parts
from watchdog.state import State

NOW = 1_800_000_000.0
OPENMETRICS = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8"


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Setup:
    """A state, its parts on a clock the test moves, and the exposition of both."""

    def __init__(self, *names: str, slice_seconds: float = 0.005) -> None:
        targets = [Target(name=n, url=f"http://{n}.test", metrics_interval=30) for n in names]
        self.clock = Clock()
        self.state = State(targets, clock=self.clock)
        self.parts = Parts(self.state, self.clock)
        self.globals = CollectorRegistry(auto_describe=False)
        Gauge("watchdog_global_thing", "A series of the watchdog itself", registry=self.globals)
        self.exposition = Exposition(
            self.parts, self.globals, clock=self.clock, slice_seconds=slice_seconds
        )

    def record(self, name: str, endpoint: Endpoint, body: Any, *, update: bool = True) -> None:
        result = PollResult(name, endpoint, self.clock.now, 0.1, 200, None, body=body)
        self.state.record(observe(result))
        if update:  # what the poller's listener does after each poll
            self.parts.update(name, endpoint)

    def health(self, name: str, update: bool = True) -> None:
        body = {"health": {"gateway_status": "connected"}, "meta": {}}
        self.record(name, Endpoint.HEALTH, body, update=update)

    def metrics(self, name: str, value: float) -> None:
        family = {"type": "gauge", "help": "h", "data": [{"labels": {}, "value": value}]}
        self.record(name, Endpoint.METRICS, {"metrics": {"queue": family}, "meta": {}})

    def scrape(self, accept: str = "", *, gzip_ok: bool = False) -> Body:
        return asyncio.run(self.exposition.body(accept, gzip_ok=gzip_ok))


def test_concurrent_scrapes_share_one_render() -> None:
    """Fifty scrapes at once with an unchanged state cost one render and get the same body."""
    setup = Setup("a")
    setup.health("a")

    async def scrape_all() -> set[bytes]:
        bodies = await asyncio.gather(*(setup.exposition.body("") for _ in range(50)))
        return {body.content for body in bodies}

    assert len(asyncio.run(scrape_all())) == 1
    assert setup.exposition.renders == 1


def test_state_change_or_age_renders_again() -> None:
    """A recorded poll, or a render older than max_age, makes the next scrape render anew."""
    setup = Setup("a")
    first = setup.scrape().content
    setup.health("a")
    second = setup.scrape().content
    assert b'whatsapp_up{endpoint="health",target="a"} 1.0' in second
    assert b"whatsapp_up{" not in first
    setup.scrape()
    assert setup.exposition.renders == 2
    setup.clock.now += 1.5
    setup.scrape()
    assert setup.exposition.renders == 3


def test_each_format_has_its_own_render() -> None:
    """Text and OpenMetrics scrapes get their own bodies and content types, the watchdog's own
    series after the targets', and OpenMetrics one `# EOF`, at the end."""
    setup = Setup("a")
    setup.health("a")
    text, om = setup.scrape("text/plain"), setup.scrape(OPENMETRICS)
    assert text.content_type.startswith("text/plain")
    assert om.content_type.startswith("application/openmetrics-text")
    assert om.content.endswith(b"watchdog_global_thing 0.0\n# EOF\n")
    assert om.content.count(b"# EOF") == 1
    assert text.content.endswith(b"watchdog_global_thing 0.0\n")
    assert text.content.index(b"whatsapp_up{") < text.content.index(b"watchdog_global_thing")
    # Counters are named the way each format names them.
    assert b"# TYPE whatsapp_poll_errors_total counter" not in om.content
    assert b"# HELP whatsapp_poll_duration_seconds " in text.content


def test_other_escapings_render_in_one_pass() -> None:
    """A format whose names differ from the parts' (`escaping=dots`) is rendered whole."""
    setup = Setup("a")
    setup.health("a")
    body = setup.scrape("application/openmetrics-text;version=1.0.0;escaping=dots")
    assert body.content_type.endswith("escaping=dots")
    assert b'whatsapp__up{endpoint="health",target="a"} 1.0' in body.content


def test_gzip_is_made_once_per_render() -> None:
    """Scrapers that accept gzip share one compressed body, which is the plain body."""
    setup = Setup("a", "b")
    setup.health("a")
    setup.metrics("b", 3.0)

    async def scrape_all() -> list[Body]:
        return await asyncio.gather(
            *(setup.exposition.body(OPENMETRICS, gzip_ok=True) for _ in range(20))
        )

    bodies = asyncio.run(scrape_all())
    assert all(body.gzipped for body in bodies)
    assert len({id(body.content) for body in bodies}) == 1
    plain = setup.scrape(OPENMETRICS)
    assert not plain.gzipped
    assert gzip.decompress(bodies[0].content) == plain.content
    assert setup.exposition.renders == 1


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("deflate;q=1.0, GZIP;q=0.5", True),
        ("*", True),
        ("", False),
        ("identity", False),
        ("gzip;q=0", False),
        ("gzip;q=0.0, br", False),
        ("gzip;q=x", False),
        ("gzip;q=0, *", False),
        ("*;q=0", False),
        ("br, *", True),
        ("x-gzip-like", False),
    ],
)
def test_accept_encoding(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


def test_polls_are_encoded_as_they_land() -> None:
    """A poll recorded and handed to the parts is encoded then: the scrape only joins."""
    setup = Setup("a", "b")
    setup.metrics("a", 1.0)
    setup.scrape()
    builds = setup.parts.builds
    setup.metrics("a", 2.0)
    assert setup.parts.builds == builds + 1
    body = setup.scrape().content
    assert setup.parts.builds == builds + 1
    assert b'whatsapp_queue{target="a"} 2.0' in body


def test_a_poll_not_handed_to_the_parts_is_encoded_at_the_scrape() -> None:
    """Whoever records a poll, the scrape shows it (the section is out of date, so rebuilt)."""
    setup = Setup("a")
    setup.health("a")
    setup.scrape()
    setup.clock.now += 5
    setup.record("a", Endpoint.HEALTH, {"errors": [{"code": 1014}]}, update=False)
    body = setup.scrape().content
    assert b'whatsapp_up{endpoint="health",target="a"} 0.0' in body


def test_a_stale_part_drops_out_without_encoding_the_others() -> None:
    """At the scrape after a target's series go stale, they are gone; nobody else's part is
    encoded again."""
    setup = Setup("a", "b")
    setup.metrics("a", 1.0)
    setup.clock.now += 80
    setup.metrics("b", 2.0)
    setup.clock.now += 5  # a's answer is 85 s old: fresh (3 intervals of 30 s)
    body = setup.scrape().content
    assert b'whatsapp_queue{target="a"} 1.0' in body
    builds = setup.parts.builds
    setup.clock.now += 10  # 95 s: stale
    body = setup.scrape().content
    assert b'whatsapp_queue{target="a"}' not in body
    assert b'whatsapp_queue{target="b"} 2.0' in body
    assert b'watchdog_dropped_series{endpoint="metrics",target="a"}' not in body
    assert setup.parts.builds == builds + 1


def test_a_removed_target_leaves_the_scrape() -> None:
    setup = Setup("a", "b")
    setup.metrics("a", 1.0)
    setup.metrics("b", 2.0)
    setup.scrape()
    setup.state.set_targets([t for t in setup.state.targets if t.name == "b"])
    body = setup.scrape().content
    assert b'target="a"' not in body
    assert b'whatsapp_queue{target="b"} 2.0' in body


def test_the_join_lets_other_callbacks_run() -> None:
    """However many targets, a scrape hands the event loop back between slices of the join,
    so polls due meanwhile start on time."""
    names = [f"t{i}" for i in range(50)]
    setup = Setup(*names, slice_seconds=0.0)
    for name in names:
        setup.metrics(name, 1.0)

    async def scrape_while_counting() -> int:
        turns = 0
        done = asyncio.Event()

        async def other() -> None:
            nonlocal turns
            while not done.is_set():
                turns += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(other())
        await asyncio.sleep(0)
        await setup.exposition.body("")
        done.set()
        await task
        return turns

    turns = asyncio.run(scrape_while_counting())
    # One slice per target endpoint at least, the claims of every target's metrics included.
    assert turns >= len(names) * 3
    assert setup.exposition.yields >= len(names) * 3


def test_polls_encode_nothing_while_nobody_scrapes() -> None:
    """Before the first scrape, and ten minutes after the last, a poll encodes nothing: the
    next scrape encodes what it serves, and serves the same."""
    setup = Setup("a")
    setup.metrics("a", 1.0)
    assert setup.parts.builds == 0
    assert b'whatsapp_queue{target="a"} 1.0' in setup.scrape().content
    builds = setup.parts.builds
    setup.clock.now += 60
    setup.metrics("a", 2.0)
    assert setup.parts.builds == builds + 1  # scraped a minute ago: encoded as it lands
    setup.clock.now += 601
    setup.metrics("a", 3.0)
    assert setup.parts.builds == builds + 1
    assert b'whatsapp_queue{target="a"} 3.0' in setup.scrape().content
