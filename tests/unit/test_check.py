"""`watchdog check`'s table: the verdicts in colour at a terminal, plain anywhere else."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest

from watchdog import cli
from watchdog.check import render_table

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
