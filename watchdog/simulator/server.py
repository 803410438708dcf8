"""Running the simulator: in the foreground (`watchdog simulate`) or in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Literal, Self

import uvicorn
from starlette.types import ASGIApp

from watchdog.simulator.app import create_app
from watchdog.simulator.deployment import Deployment


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto is
    # IPPROTO_TCP (not 0), and without it keep-alive answers stall ~40 ms on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _config(app: ASGIApp, *, access_log: bool, lifespan: Literal["on", "off"]) -> uvicorn.Config:
    # log_config=None leaves logging to the caller's configuration (watchdog.log).
    return uvicorn.Config(app, log_config=None, access_log=access_log, lifespan=lifespan)


def serve(deployment: Deployment, host: str, port: int, *, access_log: bool = True) -> None:
    """Serve the simulator in the foreground until interrupted."""
    sock = _bind(host, port)
    config = _config(create_app(deployment), access_log=access_log, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


class BackgroundServer:
    """An ASGI app on a free loopback port in a daemon thread; a context manager.

    The simulator uses it for `watchdog demo`; the test suite for real-socket tests of the
    simulator and of the watchdog's own server (with its lifespan on).
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        lifespan: Literal["on", "off"] = "off",
        name: str = "wa-background-server",
    ) -> None:
        self._sock = _bind(host, port)
        self.host, self.port = self._sock.getsockname()[:2]
        self._server = uvicorn.Server(_config(app, access_log=False, lifespan=lifespan))
        # uvicorn installs signal handlers only on the main thread, so the owner of this
        # object decides when the thread stops.
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name=name
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

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


class SimulatorServer(BackgroundServer):
    """The simulator of one deployment on a free loopback port in a daemon thread."""

    def __init__(self, deployment: Deployment, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(create_app(deployment), host, port, name="wa-simulator")
        self.deployment = deployment
