"""Secrets sweep: no API key, password or token ever shows in anything the watchdog outputs.

`watchdog run` (debug logging) watches one simulator per scenario plus one switched through
every scenario, with recognisable secrets everywhere they can be configured: the API key (in a
key file, rotated mid-run), the web password (bearer login where the key is refused, and a
login the API refuses), Alertmanager URLs with `user:password@`, webhook URLs with a token in
the path. Cloud API targets run beside them on Graph simulators, one per Graph scenario: the
access token as WA_CLOUD_ACCESS_TOKEN, another in a target's token file (refused once, then
rotated), the app token for debug_token; one Cloud target goes through a token_expired phase,
and one Graph answers every call with an error that echoes the tokens it was sent.
Alertmanager and webhook receivers run locally (failing at first, then accepting; and dead
ones), so delivery failures and successes are logged. Then everything the watchdog wrote,
served or sent — its stdout and stderr, every page in every format, the alerts it delivered,
`watchdog config`, `watchdog check` (JSON and table), and the stderr of runs refused for bad
configuration — is searched for every secret, its base64 Basic-auth form, and every bearer
token the API issued.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from watchdog.simulator import (
    Deployment,
    GraphConfig,
    GraphDeployment,
    GraphScenario,
    KeyScope,
    Scenario,
    SimulatorConfig,
    Topology,
)
from watchdog.simulator.app import create_app as create_simulator_app
from watchdog.simulator.graph_app import create_graph_app
from watchdog.web.serving import BackgroundServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

USER = "monitor"
AM_USER = "amuser"
STEP = 1.5  # seconds each scenario holds on the switched simulator
NUMBER = "106540352242922"
WABA = "102290129340398"
APP_ID = "634974688087057"


def _secret(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


@dataclass(frozen=True)
class Secrets:
    """Recognisable secret values, fresh for each run."""

    key: str = field(default_factory=lambda: _secret("SECRETKEY"))
    rotated_key: str = field(default_factory=lambda: _secret("SECRETKEY2"))
    password: str = field(default_factory=lambda: _secret("SECRETPW"))
    am_password: str = field(default_factory=lambda: _secret("SECRETAM"))
    hook_token: str = field(default_factory=lambda: _secret("SECRETHOOK"))
    dead_hook_token: str = field(default_factory=lambda: _secret("SECRETDEADHOOK"))
    query_token: str = field(default_factory=lambda: _secret("SECRETQUERY"))
    # Refused by validation: they must not be echoed in the error either.
    short_key: str = field(default_factory=lambda: "SECR" + secrets.token_hex(3))  # 10 chars
    long_key: str = field(default_factory=lambda: "SECRETLONG-" + secrets.token_hex(80))
    # Graph: the access token (inline), another in a token file and its rotation, the app
    # secret of the app token `<app_id>|<app_secret>` that debug_token is called with.
    cloud_token: str = field(default_factory=lambda: _secret("EAASECRETCLOUD"))
    cloud_file_token: str = field(default_factory=lambda: _secret("EAASECRETCLOUDFILE"))
    rotated_cloud_token: str = field(default_factory=lambda: _secret("EAASECRETCLOUD2"))
    app_secret: str = field(default_factory=lambda: _secret("SECRETAPP"))

    @property
    def app_token(self) -> str:
        return f"{APP_ID}|{self.app_secret}"

    def forms(self, tokens: list[str]) -> dict[str, str]:
        """Every string that must not appear anywhere, by a name for the report."""
        found: dict[str, str] = {}
        for name in ("key", "rotated_key", "password", "am_password", "hook_token",
                     "dead_hook_token", "query_token", "short_key", "long_key", "cloud_token",
                     "cloud_file_token", "rotated_cloud_token", "app_secret"):  # fmt: skip
            value = getattr(self, name)
            found[name] = value
            if "-" in value:
                # The random part alone catches a secret whose prefix was cut or masked; its
                # first 8 characters, one cut short (a text clipped to length in the middle).
                found[f"{name} (random part)"] = value.split("-", 1)[1]
                found[f"{name} (start of the random part)"] = value.split("-", 1)[1][:8]
        # Through a query string (debug_token's input_token) the app token's "|" is escaped.
        found["app token"] = self.app_token
        found["app token (URL form)"] = self.app_token.replace("|", "%7C")
        for name, user, password in (("login", USER, self.password),
                                     ("alertmanager", AM_USER, self.am_password)):  # fmt: skip
            found[f"{name} Basic credentials"] = base64.b64encode(
                f"{user}:{password}".encode()
            ).decode()
        for index, token in enumerate(tokens):
            found[f"bearer token {index}"] = token
            found[f"bearer token {index} signature"] = token.rsplit(".", 1)[-1]
        return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TokenRecorder:
    """Wraps a simulator: remembers every bearer token its login hands out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.tokens: list[str] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/users/login":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        try:
            token = json.loads(b"".join(chunks))["users"][0]["token"]
        except (ValueError, KeyError, IndexError, TypeError):
            return
        with self._lock:
            self.tokens.append(str(token))


