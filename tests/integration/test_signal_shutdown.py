"""SIGTERM that lands in the middle of a log write: the server still shuts down and exits 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.signal_child import MARK

CHILD = Path(__file__).with_name("signal_child.py")
EXIT_WITHIN = 20.0


def request_mark(port: int) -> int | None:
    """GET /mark; None if the server never answers (it hangs once the handler blocks)."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/mark", timeout=EXIT_WITHIN).status_code
    except httpx.TimeoutException:
        return None


@pytest.mark.parametrize("where", ["startup", "structlog", "stdlib"])
def test_sigterm_inside_a_log_write_still_exits_0_and_logs_shutdown_requested(where: str) -> None:
    """SIGTERM handled while the log lock is held: exit 0 in time, `shutdown_requested` logged."""
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), where],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        port_line = proc.stderr.readline()
        assert port_line.startswith("port="), port_line
        status = request_mark(int(port_line.removeprefix("port="))) if where != "startup" else None
        try:
            output, errors = proc.communicate(timeout=EXIT_WITHIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit {EXIT_WITHIN:.0f} s after SIGTERM: stuck in the signal handler")
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, errors
    assert "raised_inside_write" in errors, errors  # the handler ran inside the write
    events: list[dict[str, Any]] = [json.loads(line) for line in output.splitlines()]
    names = [e["event"] for e in events]
    assert MARK in names
    [requested] = [e for e in events if e["event"] == "shutdown_requested"]
    assert requested["signal"] == "SIGTERM"
    assert requested["logger"] == "watchdog.web.serving"
    # Graceful: the marked request is answered, the lifespan shuts down after the request.
    assert names.index(MARK) < names.index("shutdown_requested") < names.index("lifespan_shutdown")
    assert names[-1] == "serve_returned"
    if where != "startup":
        assert status == 200
