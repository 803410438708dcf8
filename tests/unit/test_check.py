"""`watchdog check`'s table: the verdicts in colour at a terminal, plain anywhere else; Cloud
targets judged and explained like the daemon does."""

from __future__ import annotations

import asyncio
import io
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from tests.unit.cloud_support import (
    BLOCKED,
    CALLING_BLOCKED,
    DISPLAY_NAME_PENDING,
    HEALTHY_PHONE,
    LIMITED,
    NUMBER,
    PAYMENT,
    T0,
    WABA,
    WABA_BLOCKED,
    WABA_HEALTHY,
    cloud_target,
    token_body,
    usage_header,
)
from watchdog import cli
from watchdog.api.endpoints import Endpoint
from watchdog.api.graph_usage import parse_usage_header
from watchdog.api.results import PollResult
from watchdog.base.targets import Target
from watchdog.check import check_once, exit_code, render_table

ANSI = re.compile(r"\x1b\[[0-9;]*m")
ENV = {"WATCHDOG_TARGETS": "prod=http://prod.test", "WA_API_KEY": "check-key-0123456789abcdef"}


def _target(name: str, level: str, failing: bool = False) -> dict[str, Any]:
    endpoint = {"ok": not failing, "detail": "HTTP 503" if failing else None, "reason": None}
    return {"name": name, "level": level, "summary": f"{name} is {level}",
            "endpoints": {"health": endpoint}}  # fmt: skip


DOCUMENT = {
    "level": "critical",
    "targets": [
        _target("a", "ok"),
        _target("bb", "warning"),
        _target("ccc", "critical", failing=True),
        _target("d", "unknown"),
    ],
}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def check(monkeypatch: pytest.MonkeyPatch, out: io.StringIO, *args: str, **env: str) -> str:
    async def polled_once(*_: Any, **__: Any) -> dict[str, Any]:
        return DOCUMENT

    monkeypatch.setattr(cli, "check_once", polled_once)
    code = cli.main(["check", *args], environ={**ENV, **env}, out=out, err=io.StringIO())
    assert code == 2  # the worst level: critical
    return out.getvalue()


def test_levels_in_colour_at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    table = check(monkeypatch, Terminal())
    lines = table.splitlines()
    assert "\x1b[32mOK\x1b[0m" in lines[1]
    assert "\x1b[33mWARNING\x1b[0m" in lines[2]
    assert "\x1b[31mCRITICAL\x1b[0m" in lines[3]
    assert "\x1b[35mUNKNOWN\x1b[0m" in lines[5]
    assert not ANSI.search(lines[0])  # the header
    assert not ANSI.search(lines[4])  # the failing endpoint's line
    # The same table as without colour, columns aligned on the visible text.
    assert ANSI.sub("", table) == render_table(DOCUMENT)
    plain = ANSI.sub("", table).splitlines()
    rows = [(plain[i], name) for i, name in ((1, "a"), (2, "bb"), (3, "ccc"), (5, "d"))]
    assert len({line.index(f"{name} is ") for line, name in rows}) == 1


@pytest.mark.parametrize(
    ("out", "args", "env"),
    [
        (io.StringIO(), (), {}),  # a pipe or a file
        (Terminal(), (), {"NO_COLOR": "1"}),
        (Terminal(), (), {"TERM": "dumb"}),
        (Terminal(), ("--json",), {}),
    ],
    ids=["piped", "NO_COLOR", "dumb-terminal", "json"],
)
def test_no_colour_unless_a_person_reads_a_terminal(
    monkeypatch: pytest.MonkeyPatch, out: io.StringIO, args: tuple[str, ...], env: dict[str, str]
) -> None:
    text = check(monkeypatch, out, *args, **env)
    assert "\x1b[" not in text
    if args:
        assert json.loads(text)["level"] == "critical"
    else:
        assert "CRITICAL" in text


# --- Cloud targets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Failed:
    reason: str
    status: int
    detail: str