class Receiver:
    """An Alertmanager or webhook receiver: answers `failures` POSTs with `status`, then 200."""

    def __init__(self, failures: int, status: int) -> None:
        self.failures = failures
        self.status = status
        self.requests: list[tuple[str, str]] = []  # (path, Authorization header)
        self.bodies: list[str] = []  # the alerts as delivered
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])
        self.server = BackgroundServer(app, name="receiver")

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self.requests.append((request.url.path, request.headers.get("authorization", "")))
            self.bodies.append(body.decode(errors="replace"))
            count = len(self.requests)
        if count <= self.failures:
            return Response("not now", status_code=self.status)
        return JSONResponse({"status": "success"})


@dataclass
class Simulated:
    deployment: Deployment
    recorder: TokenRecorder
    url: str


def start_simulator(
    stack: ExitStack, secret: Secrets, *, users: dict[str, str] | None = None, **config: Any
) -> Simulated:
    deployment = Deployment(
        SimulatorConfig(
            api_key=secret.key,
            users={USER: secret.password} if users is None else users,
            health_limit=1000,
            slow_delay=1.5,
            flap_period=3.0,
            token_lifetime=8.0,
            token_leeway=0.0,
            **config,
        )
    )
    recorder = TokenRecorder(create_simulator_app(deployment))
    server = stack.enter_context(BackgroundServer(recorder, name="wa-simulator"))
    return Simulated(deployment, recorder, server.url)


class EchoGraph:
    """A Graph that refuses every call with an error quoting what it was sent: the token (at
    the point where Meta's message is clipped, too), the input_token and the Authorization
    header; the WABA's node with 200 and the error envelope."""

    def __init__(self) -> None:
        self.authorizations: set[str] = set()
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/{path:path}", self._answer, methods=["GET"])])
        self.server = BackgroundServer(app, name="echo-graph")

    async def _answer(self, request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        with self._lock:
            self.authorizations.add(authorization)
        token = authorization.partition(" ")[2]
        input_token = request.query_params.get("input_token", "")
        error = {
            # No "token" or "Bearer" right before it: only knowing the secret masks it.
            "message": "x" * 250 + f" cannot parse {token} (input {input_token})",
            "type": "OAuthException",
            "code": 190,
            "error_subcode": 467,
            "error_data": {"messaging_product": "whatsapp",
                           "details": f"{token} refused; Authorization: {authorization}"},
            "fbtrace_id": "AechoTrace0123",
        }  # fmt: skip
        challenge = f'OAuth "Facebook Platform" "invalid_token" "{token}"'
        status = 200 if request.url.path.endswith(WABA) else 401
        return JSONResponse({"error": error}, status, headers={"WWW-Authenticate": challenge})


@dataclass
class Graphed:
    deployment: GraphDeployment | None
    url: str
    # The target's own token file, if any (YAML `access_token_file`).
    token_file: Path | None = None


def start_graph(stack: ExitStack, secret: Secrets, *, token: str, **config: Any) -> Graphed:
    deployment = GraphDeployment(GraphConfig(token=token, app_secret=secret.app_secret, **config))
    server = stack.enter_context(BackgroundServer(create_graph_app(deployment), name="graph"))
    return Graphed(deployment, server.url)


def targets_file(
    workdir: Path, simulators: Mapping[str, Simulated], graphs: Mapping[str, Graphed]
) -> Path:
    """Both kinds of target in one fleet, as during a migration: YAML, since a Cloud target's
    url (the simulator's) is set there only."""
    targets: list[dict[str, Any]] = [{"name": n, "url": s.url} for n, s in simulators.items()]
    for name, graph in graphs.items():
        target: dict[str, Any] = {"name": name, "kind": "cloud", "url": graph.url,
                                  "phone_number_id": NUMBER, "waba_id": WABA}  # fmt: skip
        if graph.token_file is not None:
            target["access_token_file"] = str(graph.token_file)
        targets.append(target)
    path = workdir / "targets.yaml"
    path.write_text(yaml.safe_dump({"targets": targets}))
    return path


@dataclass
class Collected:
    """Everything the watchdog wrote or served, by where it came from."""

    outputs: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, text: str) -> None:
        key, n = where, 1
        while key in self.outputs:
            n += 1
            key = f"{where} #{n}"
        self.outputs[key] = text


