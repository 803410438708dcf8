"""Small misbehaving servers for the fault matrix: faults the simulator cannot produce.

A `FaultServer` is a tiny HTTP/1.1 server on a loopback port (plain or TLS) that answers like a
single-instance WhatsApp Webapp — healthy bodies come from a simulator `Deployment`, errors use
the API's envelope — except where it is told to misbehave:

- per path (`PathFault`): no answer at all, headers then a stalled body, a hang-up, an error
  status, broken JSON, JSON of the wrong shape, a body over the size cap;
- per connection (`Door`): refused (the port is bound but not listening), connect timeout (a
  listening socket whose accept backlog is full and which never accepts), plain HTTP spoken on
  an `https://` URL, a certificate from a CA the watchdog does not trust.

`heal()` removes every fault at once; from then on the server answers healthily. All servers
share one asyncio loop in a daemon thread (`LoopThread`), apart from the watchdog's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar

import trustme

from watchdog.simulator import Deployment
from watchdog.simulator.errors import (
    INVALID_CREDENTIALS,
    NO_PERMISSION,
    OVERLOADED,
    PATH_NOT_FOUND,
    REQUEST_RATE_LIMITED,
    ApiError,
    coreapp_unreachable,
    envelope,
)

T = TypeVar("T")

# The watchdog's body cap (watchdog.poll.client.DEFAULT_MAX_BODY_BYTES); a larger body is refused.
OVER_THE_CAP = 16 * 1024 * 1024 + 1
# How long a stalling handler waits for the client to give up before closing by itself.
STALL_LIMIT = 30.0
_MAX_HEAD = 64 * 1024


class PathFault(StrEnum):
    """How a server misbehaves on one path; every other path answers healthily."""

    READ_TIMEOUT = "read_timeout"  # reads the request, never answers
    STALLED_BODY = "stalled_body"  # status line, headers and a few bytes, then nothing
    HANG_UP = "hang_up"  # reads the request, closes the connection without an answer
    HTTP_500 = "http_500"  # 500/1014: the Webapp cannot reach the Coreapp
    HTTP_503 = "http_503"  # 503/1016 System overloaded
    HTTP_429 = "http_429"  # 429/1015 on every request: a storm
    HTTP_401 = "http_401"  # 401/1005: the key is refused
    HTTP_403 = "http_403"  # 403/1005: the key is not allowed here
    MALFORMED = "malformed"  # 200 with the healthy body cut in half
    WRONG_SHAPE = "wrong_shape"  # 200 with JSON the API never produces
    TOO_LARGE = "too_large"  # 200 announcing a body over the watchdog's cap


class Door(StrEnum):
    """How a server treats connections, before any request is read."""

    OPEN = "open"
    REFUSED = "refused"  # bound but not listening: the kernel answers RST
    BACKLOG_FULL = "backlog_full"  # listen(0), backlog filled, never accepts: SYNs are dropped
    PLAIN_ON_HTTPS = "plain_on_https"  # a TLS target speaking plain HTTP: the handshake fails
    UNTRUSTED_CERT = "untrusted_cert"  # TLS with a certificate from an untrusted CA


ERRORS: dict[PathFault, ApiError] = {
    PathFault.HTTP_500: coreapp_unreachable("10.0.0.7:6250"),
    PathFault.HTTP_503: OVERLOADED,
    PathFault.HTTP_429: REQUEST_RATE_LIMITED,
    PathFault.HTTP_401: INVALID_CREDENTIALS,
    PathFault.HTTP_403: NO_PERMISSION,
}


class LoopThread:
    """An asyncio event loop running in a daemon thread; coroutines are submitted to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, daemon=True, name="fault-servers"
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def cancel_all() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@dataclass(frozen=True)
class Certificates:
    """Server TLS contexts: one certificate the watchdog trusts, one it does not."""

    ca_file: Path  # the CA bundle to give the watchdog (WATCHDOG_TLS_CA_FILE)
    trusted: ssl.SSLContext
    untrusted: ssl.SSLContext

    @classmethod
    def create(cls, directory: Path) -> Certificates:
        trusted_ca, untrusted_ca = trustme.CA(), trustme.CA()
        ca_file = directory / "trusted-ca.pem"
        trusted_ca.cert_pem.write_to_path(str(ca_file))

        def context(ca: trustme.CA) -> ssl.SSLContext:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
            return ctx

        return cls(ca_file, context(trusted_ca), context(untrusted_ca))


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    headers: dict[str, str]


