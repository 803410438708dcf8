"""A webhook receiver for tests and benchmarks: records every JSON message POSTed to it.

One implementation for every place that needs to see what the watchdog's webhook sink sends
(end-to-end, integration and benchmark scripts alike), so they all read messages the same way.
Standard library only: benchmarks import it from a plain script, next to a busy watchdog.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["Received", "WebhookReceiver"]


@dataclass(frozen=True)
class Received:
    """One message as it arrived."""

    path: str
    body: Any
    at: float  # time.time() when it arrived

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """The alerts the message carries (Alertmanager's webhook shape)."""
        alerts: list[dict[str, Any]] = self.body.get("alerts", [])
        return alerts


class WebhookReceiver:
    """A receiver on a free loopback port: records every message, on any path, answers 200.

    `url` is the base URL: point the watchdog at `url + "/hook"` (or any path). `before_answer`,
    if given, runs for each message after it is recorded and before the answer goes out, so a
    test can hold an answer back (a slow receiver). Use it as a context manager.
    """

    def __init__(self, before_answer: Callable[[Received], None] | None = None) -> None:
        self._changed = threading.Condition()
        self._messages: list[Received] = []
        self._answered: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                message = Received(self.path, json.loads(self.rfile.read(length)), time.time())
                with receiver._changed:
                    receiver._messages.append(message)
                    receiver._changed.notify_all()
                if before_answer is not None:
                    before_answer(message)
                # Noted before the answer goes out: a sender may exit as soon as it has it.
                with receiver._changed:
                    receiver._answered.append(message)
                    receiver._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="webhook-receiver", daemon=True
        )

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def messages(self, path: str | None = None) -> list[Received]:
        """Every message received so far (on `path` only, if given), in arrival order."""
        with self._changed:
            return [m for m in self._messages if path is None or m.path == path]

    def answered(self) -> list[Received]:
        """The messages whose answer has gone out (or is going out), in that order."""
        with self._changed:
            return list(self._answered)

    def wait(self, check: Callable[[list[Received]], bool], timeout: float) -> bool:
        """Block until `check(messages so far)` holds (True) or `timeout` s pass (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: check(self._messages), timeout)