def collect_pages(client: httpx.Client, targets: list[str], collected: Collected) -> None:
    """Every page of the watchdog's server, in every format it offers."""
    pages = ["/", "/metrics", "/api/v1/status", "/api/v1/alerts", "/livez", "/readyz",
             "/no/such/page", "/probe/no-such-target/ready"]  # fmt: skip
    for target in targets:
        pages += [f"/probe/{target}/ready", f"/probe/{target}/live"]
    for page in pages:
        response = client.get(page)
        collected.add(f"GET {page}", f"{response.status_code} {response.headers}\n{response.text}")
    openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    collected.add("GET /metrics (OpenMetrics)", openmetrics.text)


def run_cli(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watchdog", *args],
        env=dict(env), capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "WATCHDOG_"))}


FAST = {
    "WATCHDOG_HEALTH_INTERVAL": "6s",
    "WATCHDOG_CLOUD_HEALTH_INTERVAL": "10s",  # the Cloud minimum
    "WATCHDOG_CLOUD_WABA_INTERVAL": "10s",
    "WATCHDOG_CLOUD_TOKEN_INTERVAL": "10s",
    "WATCHDOG_METRICS_INTERVAL": "1s",
    "WATCHDOG_STATS_APP_INTERVAL": "1s",
    "WATCHDOG_STATS_DB_INTERVAL": "1s",
    "WATCHDOG_TIMEOUT": "1s",
    "WATCHDOG_ALERT_UNREACHABLE_FOR": "0s",
    "WATCHDOG_ALERT_GATEWAY_DOWN_FOR": "0s",
    "WATCHDOG_ALERT_NOT_REGISTERED_FOR": "0s",
    "WATCHDOG_ALERT_QUEUE_BACKLOG_FOR": "0s",
    "WATCHDOG_ALERT_AUTH_REJECTED_KEEP_FIRING_FOR": "0s",
    "WATCHDOG_ALERT_UNREACHABLE_KEEP_FIRING_FOR": "0s",
}


