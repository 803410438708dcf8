"""ApiClient against the simulator (and a few raw sockets) over real loopback connections."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.integration.conftest import API_KEY, PASSWORD, USER, MakeSim, SharedSim, Sim
from watchdog.api.endpoints import Endpoint
from watchdog.api.results import observe
from watchdog.base.targets import Target
from watchdog.poll.client import ApiClient, AuthMode
from watchdog.simulator import Scenario, Topology

pytestmark = pytest.mark.anyio

NEW_KEY = "rotated-simulator-key-0123456789abcdef"
TIMEOUT = 0.3
# The On-Premises endpoints: the ones the simulator here serves and ApiClient polls.
ONPREM = [e for e in Endpoint if e.spec.kind == "onprem"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def target(url: str, **overrides: Any) -> Target:
    fields: dict[str, Any] = {"name": "sim", "url": url, "api_key": API_KEY, "timeout": 2.0}
    fields.update(overrides)
    return Target(**{k: v for k, v in fields.items() if v is not None})


def api_client(sim: Sim, *, auth_mode: AuthMode = "apikey", **overrides: Any) -> ApiClient:
    """A client of the simulator on the simulator's fake clock."""
    return ApiClient(target(sim.server.url, **overrides), auth_mode=auth_mode, clock=sim.clock)


def logins(logs: list[Any]) -> int:
    return sum(1 for e in logs if e["event"] == "bearer_login")


@pytest.mark.parametrize("topology", list(Topology))
async def test_apikey_polls_every_endpoint_with_reference_shapes(
    shared: SharedSim, topology: Topology
) -> None:
    """With the key, all four endpoints answer ok and each body has the reference's shape."""
    sim = shared(topology)
    async with api_client(sim) as c:
        results = {e: await c.poll(e) for e in ONPREM}
    for endpoint, result in results.items():
        assert result.ok, (endpoint, result)
        assert result.status_code == 200
        assert set(result.body) >= {"meta"}
        assert {"version", "api_status"} <= set(result.body["meta"])
        assert observe(result).ok, (endpoint, observe(result).result.detail)
    health = results[Endpoint.HEALTH].body["health"]
    if topology is Topology.SINGLE:
        assert set(health) == {"gateway_status"}
    else:
        assert all({"gateway_status", "role"} <= set(node) for node in health.values())
    families = results[Endpoint.METRICS].body["metrics"]
    assert families
    assert all({"type", "help", "data"} <= set(f) for f in families.values())
    assert set(results[Endpoint.STATS_APP].body["stats"]) == {"app"}
    assert set(results[Endpoint.STATS_DB].body["stats"]) == {"db"}


async def test_overloaded_is_http_503_with_1016(shared: SharedSim) -> None:
    """The overloaded scenario gives `http_503` with api_error 1016 and a readable detail."""
    sim = shared(Topology.SINGLE)
    sim.set_scenario(Scenario.OVERLOADED)
    async with api_client(sim) as c:
        result = await c.poll(Endpoint.STATS_APP)
    assert result.reason == "http_503"
    assert result.api_error is not None
    assert result.api_error.code == 1016
    assert (
        result.detail == "HTTP 503 System overloaded (1016): System overloaded. Please retry later"
    )


async def test_rate_limited_health_is_http_429_with_1015(shared: SharedSim) -> None:
    """With the health budget used up by other callers, health polls fail `http_429`/1015."""
    sim = shared(Topology.SINGLE)
    sim.set_scenario(Scenario.RATE_LIMITED)
    async with api_client(sim) as c:
        result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "http_429"
    assert result.api_error is not None
    assert result.api_error.code == 1015


async def test_wrong_key_is_http_401_with_1005(shared: SharedSim) -> None:
    """A key the API does not know gives `http_401` with api_error 1005, key not in detail."""
    sim = shared(Topology.SINGLE)
    wrong = "not-the-right-key-0123456789"
    async with api_client(sim, api_key=wrong) as c:
        result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "http_401"
    assert result.api_error is not None
    assert result.api_error.code == 1005
    assert wrong not in result.detail


