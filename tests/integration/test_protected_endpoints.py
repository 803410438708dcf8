"""The watchdog's own endpoints over real sockets: HTTPS with reloaded certificates, Basic and
bearer credentials, open probe paths, and secrets kept out of logs, `watchdog config` and errors."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from structlog.testing import capture_logs

from watchdog.app import build_watchdog
from watchdog.base.redact import Redactor
from watchdog.cli import main
from watchdog.config.settings import load_settings
from watchdog.simulator import Deployment, SimulatorConfig, SimulatorServer, Topology
from watchdog.web.access import protect
from watchdog.web.routes import create_app
from watchdog.web.serving import BackgroundServer
from watchdog.web.tls import ServerTls

KEY = "protected-test-key-0123456789"
PASSWORD = "Pr0tected-endpoints-pa55"
WRONG_PASSWORD = "Wr0ng-guess-of-the-pa55"
# bcrypt.hashpw(PASSWORD, gensalt(10)), made once.
HASH = "$2b$10$dRHoLLXYjxEwF3dlQq.d8.9B27tzIZEQui.IVyMno9bgLex41VLlW"
TOKEN = "scrape-token-0123456789-abcdefABCDEF"
WRONG_TOKEN = "scrape-token-9999999999-wrongWRONG"
SECRETS = (PASSWORD, WRONG_PASSWORD, HASH, HASH[7:], TOKEN, WRONG_TOKEN, KEY)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def write_pair(directory: Path, ca: trustme.CA) -> None:
    """A certificate for 127.0.0.1 from `ca` and its key, each replacing its file at once (as
    the kubelet and cert-manager do)."""
    issued = ca.issue_cert("127.0.0.1", "localhost")
    for name, blob in (("tls.crt", issued.cert_chain_pems[0]), ("tls.key", issued.private_key_pem)):
        staged = directory / f".{name}.new"
        blob.write_to_path(str(staged))
        os.replace(staged, directory / name)


@dataclass
class Served:
    url: str
    ca: trustme.CA
    tls: ServerTls
    directory: Path


@pytest.fixture
def certs(tmp_path: Path) -> tuple[Path, trustme.CA]:
    ca = trustme.CA()
    write_pair(tmp_path, ca)
    (tmp_path / "token").write_text(TOKEN + "\n", encoding="utf-8")
    return tmp_path, ca


def _env(directory: Path, simulator_url: str) -> dict[str, str]:
    return {
        "WATCHDOG_TARGETS": f"sim={simulator_url}",
        "WA_API_KEY": KEY,
        "WATCHDOG_TLS_CERT_FILE": str(directory / "tls.crt"),
        "WATCHDOG_TLS_KEY_FILE": str(directory / "tls.key"),
        "WATCHDOG_BASIC_AUTH_USERS": f"prometheus:{HASH}",
        "WATCHDOG_BEARER_TOKEN_FILE": str(directory / "token"),
    }


@pytest.fixture
def served(certs: tuple[Path, trustme.CA]) -> Iterator[Served]:
    directory, ca = certs
    deployment = Deployment(SimulatorConfig(topology=Topology.SINGLE, api_key=KEY))
    with SimulatorServer(deployment) as simulator:
        settings = load_settings(_env(directory, simulator.url))
        assert settings.tls_cert_file is not None
        assert settings.tls_key_file is not None
        tls = ServerTls(settings.tls_cert_file, settings.tls_key_file, check_interval=0)
        app = protect(
            create_app(build_watchdog(settings, start_spread=0.2)), settings, redactor=Redactor()
        )
        with BackgroundServer(app, lifespan="on", tls=tls.context) as server:
            yield Served(server.url, ca, tls, directory)


def test_https_with_credentials_on_every_path_but_the_probes(served: Served) -> None:
    """Over HTTPS: /livez and /readyz are open; the rest need Basic or bearer credentials."""
    assert served.url.startswith("https://127.0.0.1:")
    with httpx.Client(base_url=served.url, verify=trusting(served.ca)) as client:
        assert client.get("/livez").status_code == 200
        wait_for(lambda: client.get("/readyz").status_code == 200)
        for path in ("/metrics", "/api/v1/status", "/api/v1/alerts", "/probe/sim/ready", "/"):
            assert client.get(path).status_code == 401, path
            assert client.get(path, headers=basic("prometheus", WRONG_PASSWORD)).status_code == 401
            assert client.get(path, headers=bearer(WRONG_TOKEN)).status_code == 401
            assert client.get(path, headers=basic("prometheus", PASSWORD)).status_code == 200
            assert client.get(path, headers=bearer(TOKEN)).status_code == 200
        metrics = client.get("/metrics", headers=bearer(TOKEN)).text
        assert 'whatsapp_up{endpoint="health",target="sim"} 1.0' in metrics
        for body in (metrics, client.get("/", headers=bearer(TOKEN)).text):
            for secret in SECRETS:
                assert secret not in body


def test_plain_http_and_untrusted_clients_are_refused(served: Served) -> None:
    """Plain HTTP to the TLS port gets no answer, and a client not trusting the CA fails."""
    with pytest.raises(httpx.TransportError):
        httpx.get(served.url.replace("https://", "http://") + "/livez", timeout=5)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(served.url + "/livez", timeout=5)
    # The server goes on serving after both.
    assert httpx.get(served.url + "/livez", verify=trusting(served.ca)).status_code == 200


def _issuer_trusted(url: str, ca: trustme.CA) -> bool:
    try:
        return httpx.get(url + "/livez", verify=trusting(ca), timeout=5).status_code == 200
    except httpx.ConnectError:
        return False


def test_rotated_certificate_is_served_without_restart(served: Served) -> None:
    """A new certificate from a new CA written over the files is served to new connections."""
    old_ca = served.ca
    assert _issuer_trusted(served.url, old_ca)
    new_ca = trustme.CA()
    with capture_logs() as logs:
        write_pair(served.directory, new_ca)
        wait_for(lambda: _issuer_trusted(served.url, new_ca))
    assert not _issuer_trusted(served.url, old_ca)
    assert served.tls.generation == 1
    assert [e["event"] for e in logs if e["event"].startswith("tls_")] == [
        "tls_certificate_reloaded"
    ]


def test_unusable_rotation_keeps_the_last_good_certificate(served: Served) -> None:
    """A half-written rotation keeps the old certificate, logged once, until the key follows."""
    new_ca = trustme.CA()
    issued = new_ca.issue_cert("127.0.0.1")
    key_file = served.directory / "tls.key"
    with capture_logs() as logs:
        issued.cert_chain_pems[0].write_to_path(str(served.directory / "tls.crt"))
        for _ in range(3):
            assert _issuer_trusted(served.url, served.ca)
        assert served.tls.problem is not None
        assert served.tls.problem.startswith("WATCHDOG_TLS_KEY_FILE: ")
        issued.private_key_pem.write_to_path(str(key_file))
        wait_for(lambda: _issuer_trusted(served.url, new_ca))
    events = [e["event"] for e in logs if e["event"].startswith("tls_")]
    assert events == ["tls_certificate_reload_failed", "tls_certificate_reloaded"]
    failed = next(e for e in logs if e["event"] == "tls_certificate_reload_failed")
    assert "PRIVATE KEY" not in json.dumps(failed)
    assert failed["keeping_previous"] is True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_daemon_logs_config_and_errors_never_show_secrets(
    certs: tuple[Path, trustme.CA],
) -> None:
    """`watchdog run` over HTTPS: no password, hash or token in its log, config or errors."""
    directory, ca = certs
    deployment = Deployment(SimulatorConfig(api_key=KEY))
    with SimulatorServer(deployment) as simulator:
        port = free_port()
        env = {
            **os.environ,
            **_env(directory, simulator.url),
            "WATCHDOG_LISTEN": f"127.0.0.1:{port}",
            "WATCHDOG_LOG_FORMAT": "json",
            "WATCHDOG_LOG_LEVEL": "debug",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "watchdog", "run"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        url = f"https://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=url, verify=trusting(ca), timeout=5) as client:

                def up() -> bool:
                    try:
                        return client.get("/livez").status_code == 200
                    except httpx.TransportError:
                        return False

                wait_for(up)
                assert client.get("/metrics", headers=basic("prometheus", PASSWORD)).is_success
                assert client.get("/metrics", headers=bearer(TOKEN)).is_success
                for headers in (
                    basic("prometheus", WRONG_PASSWORD),
                    basic(PASSWORD, PASSWORD),
                    bearer(WRONG_TOKEN),
                    {"Authorization": f"Bearer {TOKEN}x"},
                ):
                    assert client.get("/api/v1/status", headers=headers).status_code == 401
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 0, output
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    protected = next(e for e in events if e["event"] == "endpoints_protected")
    assert (protected["basic_auth_users"], protected["bearer"], protected["https"]) == (
        ["prometheus"],
        True,
        True,
    )
    assert [e["client"] for e in events if e["event"] == "access_denied"] == ["127.0.0.1"]
    for secret in SECRETS:
        assert secret not in output

    out, err = io.StringIO(), io.StringIO()
    assert main(["config"], environ=_env(directory, "http://sim.example"), out=out, err=err) == 0
    assert "prometheus: '********'" in out.getvalue()
    for secret in SECRETS:
        assert secret not in out.getvalue() + err.getvalue()

    bad = {**_env(directory, "http://sim.example"), "WATCHDOG_BASIC_AUTH_USERS": f"p:{PASSWORD}"}
    assert main(["config"], environ=bad, out=out, err=err) == 2
    assert "WATCHDOG_BASIC_AUTH_USERS: user 'p': expected a bcrypt hash" in err.getvalue()
    for secret in SECRETS:
        assert secret not in err.getvalue()