THROTTLED = Failed("graph_throttled", 429, "HTTP 429 Graph error 80008")


class Graph:
    """A Cloud target's Graph as `check` polls it: one canned answer per endpoint, shaped as
    Meta documents it (`tests/unit/cloud_support.py`), or a failure."""

    def __init__(self, target: Target, answers: dict[Endpoint, Any], usage: str = "") -> None:
        self.target = target
        self.answers = answers
        self.usage = usage
        self.closed = False

    async def poll(self, endpoint: Endpoint) -> PollResult:
        usage = parse_usage_header(self.usage or None)
        answer = self.answers[endpoint]
        if isinstance(answer, Failed):
            return PollResult(self.target.name, endpoint, T0, 0.2, answer.status, answer.reason,
                              answer.detail, usage=usage)  # fmt: skip
        return PollResult(self.target.name, endpoint, T0, 0.2, 200, None, body=answer, usage=usage)

    async def aclose(self) -> None:
        self.closed = True


def check_cloud(phone: Any, **answers: Any) -> tuple[dict[str, Any], list[Graph]]:
    made: list[Graph] = []

    def factory(target: Target) -> Graph:
        found = {Endpoint.PHONE_NUMBER: phone, Endpoint.WABA: WABA_HEALTHY,
                 Endpoint.TOKEN: token_body()}  # fmt: skip
        found.update({Endpoint(k): v for k, v in answers.items()})
        made.append(Graph(target, found, usage_header(42)))
        return made[-1]

    document = asyncio.run(check_once([cloud_target()], factory, clock=lambda: T0 + 1))
    return document, made


def test_check_judges_a_blocked_number_and_says_what_meta_advises() -> None:
    document, clients = check_cloud(BLOCKED, waba=WABA_BLOCKED)
    assert exit_code(document) == 2
    assert all(c.closed for c in clients)
    lines = render_table(document).splitlines()
    assert lines[1].split()[:2] == ["shop-eu", "CRITICAL"]
    assert lines[1].endswith(f"cannot send messages: WABA {WABA}")
    # The entity once, though both the number's and the WABA's health name it.
    assert [line.strip() for line in lines[2:]] == [
        f"WABA {WABA}: BLOCKED — error 141006: {PAYMENT['error_description']} "
        f"What to do: {PAYMENT['possible_solution']}"
    ]


@pytest.mark.parametrize(
    ("phone", "code", "summary"),
    [
        (HEALTHY_PHONE, 0, "CONNECTED, can send messages, quality GREEN, TIER_10K"),
        (CALLING_BLOCKED, 0, "CONNECTED, can send messages, quality GREEN, TIER_10K"),
        (LIMITED, 1, f"messaging limited: PHONE_NUMBER {NUMBER}"),
        (THROTTLED, 2, "phone_number "),  # throttled, with no answer to fall back on
    ],
    ids=["healthy", "calling-only", "limited", "throttled"],
)
def test_check_exit_code_follows_the_cloud_verdict(phone: Any, code: int, summary: str) -> None:
    document, _ = check_cloud(phone)
    assert exit_code(document) == code
    (target,) = document["targets"]
    assert target["summary"].startswith(summary)
    table = render_table(document)
    assert table.splitlines()[1].endswith(target["summary"])
    if phone is LIMITED:
        assert f"PHONE_NUMBER {NUMBER}: LIMITED — {DISPLAY_NAME_PENDING}" in table


def test_check_lists_what_is_wrong_with_the_waba_and_the_failing_token() -> None:
    expired = Failed("graph_token", 401, "HTTP 401 Graph error 190/463: token expired")
    document, _ = check_cloud(HEALTHY_PHONE, waba=WABA_BLOCKED, token=expired)
    assert exit_code(document) == 2
    table = render_table(document)
    assert f"WABA {WABA}: BLOCKED — error 141006" in table
    assert "  token: HTTP 401 Graph error 190/463: token expired" in table
