"""Running an ASGI app with uvicorn: in the foreground until a signal, or in a thread.

Shared by the watchdog's own server, `watchdog demo`, `watchdog simulate` and the tests.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any, Literal, Self

import uvicorn
from starlette.types import ASGIApp

from watchdog.base.log import get_logger
from watchdog.web.tls import TlsConfig

log = get_logger(__name__)

Lifespan = Literal["on", "off"]


def bind(host: str, port: int, *, fallback_to_free_port: bool = False) -> socket.socket:
    """A bound socket for a server; with `fallback_to_free_port`, any free port if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto is
    # IPPROTO_TCP (not 0), and without it keep-alive answers stall ~40 ms on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        if not fallback_to_free_port:
            sock.close()
            raise
        sock.bind((host, 0))
    return sock


def _config(
    app: ASGIApp, lifespan: Lifespan, access_log: bool, tls: ssl.SSLContext | None = None
) -> uvicorn.Config:
    # log_config=None leaves logging to watchdog.base.log, so uvicorn's lines are redacted too.
    options: dict[str, Any] = {
        "log_config": None,
        "access_log": access_log,
        "lifespan": lifespan,
        "timeout_graceful_shutdown": 20,
    }
    if tls is not None:
        return TlsConfig(app, ssl_context=tls, **options)
    return uvicorn.Config(app, **options)


class GracefulServer(uvicorn.Server):
    """uvicorn, except that SIGTERM/SIGINT end the process with exit code 0.

    uvicorn re-raises the captured signal after its graceful shutdown, so the process would
    end "killed by SIGTERM"; for a daemon its supervisor asked to stop, 0 is the right answer.

    The signal handler only sets flags: Python runs it in the main thread between two
    bytecodes, possibly inside a log call that holds the (non-reentrant) output lock, where a
    log call of its own would wait for that lock forever. `shutdown_requested` is logged from
    the event loop instead, as shutdown begins.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        # Written by the signal handler; read, and the event logged, on the event loop.
        self._shutdown_signal: int | None = None
        self._shutdown_logged = False

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(signum: int, _: FrameType | None) -> None:
            # Flags only: no logging, no locks, no allocation (see the class docstring).
            if self.should_exit and signum == signal.SIGINT:
                self.force_exit = True
            if self._shutdown_signal is None:
                self._shutdown_signal = signum
            self.should_exit = True

        originals = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)
            # Still on the loop: a signal that came too late for `shutdown` is logged here.
            self._log_shutdown_request()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn calls this on the loop right after `main_loop` sees `should_exit` (or right
        # after startup, if the signal came during it).
        self._log_shutdown_request()
        await super().shutdown(sockets=sockets)

    def _log_shutdown_request(self) -> None:
        signum = self._shutdown_signal
        if signum is None or self._shutdown_logged:
            return
        self._shutdown_logged = True
        log.info("shutdown_requested", signal=signal.Signals(signum).name)


def serve(
    app: ASGIApp,
    sock: socket.socket,
    *,
    lifespan: Lifespan = "on",
    access_log: bool = False,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Serve `app` on `sock` in the foreground until SIGTERM/SIGINT; returns after shutdown.

    With `tls` (e.g. `watchdog.web.tls.ServerTls.context`) it serves HTTPS only."""
    GracefulServer(_config(app, lifespan, access_log, tls)).run(sockets=[sock])


class BackgroundServer:
    """An ASGI app on a free loopback port in a daemon thread; a context manager."""

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        lifespan: Lifespan = "off",
        name: str = "wa-background-server",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._sock = bind(host, port)
        self.host, self.port = self._sock.getsockname()[:2]
        self._scheme = "http" if tls is None else "https"
        self._server = uvicorn.Server(_config(app, lifespan, access_log=False, tls=tls))
        # uvicorn installs signal handlers only on the main thread, so the owner of this
        # object decides when the thread stops.
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name=name
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self._scheme}://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> Self:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("background server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
