"""`watchdog check`: poll every target once and judge, like a monitoring plugin."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from watchdog.api.endpoints import Endpoint
from watchdog.api.gateways import Expectation
from watchdog.api.results import observe
from watchdog.base.targets import Target
from watchdog.poll.scheduler import ClientFactory
from watchdog.state import State
from watchdog.web.status import Level, status


async def check_once(
    targets: list[Target],
    client_factory: ClientFactory,
    expectation: Expectation | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Poll each enabled endpoint of each target once (concurrently); the status document.

    The verdict is the daemon's (`watchdog.web.status`), with the configured shard count."""
    state = State(targets, clock=clock, expectation=expectation)
    clients = {t.name: client_factory(t) for t in targets}
    try:
        polls = [clients[t.name].poll(e) for t in targets for e in Endpoint if e.interval(t) > 0]
        for result in await asyncio.gather(*polls):
            state.record(observe(result))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients.values()))
    return status(state, clock())


def exit_code(document: dict[str, Any]) -> int:
    return int(Level[document["level"].upper()])


def render_table(document: dict[str, Any]) -> str:
    """One line per target and a line per failing endpoint, aligned for a terminal."""
    rows = [("TARGET", "LEVEL", "SUMMARY")]
    for target in document["targets"]:
        rows.append((target["name"], target["level"].upper(), target["summary"]))
        for name, endpoint in target["endpoints"].items():
            if endpoint["ok"] is False:
                rows.append(("", "", f"  {name}: {endpoint['detail'] or endpoint['reason']}"))
    width = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{a:<{width[0]}}  {b:<{width[1]}}  {c}".rstrip() for a, b, c in rows]
    return "\n".join(lines) + "\n"
