"""The page and `/api/v1/status` give the event loop turns between targets (issue #15).

At 2,000 targets either document takes seconds to build and to encode; built in one step, every
poll due meanwhile would wait for it. These tests run another task on the same loop while a
request is served and look at the order of what happened: the other task must get turns between
the targets the request reads, and between the parts of the body it sends. A turn is given once
`SLICE_SECONDS` of work have passed; here it is 0, so at every chance (no timings in tests).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from itertools import pairwise
from typing import Any, NoReturn

import pytest
from starlette.responses import JSONResponse

from tests.unit.web.status_support import KEY, T0, polled_for_two_hours
from watchdog.app import Watchdog, build_watchdog
from watchdog.base.targets import Target
from watchdog.config.settings import Settings
from watchdog.state import EndpointState
from watchdog.web import status as status_module
from watchdog.web.routes import create_app
from watchdog.web.status import status, status_in_slices, status_json

TARGETS = 12
NOW = T0 + 15 * 479 + 3


@pytest.fixture(autouse=True)
def every_chance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status_module, "SLICE_SECONDS", 0.0)


def no_client(target: Target) -> NoReturn:
    raise AssertionError(f"nothing polls in these tests ({target.name})")


def watchdog_of(count: int) -> Watchdog:
    names = ["prod", "edge", *(f"wa-{i}" for i in range(count - 2))]
    settings = Settings(
        api_key=KEY, targets=[{"name": n, "url": f"http://{n}.test"} for n in names]
    )
    watchdog = build_watchdog(settings, client_factory=no_client, clock=lambda: NOW)
    for name in names:
        polled_for_two_hours(watchdog.state, name)
    return watchdog


def scope(path: str, *, gzip: bool = False) -> dict[str, Any]:
    headers = [(b"host", b"wd.test")] + [(b"accept-encoding", b"gzip")] * gzip
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("wd.test", 80),
    }


def served(
    watchdog: Watchdog, path: str, monkeypatch: pytest.MonkeyPatch, *, gzip: bool = False
) -> tuple[list[str], bytes]:
    """Serve `path` while another task takes a turn at every chance the loop gives it.

    What happened, in order: `read <target>` when the request reads a target's endpoints,
    `body` for each part of the body sent, `other` for each turn of the other task; and the
    body."""
    happened: list[str] = []
    read = watchdog.state.endpoints

    def endpoints(target: str) -> dict[Any, EndpointState]:
        happened.append(f"read {target}")
        return read(target)

    monkeypatch.setattr(watchdog.state, "endpoints", endpoints)
    body = bytearray()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            happened.append("body")
            body.extend(message["body"])

    async def run() -> None:
        done = False

        async def other() -> None:
            while not done:
                happened.append("other")
                await asyncio.sleep(0)

        turns = asyncio.create_task(other())
        await asyncio.sleep(0)  # the other task is running before the request comes
        await create_app(watchdog)(scope(path, gzip=gzip), receive, send)
        done = True
        await turns

    asyncio.run(run())
    return happened, bytes(body)


def turns_between(happened: list[str], first: str, last: str) -> int:
    """The other task's turns after the first `first` and before the last `last`."""
    start = happened.index(first)
    end = len(happened) - 1 - happened[::-1].index(last)
    return happened[start:end].count("other")


@pytest.mark.parametrize("path", ["/", "/api/v1/status"])
def test_other_tasks_run_between_the_targets_a_request_reads(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    watchdog = watchdog_of(TARGETS)
    happened, _ = served(watchdog, path, monkeypatch)
    reads = [event for event in happened if event.startswith("read ")]
    names = list(dict.fromkeys(event.removeprefix("read ") for event in reads))
    assert len(names) == TARGETS
    # A turn between each target and the next: never more than one target in one step.
    for before, after in pairwise(names):
        assert turns_between(happened, f"read {before}", f"read {after}") >= 1, (before, after)


@pytest.mark.parametrize("path", ["/", "/api/v1/status"])
def test_the_body_is_sent_a_target_at_a_time_with_turns_between(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    watchdog = watchdog_of(TARGETS)
    happened, body = served(watchdog, path, monkeypatch)
    sent = [i for i, event in enumerate(happened) if event == "body"]
    assert len(sent) >= TARGETS  # the head, a part per target, the end
    assert all("other" in happened[a:b] for a, b in pairwise(sent))
    if path == "/api/v1/status":
        assert [t["name"] for t in json.loads(body)["targets"]][:2] == ["prod", "edge"]
    else:
        assert body.endswith(b"</html>")


def test_api_status_gzipped_is_still_sent_in_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    watchdog = watchdog_of(TARGETS)
    happened, _ = served(watchdog, "/api/v1/status", monkeypatch, gzip=True)
    sent = [i for i, event in enumerate(happened) if event == "body"]
    assert len(sent) > 1
    assert all("other" in happened[a:b] for a, b in pairwise(sent))


@pytest.mark.parametrize("only", [None, "edge"])
def test_the_sliced_document_and_its_json_are_those_of_one_step(only: str | None) -> None:
    """Same document as `status`, and joined, the parts are JSONResponse's very body."""
    watchdog = watchdog_of(4)
    views = watchdog.engine.views(NOW)
    whole = status(watchdog.state, NOW, alerts=views, only=only)
    sliced = asyncio.run(status_in_slices(watchdog.state, NOW, alerts=views, only=only))
    assert sliced == whole
    assert b"".join(status_json(sliced)) == JSONResponse(whole).body