class FaultServer:
    """One misbehaving Webapp on a loopback port; see the module docstring."""

    def __init__(
        self,
        loops: LoopThread,
        deployment: Deployment,
        api_key: str,
        *,
        door: Door = Door.OPEN,
        faults: dict[str, PathFault] | None = None,
        certificates: Certificates | None = None,
    ) -> None:
        if door in (Door.PLAIN_ON_HTTPS, Door.UNTRUSTED_CERT) and certificates is None:
            raise ValueError(f"door {door} needs certificates")
        self._loops = loops
        self.deployment = deployment
        self._authorization = f"Apikey {api_key}"
        self.door = door
        # Path -> fault; read by the server's loop, replaced as a whole by `heal`.
        self.faults: dict[str, PathFault] = dict(faults or {})
        self._certificates = certificates
        self._server: asyncio.Server | None = None
        self._fillers: list[socket.socket] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]

    @property
    def url(self) -> str:
        scheme = "https" if self._certificates is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> FaultServer:
        if self.door is Door.REFUSED:
            return self  # bound, not listening: every connection attempt is refused
        if self.door is Door.BACKLOG_FULL:
            self._fillers = _fill_backlog(self._sock, self.port)
            return self
        self._serve()
        return self

    def heal(self) -> None:
        """Remove every fault: answer every path healthily, over a trusted TLS if TLS."""
        self.faults = {}
        self.door = Door.OPEN
        for filler in self._fillers:
            filler.close()
        self._fillers = []
        if self._server is None:
            self._serve()

    def stop(self) -> None:
        for filler in self._fillers:
            filler.close()
        if self._server is not None:
            server = self._server

            async def close() -> None:
                server.close()
                # Handlers of connections still open are cancelled when the loop stops.

            self._loops.run(close())
        self._sock.close()

    def _serve(self) -> None:
        async def start() -> asyncio.Server:
            # start_server listens on the bound socket (backlog 100) and starts accepting.
            return await asyncio.start_server(self._connection, sock=self._sock, limit=_MAX_HEAD)

        self._server = self._loops.run(start())

    # -- connections -----------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self._certificates is not None:
                if self.door is Door.PLAIN_ON_HTTPS:
                    await _answer_plain_http_to_tls(reader, writer)
                    return
                ctx = (
                    self._certificates.untrusted
                    if self.door is Door.UNTRUSTED_CERT
                    else self._certificates.trusted
                )
                await writer.start_tls(ctx, ssl_handshake_timeout=5)
            while await self._exchange(reader, writer):
                pass
        except (OSError, EOFError, ssl.SSLError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away, or failed the handshake: nothing to do
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection is to be closed."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        request = _parse(head)
        length = int(request.headers.get("content-length", "0") or 0)
        if length:
            await reader.readexactly(length)
        fault = self.faults.get(request.path)
        if fault is None:
            writer.write(self._healthy(request))
            await writer.drain()
            return True
        return await self._misbehave(fault, request, reader, writer)

    async def _misbehave(
        self,
        fault: PathFault,
        request: _Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        if fault is PathFault.HANG_UP:
            return False
        if fault is PathFault.READ_TIMEOUT:
            await _until_client_leaves(reader)
            return False
        if fault is PathFault.STALLED_BODY:
            writer.write(_head(200, {"Content-Type": "application/json", "Content-Length": "4096"}))
            writer.write(b'{"meta": {"version": "v2.45.1", ')
            await writer.drain()
            await _until_client_leaves(reader)
            return False
        if fault is PathFault.TOO_LARGE:
            length = str(OVER_THE_CAP)
            writer.write(_head(200, {"Content-Type": "application/json", "Content-Length": length}))
            writer.write(b'{"padding": "' + b"x" * 65536)
            await writer.drain()
            await _until_client_leaves(reader)
            return False
        if fault in ERRORS:
            error = ERRORS[fault]
            writer.write(_json(error.status, envelope(self.deployment.meta, error)))
        elif fault is PathFault.MALFORMED:
            body = self._body(request.path)
            writer.write(_response(200, body[: len(body) // 2]))
        elif fault is PathFault.WRONG_SHAPE:
            # JSON, but not an answer the API gives: a proxy's or another app's status object.
            writer.write(_json(200, {"status": "UP", "checks": [], "meta": self.deployment.meta}))
        else:
            raise AssertionError(f"unhandled fault {fault}")
        await writer.drain()
        return True

    def _healthy(self, request: _Request) -> bytes:
        if request.headers.get("authorization") != self._authorization:
            return _json(401, envelope(self.deployment.meta, INVALID_CREDENTIALS))
        if request.method != "GET" or request.path not in _PAYLOADS:
            return _json(404, envelope(self.deployment.meta, PATH_NOT_FOUND))
        return _response(200, self._body(request.path))

    def _body(self, path: str) -> bytes:
        d = self.deployment
        now = d.clock()
        payload: dict[str, Any]
        if path == "/v1/health":
            payload = {"health": d.health(now)}
        elif path == "/metrics":
            payload = {"metrics": d.metrics(now)}
        else:
            kind = _PAYLOADS[path]
            stats = d.stats_app(now) if kind == "app" else d.stats_db(now)
            payload = {"stats": {kind: stats}}
        return json.dumps({**payload, "meta": d.meta}).encode()


_PAYLOADS = {"/v1/health": "health", "/metrics": "metrics", "/v1/stats/app": "app",
             "/v1/stats/db": "db"}  # fmt: skip


def _parse(head: bytes) -> _Request:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return _Request(method, target.split("?", 1)[0], headers)


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _response(status: int, body: bytes) -> bytes:
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    return _head(status, headers) + body


def _json(status: int, document: Any) -> bytes:
    return _response(status, json.dumps(document).encode())


async def _until_client_leaves(reader: asyncio.StreamReader) -> None:
    """Wait (bounded) until the client closes its side: a stall ends when the client gives up."""
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(STALL_LIMIT):
            while await reader.read(4096):
                pass


async def _answer_plain_http_to_tls(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """What a plain HTTP server does with a TLS ClientHello: 400, then close."""
    await reader.read(4096)
    body = b"Bad Request"
    writer.write(_head(400, {"Content-Length": str(len(body)), "Connection": "close"}) + body)
    await writer.drain()


def _fill_backlog(sock: socket.socket, port: int) -> list[socket.socket]:
    """Make connecting to `port` time out: listen(0), then fill the accept queue.

    Only loopback may be used, so the classic unroutable address is out. A listening socket
    that never accepts holds `backlog + 1` completed connections (Linux); once that queue is
    full the kernel drops further SYNs, and a client's connect hangs until its timeout.
    """
    sock.listen(0)
    fillers: list[socket.socket] = []
    for _ in range(8):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.settimeout(0.2)
        try:
            filler.connect(("127.0.0.1", port))
        except TimeoutError:
            filler.close()
            return fillers  # the queue is full: this connect timed out
        fillers.append(filler)
    for filler in fillers:
        filler.close()
    raise RuntimeError("could not saturate the accept backlog: connect timeouts not emulated")