def bad_configurations(secret: Secrets, workdir: Path) -> dict[str, dict[str, str]]:
    """Configurations `watchdog run` must refuse (exit 2), each with a secret in the way."""
    long_key_file = workdir / "long-key"
    long_key_file.write_text(secret.long_key + "\n")
    yaml_file = workdir / "bad.yaml"
    yaml_file.write_text(
        f"api_key: {secret.short_key}\n"
        f"web_pasword: {secret.password}\n"  # a misspelt key: an unknown key with a secret
        f"alertmanager_urls: ['ftp://{AM_USER}:{secret.am_password}@am.example:9093']\n"
    )
    target = {"WATCHDOG_TARGETS": "prod=https://wa.example"}
    cloud = {"WATCHDOG_CLOUD_TARGETS": f"shop={NUMBER}:{WABA}"}
    spaced_token_file = workdir / "spaced-token"
    spaced_token_file.write_text(f"{secret.cloud_file_token} {secret.rotated_cloud_token}\n")
    token_file = workdir / "good-token"
    token_file.write_text(secret.cloud_file_token + "\n")
    onprem_with_token = workdir / "onprem-with-token.yaml"
    onprem_with_token.write_text(
        f"cloud_access_token: {secret.cloud_token}\n"
        f"targets: [{{name: prod, url: 'https://wa.example', access_token_file: {token_file}}}]\n"
    )
    return {
        "API key too short": {**target, "WA_API_KEY": secret.short_key},
        "API key too long": {**target, "WA_API_KEY": secret.long_key},
        "key file too long": {**target, "WA_API_KEY_FILE": str(long_key_file)},
        "key and key file": {
            **target,
            "WA_API_KEY": secret.key,
            "WA_API_KEY_FILE": str(long_key_file),
        },
        "Alertmanager URL not http": {
            **target,
            "WA_API_KEY": secret.key,
            "WATCHDOG_ALERTMANAGER_URLS": f"ftp://{AM_USER}:{secret.am_password}@am.example",
        },
        "webhook URL without scheme": {
            **target,
            "WA_API_KEY": secret.key,
            "WATCHDOG_WEBHOOK_URLS": f"hooks.example.com/services/{secret.hook_token}",
        },
        "webhook URL with a space": {
            **target,
            "WA_API_KEY": secret.key,
            "WATCHDOG_WEBHOOK_URLS": f"https://hooks.example.com/x y/{secret.hook_token}",
        },
        "password in a target URL": {
            "WATCHDOG_TARGETS": f"prod=https://{USER}:{secret.password}@wa.example",
            "WA_API_KEY": secret.key,
        },
        "bearer mode without user": {
            **target,
            "WATCHDOG_AUTH_MODE": "bearer",
            "WA_WEB_PASSWORD": secret.password,
        },
        "YAML file with bad values": {**target, "WATCHDOG_CONFIG_FILE": str(yaml_file)},
        "Cloud token too short": {**cloud, "WA_CLOUD_ACCESS_TOKEN": secret.short_key},
        "Cloud token with a space": {
            **cloud,
            "WA_CLOUD_ACCESS_TOKEN": f"{secret.cloud_token} {secret.rotated_cloud_token}",
        },
        "Cloud token file with a space": {
            **cloud,
            "WA_CLOUD_ACCESS_TOKEN_FILE": str(spaced_token_file),
        },
        "Cloud token and token file": {
            **cloud,
            "WA_CLOUD_ACCESS_TOKEN": secret.cloud_token,
            "WA_CLOUD_ACCESS_TOKEN_FILE": str(token_file),
        },
        "Cloud app token too short": {
            **cloud,
            "WA_CLOUD_ACCESS_TOKEN": secret.cloud_token,
            "WA_CLOUD_APP_TOKEN": secret.short_key,
        },
        "Cloud token on an On-Premises target": {
            **target,
            "WA_API_KEY": secret.key,
            "WATCHDOG_CONFIG_FILE": str(onprem_with_token),
        },
    }


def shown_configurations(secret: Secrets, workdir: Path) -> dict[str, dict[str, str]]:
    """Valid configurations that only `watchdog config` prints: secrets in other places."""
    yaml_file = workdir / "good.yaml"
    yaml_file.write_text(
        f"api_key: {secret.key}\n"
        f"web_username: {USER}\n"
        f"web_password: {secret.password}\n"
        f"alertmanager_urls: ['https://{AM_USER}:{secret.am_password}@am.example/x"
        f"?token={secret.query_token}']\n"
        f"webhook_urls: ['https://hooks.example.com/services/{secret.hook_token}']\n"
        "targets: [{name: prod, url: 'https://wa.example'}]\n"
    )
    cloud_yaml = workdir / "cloud.yaml"
    cloud_yaml.write_text(
        f"cloud_access_token: {secret.cloud_token}\n"
        f"cloud_app_token: '{secret.app_token}'\n"
        f"targets: [{{name: shop, kind: cloud, phone_number_id: '{NUMBER}'}}]\n"
    )
    return {
        "YAML file with inline secrets": {"WATCHDOG_CONFIG_FILE": str(yaml_file)},
        "YAML file with inline Cloud tokens": {"WATCHDOG_CONFIG_FILE": str(cloud_yaml)},
        "Cloud tokens in the environment": {
            "WATCHDOG_CLOUD_TARGETS": f"shop={NUMBER}:{WABA}",
            "WA_CLOUD_ACCESS_TOKEN": secret.cloud_token,
            "WA_CLOUD_APP_TOKEN": secret.app_token,
        },
        "query token in an Alertmanager URL": {
            "WATCHDOG_TARGETS": "prod=https://wa.example",
            "WA_API_KEY": secret.key,
            "WATCHDOG_ALERTMANAGER_URLS": f"https://am.example/x?token={secret.query_token}",
            "WATCHDOG_WEBHOOK_URLS": f"https://hooks.example.com/x?token={secret.query_token}",
        },
    }


