"""`watchdog run` and `watchdog demo` as processes: serving, and a graceful SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import httpx

from tests.integration.conftest import answers, wait_for
from tests.integration.demo_process import demo
from watchdog.simulator import Deployment, Scenario, SimulatorConfig, SimulatorServer

KEY = "daemon-test-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_finishes_polls_in_flight_on_sigterm_and_exits_0() -> None:
    """SIGTERM during a slow poll: the poll completes, clients close, the exit code is 0."""
    deployment = Deployment(SimulatorConfig(api_key=KEY, scenario=Scenario.SLOW, slow_delay=1.5))
    with SimulatorServer(deployment) as simulator:
        port = free_port()
        env = {
            **os.environ,
            "WATCHDOG_TARGETS": f"sim={simulator.url}",
            "WA_API_KEY": KEY,
            "WATCHDOG_LISTEN": f"127.0.0.1:{port}",
            "WATCHDOG_LOG_FORMAT": "json",
            "WATCHDOG_LOG_LEVEL": "debug",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "watchdog", "run"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            wait_for(lambda: answers(f"http://127.0.0.1:{port}/livez"))
            wait_for(lambda: deployment.gate.in_flight > 0)
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=20)
        finally:
            proc.kill()
    assert proc.returncode == 0, output
    events = [json.loads(line)["event"] for line in output.splitlines() if line.startswith("{")]
    assert "shutdown_requested" in events
    assert "waiting_for_polls_in_flight" in events
    waited = events.index("waiting_for_polls_in_flight")
    # The slow poll is recorded after the wait began (not cancelled), before the stop.
    finished = [i for i, e in enumerate(events) if e in ("poll_finished", "poll_state_changed")]
    assert any(waited < i < events.index("watchdog_stopped") for i in finished), events
    assert "CancelledError" not in output
    assert "raised an exception" not in output
    assert KEY not in output


def test_run_refuses_bad_config_with_exit_2() -> None:
    """`watchdog run` with an invalid variable exits 2 and names it, without starting."""
    env = {**os.environ, "WATCHDOG_TARGETS": "https://wa.example", "WA_API_KEY": KEY,
           "WATCHDOG_TIMEOUT": "soon"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "watchdog", "run"],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("configuration error: WATCHDOG_TIMEOUT:")


def test_demo_runs_on_a_free_port_when_the_default_is_taken() -> None:
    """`watchdog demo` needs no configuration and moves to a free port if its own is taken."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with demo(listen=f"127.0.0.1:{taken}") as (status_page, _):
            assert f":{taken}/" not in status_page
            ready = httpx.get(status_page + "probe/demo/ready")
            assert ready.status_code == 200
