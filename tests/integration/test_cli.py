"""The `watchdog` command as a user runs it: exit codes, messages, and the simulator process."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import yaml

from watchdog.cli import main

KEY = "cli-test-key-0123456789"
PASSWORD = "Cli-Test-Passw0rd!"


def run_cli(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, environ=env, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_config_bad_value_exits_2_naming_the_variable() -> None:
    """A bad value makes `watchdog config` exit 2 with a message that names the variable."""
    code, out, err = run_cli(
        ["config"], {"WATCHDOG_TARGETS": "https://wa.example", "WA_API_KEY": "short"}
    )
    assert code == 2
    assert out == ""
    assert err.startswith("configuration error: WA_API_KEY: must be 12 to 128 characters")
    assert "short" not in err


def test_config_prints_effective_yaml_with_secrets_masked() -> None:
    """`watchdog config` prints loadable YAML with defaults filled in and no secret in it."""
    env = {
        "WATCHDOG_TARGETS": "prod=https://wa.example:443",
        "WA_API_KEY": KEY,
        "WA_WEB_USERNAME": "admin",
        "WA_WEB_PASSWORD": PASSWORD,
        "WATCHDOG_ALERTMANAGER_URLS": "https://am-user:am-secret-pw@am.example:9093",
    }
    code, out, err = run_cli(["config"], env)
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert doc["targets"][0]["name"] == "prod"
    assert doc["health_interval"] == "15s"
    assert doc["api_key"] == "********"
    for secret in (KEY, PASSWORD, "am-secret-pw"):
        assert secret not in out


@pytest.mark.parametrize("command", ["run", "check", "demo", "simulate", "config"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each subcommand answers `--help` with exit 0 and a usage line."""
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"], environ={})
    assert exit_info.value.code == 0
    assert f"usage: watchdog {command}" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(url: str, timeout: float = 20.0) -> None:
    """Until a simulator started as a subprocess answers its admin API (either kind)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/_sim/state", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)


@pytest.fixture
def simulate_process() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    env = {**os.environ, "WA_API_KEY": KEY, "WA_WEB_PASSWORD": PASSWORD}
    proc = subprocess.Popen(
        [sys.executable, "-m", "watchdog", "simulate", "--topology", "ha", "--port", str(port),
         "--log-format", "json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_listening(url)
    yield url, proc
    proc.terminate()
    proc.wait(timeout=10)


def test_simulate_serves_ha_health_with_the_key(
    simulate_process: tuple[str, subprocess.Popen[str]],
) -> None:
    """`watchdog simulate --topology ha` answers health with 3+ nodes and never logs the key."""
    url, proc = simulate_process
    ok = httpx.get(url + "/v1/health", headers={"Authorization": f"Apikey {KEY}"})
    assert ok.status_code == 200
    assert len(ok.json()["health"]) >= 3
    denied = httpx.get(url + "/v1/health", headers={"Authorization": "Apikey wrong-key-123456"})
    assert denied.status_code == 401
    login = httpx.post(url + "/v1/users/login", auth=("admin", PASSWORD))
    assert login.status_code == 200
    proc.terminate()
    output, _ = proc.communicate(timeout=10)
    assert "simulator_starting" in output
    assert KEY not in output
    assert PASSWORD not in output


GRAPH_TOKEN = "EAAcli-test-graph-token-0123456789"


def test_simulate_cloud_serves_graph_with_the_token() -> None:
    """`watchdog simulate --kind cloud` answers the phone number in the scenario asked for, with
    the usage header, refuses another token, and never logs the token."""
    port = _free_port()
    env = {**os.environ, "WA_CLOUD_ACCESS_TOKEN": GRAPH_TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "watchdog", "simulate", "--kind", "cloud", "--port", str(port),
         "--phone-number-id", "111", "--phone-number-id", "222", "--waba-id", "333",
         "--scenario", "quality_red", "--log-format", "json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_listening(url)
        bearer = {"Authorization": f"Bearer {GRAPH_TOKEN}"}
        ok = httpx.get(url + "/v25.0/222?fields=quality_rating,platform_type", headers=bearer)
        assert ok.status_code == 200
        assert ok.json() == {"quality_rating": "RED", "platform_type": "CLOUD_API", "id": "222"}
        assert "X-Business-Use-Case-Usage" in ok.headers
        assert httpx.get(url + "/v25.0/333?fields=health_status", headers=bearer).status_code == 200
        denied = httpx.get(url + "/v25.0/111", headers={"Authorization": "Bearer EAAwrong"})
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == 190
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert "simulator_starting" in output
    assert GRAPH_TOKEN not in output


def test_simulate_refuses_a_scenario_of_the_other_kind() -> None:
    """A Cloud scenario with the On-Prem default (or the reverse) is exit 2, with a message."""
    code, _, err = run_cli(["simulate", "--scenario", "throttling"], {})
    assert code == 2
    assert "not a scenario of --kind onprem" in err
    code, _, err = run_cli(["simulate", "--kind", "cloud", "--scenario", "overloaded"], {})
    assert code == 2
    assert "not a scenario of --kind cloud" in err