def test_no_secret_reaches_any_output(tmp_path: Path) -> None:
    """Through every scenario, a key rotation, refused logins and deliveries, bad configs: no
    secret (nor its Basic-auth form, nor an issued token) in logs, pages, CLI output or errors."""
    secret = Secrets()
    collected = Collected()
    key_file = tmp_path / "wa-api-key"
    key_file.write_text(secret.key + "\n")
    with ExitStack() as stack:
        # -- the API: one simulator per scenario, one switched through all of them, one whose
        #    key opens health only (bearer login with the password), one refusing that login.
        simulators: dict[str, Simulated] = {}
        for index, scenario in enumerate(Scenario):
            topology = Topology.HA if index % 2 else Topology.SINGLE
            simulators[f"sc-{scenario.value}"] = start_simulator(
                stack, secret, scenario=scenario, topology=topology
            )
        simulators["switched"] = start_simulator(stack, secret)
        simulators["scoped"] = start_simulator(stack, secret, key_scope=KeyScope.HEALTH_ONLY)
        simulators["refused-login"] = start_simulator(
            stack, secret, key_scope=KeyScope.HEALTH_ONLY, users={USER: "Not-the-passw0rd!"}
        )
        # -- Graph: one simulator per scenario with the inline token, one for a token_expired
        #    phase, one whose token is in the target's own file, one echoing what it is sent.
        graphs: dict[str, Graphed] = {}
        for graph_scenario in GraphScenario:
            graphs[f"cl-{graph_scenario.value}"] = start_graph(
                stack, secret, token=secret.cloud_token, scenario=graph_scenario
            )
        graphs["cl-switched"] = start_graph(stack, secret, token=secret.cloud_token)
        cloud_token_file = tmp_path / "wa-cloud-token"
        cloud_token_file.write_text(secret.cloud_file_token + "\n")
        graphs["cl-file"] = replace(
            start_graph(stack, secret, token=secret.cloud_file_token), token_file=cloud_token_file
        )
        echo = EchoGraph()
        stack.enter_context(echo.server)
        graphs["cl-echo"] = Graphed(None, echo.server.url)
        target_names = [*simulators, *graphs]
        # -- alert receivers: failing first, then accepting; and dead ones (a closed port).
        alertmanager = Receiver(failures=2, status=503)
        webhook = Receiver(failures=2, status=500)
        stack.enter_context(alertmanager.server)
        stack.enter_context(webhook.server)
        am_base = alertmanager.server.url.replace("://", f"://{AM_USER}:{secret.am_password}@")
        dead = f"127.0.0.1:{free_port()}"
        port = free_port()
        env = {
            **base_env(),
            **FAST,
            "WATCHDOG_CONFIG_FILE": str(targets_file(tmp_path, simulators, graphs)),
            "WA_API_KEY_FILE": str(key_file),
            "WA_CLOUD_ACCESS_TOKEN": secret.cloud_token,
            "WA_CLOUD_APP_TOKEN": secret.app_token,
            "WATCHDOG_AUTH_MODE": "auto",
            "WA_WEB_USERNAME": USER,
            "WA_WEB_PASSWORD": secret.password,
            "WATCHDOG_ALERTMANAGER_URLS": (
                f"{am_base}/am-prefix,http://{AM_USER}:{secret.am_password}@{dead}/am"
            ),
            "WATCHDOG_WEBHOOK_URLS": (
                f"{webhook.server.url}/hooks/{secret.hook_token},"
                f"http://{dead}/hooks/{secret.dead_hook_token}"
            ),
            "WATCHDOG_LISTEN": f"127.0.0.1:{port}",
            "WATCHDOG_LOG_LEVEL": "debug",
            "WATCHDOG_LOG_FORMAT": "json",
        }
        stdout_path, stderr_path = tmp_path / "run.stdout", tmp_path / "run.stderr"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "watchdog", "run"], env=env, stdout=out, stderr=err
            )
        stack.callback(_kill, process)
        client = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10))
        _wait(lambda: _answers(client, "/readyz"), "watchdog run ready", 30)
        # Graph took the tokens: the number, the WABA and debug_token (with the app token).
        _wait(lambda: _polls_ok(client, "cl-healthy") and _polls_ok(client, "cl-file"),
              "Cloud polls with the tokens", 15)  # fmt: skip
        collect_pages(client, target_names, collected)

        # -- every scenario, switched at run time
        switched = simulators["switched"].url
        for scenario in Scenario:
            response = httpx.post(f"{switched}/_sim/scenario", json={"scenario": scenario.value})
            response.raise_for_status()
            time.sleep(STEP)
        httpx.post(f"{switched}/_sim/scenario", json={"scenario": "healthy"}).raise_for_status()
        collect_pages(client, target_names, collected)

        # -- `watchdog check` and `watchdog config` while all that is going on
        check_env = {k: v for k, v in env.items() if k != "WATCHDOG_LISTEN"}
        checked = run_cli(["check", "--json"], check_env)
        assert checked.returncode == 2, checked.stderr[-2000:]  # critical: some targets are down
        collected.add("watchdog check --json (stdout)", checked.stdout)
        collected.add("watchdog check --json (stderr)", checked.stderr)
        table = run_cli(["check"], {**check_env, "WATCHDOG_LOG_FORMAT": "console"})
        collected.add("watchdog check (stdout)", table.stdout)
        collected.add("watchdog check (stderr)", table.stderr)
        config = run_cli(["config"], check_env)
        assert config.returncode == 0, config.stderr
        collected.add("watchdog config (stdout)", config.stdout)
        collected.add("watchdog config (stderr)", config.stderr)

        # -- key rotation: the API first (401s, WhatsAppAuthRejected), then the key file; at the
        #    same time a Cloud token expires (190/463, WhatsAppAuthRejected too).
        for simulated in simulators.values():
            httpx.post(f"{simulated.url}/_sim/auth", json={"api_key": secret.rotated_key})
        switched_graph = graphs["cl-switched"].url
        httpx.post(f"{switched_graph}/_sim/scenario", json={"scenario": "token_expired"})
        _wait(lambda: _alert_firing(client, "WhatsAppAuthRejected", "switched"),
              "401s alerted", 15)  # fmt: skip
        _wait(lambda: _alert_firing(client, "WhatsAppAuthRejected", "cl-switched"),
              "the expired token alerted", 25)  # fmt: skip
        collect_pages(client, target_names, collected)

        # A key file the watchdog must refuse (too long), then the new key.
        def refusals() -> int:
            return stdout_path.read_text(errors="replace").count("api_key_file_unreadable")

        def token_refusals() -> int:
            return stdout_path.read_text(errors="replace").count("access_token_file_unreadable")

        refused_before, token_refused_before = refusals(), token_refusals()
        key_file.write_text(secret.long_key + "\n")
        # A Cloud token file being rewritten: two tokens with a space between them.
        cloud_token_file.write_text(f"{secret.cloud_file_token} {secret.rotated_cloud_token}\n")
        # The refusal is read at a poll: wait for its log line, then write the good key.
        _wait(lambda: refusals() > refused_before, "the refused key file logged", 15)
        _wait(lambda: token_refusals() > token_refused_before, "the refused token logged", 25)
        key_file.write_text(secret.rotated_key + "\n")
        # Meta issued a new token: Graph takes only that one, and the file gets it.
        file_graph = graphs["cl-file"].deployment
        assert file_graph is not None
        file_graph.config.token = secret.rotated_cloud_token
        cloud_token_file.write_text(secret.rotated_cloud_token + "\n")
        httpx.post(f"{switched_graph}/_sim/scenario", json={"scenario": "healthy"})
        _wait(lambda: _polls_ok(client, "switched"), "the rotated key in use", 15)
        _wait(lambda: _polls_ok(client, "cl-file"), "the rotated token in use", 25)
        # The resolution is one of the paths swept: wait for it rather than hope it came.
        for resolved in ("switched", "cl-switched"):
            _wait(lambda: _alert_resolved(client, "WhatsAppAuthRejected", resolved),  # noqa: B023
                  f"{resolved}: auth failures resolved", 30)  # fmt: skip
        _wait(lambda: alertmanager.requests[2:] != [] and webhook.requests[2:] != [],
              "deliveries past the failures", 30)  # fmt: skip
        collect_pages(client, target_names, collected)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    collected.add("watchdog run (stdout)", stdout_path.read_text(errors="replace"))
    collected.add("watchdog run (stderr)", stderr_path.read_text(errors="replace"))
    for body in alertmanager.bodies:
        collected.add("alerts POSTed to Alertmanager", body)
    for body in webhook.bodies:
        collected.add("alerts POSTed to the webhook", body)

    # -- configurations refused at start
    for what, bad in bad_configurations(secret, tmp_path).items():
        refused = run_cli(["run"], {**base_env(), **bad})
        assert refused.returncode == 2, (what, refused.stdout[-500:], refused.stderr[-500:])
        assert refused.stderr.startswith("configuration error:"), (what, refused.stderr)
        collected.add(f"bad config: {what} (stderr)", refused.stderr)
        collected.add(f"bad config: {what} (stdout)", refused.stdout)
        shown = run_cli(["config"], {**base_env(), **bad})
        collected.add(f"watchdog config, bad config: {what}", shown.stdout + shown.stderr)

    for what, shown_env in shown_configurations(secret, tmp_path).items():
        shown = run_cli(["config"], {**base_env(), **shown_env})
        assert shown.returncode == 0, (what, shown.stderr)
        collected.add(f"watchdog config, {what}", shown.stdout + shown.stderr)

    # The secrets were really used, so their absence means something.
    tokens = [t for s in simulators.values() for t in s.recorder.tokens]
    assert tokens, "no bearer login happened"
    am_basic = base64.b64encode(f"{AM_USER}:{secret.am_password}".encode()).decode()
    assert {auth for _, auth in alertmanager.requests} == {f"Basic {am_basic}"}
    assert all(path == "/am-prefix/api/v2/alerts" for path, _ in alertmanager.requests)
    assert {path for path, _ in webhook.requests} == {f"/hooks/{secret.hook_token}"}
    log = collected.outputs["watchdog run (stdout)"] + collected.outputs["watchdog run (stderr)"]
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert {e["level"] for e in events} >= {"debug", "info", "warning"}
    names = {e["event"] for e in events}
    # The paths that handle secrets ran: logins (refused too), key rotation and a refused key
    # file, deliveries that succeeded, were refused, and could not connect.
    assert {"bearer_login", "bearer_login_failed", "apikey_refused_using_bearer",
            "api_key_file_unreadable", "notification_sent", "notification_failed",
            "alert_firing", "alert_resolved", "access_token_file_unreadable",
            "access_token_reloaded"} <= names  # fmt: skip
    failed = [e for e in events if e["event"] == "notification_failed"]
    assert {(e["sink"], "status" in e) for e in failed} == {
        ("alertmanager", True), ("alertmanager", False), ("webhook", True), ("webhook", False)
    }  # fmt: skip
    fired = {e["alertname"] for e in events if e["event"] == "alert_firing"}
    assert fired >= {"WhatsAppAuthRejected", "WhatsAppOverloaded", "WhatsAppUnreachable",
                     "WhatsAppGatewayDown", "WhatsAppNotRegistered", "WhatsAppCloudBlocked",
                     "WhatsAppCloudLimited", "WhatsAppTokenExpiring"}  # fmt: skip
    # The echoing Graph got the tokens, and the watchdog alerted on what it answered.
    assert {f"Bearer {secret.cloud_token}", f"Bearer {secret.app_token}"} <= echo.authorizations
    assert ("WhatsAppAuthRejected", "cl-echo") in {
        (e["alertname"], e.get("target")) for e in events if e["event"] == "alert_firing"
    }
    assert "********" in collected.outputs["watchdog config (stdout)"]

    leaks = [
        f"{name} in {where}: ...{text[max(0, at - 60) : at + len(value) + 20]!r}..."
        for where, text in collected.outputs.items()
        for name, value in secret.forms(tokens).items()
        if (at := text.find(value)) != -1
    ]
    assert leaks == []


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def _answers(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.TransportError:
        return False


def _alert_in(client: httpx.Client, alertname: str, target: str, state: str) -> bool:
    alerts = client.get("/api/v1/alerts").json()["alerts"]
    return any(
        a["labels"]["alertname"] == alertname
        and a["labels"]["target"] == target
        and a["state"] == state
        for a in alerts
    )


def _alert_firing(client: httpx.Client, alertname: str, target: str) -> bool:
    return _alert_in(client, alertname, target, "firing")


def _alert_resolved(client: httpx.Client, alertname: str, target: str) -> bool:
    return _alert_in(client, alertname, target, "resolved")


def _polls_ok(client: httpx.Client, target: str) -> bool:
    status = client.get("/api/v1/status").json()
    [entry] = [t for t in status["targets"] if t["name"] == target]
    return all(e["ok"] for name, e in entry["endpoints"].items() if name != "health")


def _wait(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout:g}s waiting for {what}"
        time.sleep(0.1)
