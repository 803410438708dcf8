"""`watchdog check`: poll every target once and judge, like a monitoring plugin."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

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


# SGR colours of the LEVEL column; the word is always there, the colour only helps.
_COLOURS = {"OK": "32", "WARNING": "33", "CRITICAL": "31", "UNKNOWN": "35"}


def wants_colour(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Colour for a person at a terminal only: never into a pipe or a file, nor with NO_COLOR
    set (the no-color.org convention) or a terminal that says it is dumb."""
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed, or file-like without isatty
        tty = False
    return tty and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"


def render_table(document: dict[str, Any], *, colour: bool = False) -> str:
    """One line per target and a line per failing endpoint, aligned for a terminal; with
    *colour*, the LEVEL column in ANSI colours."""
    rows = [("TARGET", "LEVEL", "SUMMARY")]
    for target in document["targets"]:
        rows.append((target["name"], target["level"].upper(), target["summary"]))
        for name, endpoint in target["endpoints"].items():
            if endpoint["ok"] is False:
                rows.append(("", "", f"  {name}: {endpoint['detail'] or endpoint['reason']}"))
        rows.extend(("", "", f"  {line}") for line in cloud_lines(target.get("cloud")))
    width = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = []
    for number, (a, b, c) in enumerate(rows):
        level = f"{b:<{width[1]}}"
        if colour and number and b in _COLOURS:
            # Padded first, so the escape codes do not count towards the alignment.
            level = f"\x1b[{_COLOURS[b]}m{b}\x1b[0m{level[len(b) :]}"
        lines.append(f"{a:<{width[0]}}  {level}  {c}".rstrip())
    return "\n".join(lines) + "\n"


def cloud_lines(cloud: dict[str, Any] | None) -> list[str]:
    """A Cloud target's entities that cannot send messages freely, each with what Meta says:
    the error and its possible solution (BLOCKED), or its additional information (LIMITED).
    An entity in both the number's and the WABA's health is told once."""
    lines: list[str] = []
    seen: set[tuple[Any, ...]] = set()
    for node in ("messaging", "waba"):
        for entity in ((cloud or {}).get(node) or {}).get("entities") or ():
            status = entity.get("can_send_message")
            key = (entity.get("entity_type"), entity.get("id"), status)
            if status in (None, "AVAILABLE") or key in seen:
                continue
            seen.add(key)
            said = [f"{entity.get('entity_type') or 'entity'} {entity.get('id') or ''}".rstrip()]
            said[0] += f": {status}"
            for error in entity.get("errors") or ():
                description = str(error.get("description") or "no description").rstrip(".")
                text = f"error {error.get('code')}: {description}."
                if error.get("possible_solution"):
                    text += f" What to do: {error['possible_solution']}"
                said.append(text)
            said.extend(entity.get("additional_info") or ())
            lines.append(" — ".join(said))
    return lines