async def test_health_only_key_in_auto_mode_reads_metrics_with_bearer(make_sim: MakeSim) -> None:
    """A health-only key in auto mode: metrics and stats via one bearer login, health by key."""
    sim = make_sim()
    sim.admin_auth(key_scope="health_only")
    with capture_logs() as logs:
        async with api_client(sim, auth_mode="auto", username=USER, password=PASSWORD) as c:
            metrics = await c.poll(Endpoint.METRICS)
            again = await c.poll(Endpoint.METRICS)
            stats = await c.poll(Endpoint.STATS_APP)
            health = await c.poll(Endpoint.HEALTH)
    assert metrics.ok, metrics
    assert again.ok
    assert stats.ok
    assert health.ok
    switched = [e for e in logs if e["event"] == "apikey_refused_using_bearer"]
    assert [e["endpoint"] for e in switched] == ["metrics", "stats_app"]
    assert logins(logs) == 1


async def test_health_only_key_in_apikey_mode_is_http_403(make_sim: MakeSim) -> None:
    """In apikey mode a key refused on /metrics is `http_403` (1005)."""
    sim = make_sim()
    sim.admin_auth(key_scope="health_only")
    async with api_client(sim) as c:
        result = await c.poll(Endpoint.METRICS)
    assert result.reason == "http_403"
    assert result.api_error is not None
    assert result.api_error.code == 1005


async def test_bearer_with_short_token_lifetime_renews_without_failed_polls(
    make_sim: MakeSim,
) -> None:
    """Tokens living 100 s are renewed before they expire: every poll over 300 s succeeds."""
    sim = make_sim(token_lifetime=100.0, token_leeway=0.0)
    with capture_logs() as logs:
        async with api_client(sim, auth_mode="bearer", username=USER, password=PASSWORD) as c:
            results = []
            for _ in range(10):
                results.append(await c.poll(Endpoint.METRICS))
                sim.clock.advance(30)
            sim.clock.advance(500)  # long past expiry: renewed before the request goes out
            results.append(await c.poll(Endpoint.METRICS))
    assert all(r.ok for r in results), [r.detail for r in results if not r.ok]
    # Logged in at 0 s, then with 10 s left at 90, 180 and 270 s, and after the long pause.
    assert logins(logs) == 5
    assert not [e for e in logs if e["event"] == "bearer_token_refused"]


async def test_concurrent_bearer_polls_log_in_once(make_sim: MakeSim) -> None:
    """Four endpoints polled at once share one login."""
    sim = make_sim()
    with capture_logs() as logs:
        async with api_client(sim, auth_mode="bearer", username=USER, password=PASSWORD) as c:
            results = await asyncio.gather(*(c.poll(e) for e in ONPREM))
    assert all(r.ok for r in results)
    assert logins(logs) == 1


@pytest.mark.parametrize("order", ["server_first", "file_first"])
async def test_key_rotation_costs_at_most_one_failed_poll(
    make_sim: MakeSim, tmp_path: Path, order: str
) -> None:
    """Rotating the API's key and the key file, in either order, fails at most one poll."""
    sim = make_sim()
    key_file = tmp_path / "wa_api_key"
    key_file.write_text(f"{API_KEY}\n")
    async with api_client(sim, api_key=None, api_key_file=key_file) as c:
        results = [await c.poll(Endpoint.METRICS)]
        for step in ("server", "file") if order == "server_first" else ("file", "server"):
            if step == "server":
                assert sim.admin_auth(api_key=NEW_KEY).status_code == 200
            else:
                key_file.write_text(f"{NEW_KEY}\n")
            results.append(await c.poll(Endpoint.METRICS))
        results.append(await c.poll(Endpoint.METRICS))
    failed = [r for r in results if not r.ok]
    assert len(failed) <= 1
    assert all(r.reason == "http_401" for r in failed)
    assert results[0].ok
    assert results[-1].ok


async def test_malformed_answer_is_decode(shared: SharedSim) -> None:
    """A truncated JSON body (malformed scenario) is `decode`."""
    sim = shared(Topology.SINGLE)
    sim.set_scenario(Scenario.MALFORMED)
    async with api_client(sim) as c:
        result = await c.poll(Endpoint.METRICS)
    assert result.reason == "decode"
    assert result.status_code == 200


async def test_slow_answer_beyond_timeout_is_timeout(make_sim: MakeSim) -> None:
    """An answer slower than the target's timeout ends as `timeout` at about the timeout."""
    sim = make_sim(slow_delay=1.0)
    sim.set_scenario(Scenario.SLOW)
    async with api_client(sim, timeout=TIMEOUT) as c:
        result = await c.poll(Endpoint.STATS_APP)
    assert result.reason == "timeout"
    assert result.detail == "timed out after 300ms"
    assert result.duration < 0.9


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused_is_connect() -> None:
    """A closed port is `connect` with detail `connection refused`."""
    async with ApiClient(target(f"http://127.0.0.1:{_closed_port()}")) as c:
        result = await c.poll(Endpoint.HEALTH)
    assert (result.reason, result.detail) == ("connect", "connection refused")


async def test_https_to_plain_http_is_tls(shared: SharedSim) -> None:
    """`https://` to the plain-HTTP simulator fails the handshake: `tls`."""
    sim = shared(Topology.SINGLE)
    url = sim.server.url.replace("http://", "https://")
    async with ApiClient(target(url)) as c:
        result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "tls"
    assert result.detail.startswith("TLS: ")


async def test_unresolvable_host_is_dns() -> None:
    """A host under `.invalid` (never resolvable, RFC 2606) is `dns`."""
    async with ApiClient(target("http://wa-watchdog-test.invalid")) as c:
        result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "dns"
    assert "wa-watchdog-test.invalid" in result.detail


@asynccontextmanager
async def serving(handler: Any) -> AsyncIterator[str]:
    """A raw TCP server on loopback for answers the simulator cannot give; yields its URL."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_trickled_body_ends_at_the_overall_deadline() -> None:
    """Headers, then one byte every 100 ms: no single read times out, the deadline does."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: 1000\r\n\r\n")
        try:
            for _ in range(100):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.1)
                if reader.at_eof():  # the client gave up
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()

    async with serving(trickle) as url, ApiClient(target(url, timeout=TIMEOUT)) as c:
        result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "timeout"
    assert result.duration < 1.0


async def test_connection_closed_mid_answer_is_protocol() -> None:
    """A server that closes the connection before answering is a `protocol` failure."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async with serving(hang_up) as url, ApiClient(target(url)) as c:
        result = await c.poll(Endpoint.HEALTH)
    assert result.reason == "protocol"


async def test_idle_connections_are_dropped_before_the_server_drops_them() -> None:
    """Polls in quick succession share a connection; one 2.5 s later opens a new one, so a
    server that closes idle connections after 5 s (uvicorn) never gets a request on a
    connection it is closing at that moment ("Server disconnected", a false failure)."""
    connections: list[int] = []
    body = b'{"health": {"gateway_status": "connected"}, "meta": {"version": "v2.45.1"}}'

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(0)
        try:
            while True:  # keep-alive, until the client leaves or 10 s of quiet
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
                connections[-1] += 1
                head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                head += f"Content-Length: {len(body)}\r\n\r\n"
                writer.write(head.encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, ApiClient(target(f"http://127.0.0.1:{port}")) as client:
        first = await client.poll(Endpoint.HEALTH)
        second = await client.poll(Endpoint.HEALTH)
        # Half of uvicorn's 5 s idle timeout: by then the client must have let go.
        await asyncio.sleep(2.5)
        third = await client.poll(Endpoint.HEALTH)
    assert [r.reason for r in (first, second, third)] == [None, None, None]
    assert connections == [2, 1]
