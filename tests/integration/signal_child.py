"""A child process for test_signal_shutdown: SIGTERM lands while a log line is being written.

``python signal_child.py WHERE`` configures `watchdog.base.log` on stdout through `TrippingStream`,
then serves a small app with `watchdog.web.serving.serve` in the main thread. The first line that
contains `MARK` raises SIGTERM from inside the stream's ``write`` — while structlog's per-stream
lock is held — and `signal.raise_signal` runs the Python signal handler before it returns, so
the handler always runs with the lock taken. WHERE says which log call writes the marked line:

- ``startup``: a structlog call in the app's lifespan startup (the signal comes before uvicorn's
  main loop runs);
- ``structlog`` / ``stdlib``: a structlog or stdlib ``logging`` call in ``GET /mark``, while the
  server is up.

The chosen port is printed to stderr as ``port=N``, and ``raised_inside_write`` once the signal
handler has returned inside ``write``.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TextIO, cast

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from watchdog.base.log import configure_logging, get_logger
from watchdog.web.serving import bind, serve

MARK = "signal-child-marked-line"


class TrippingStream:
    """Passes writes to *inner*; the first write of a line containing `MARK` raises SIGTERM."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner
        self._tripped = False

    def write(self, text: str) -> int:
        written = self._inner.write(text)
        if MARK in text and not self._tripped:
            self._tripped = True
            self._inner.flush()
            # raise_signal runs the Python-level handler before returning (PyErr_CheckSignals),
            # so it runs here, inside WriteLogger.msg, with the stream's lock held.
            signal.raise_signal(signal.SIGTERM)
            print("raised_inside_write", file=sys.stderr, flush=True)
        return written

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return False


def main(where: str) -> None:
    configure_logging(level="info", fmt="json", stream=cast(TextIO, TrippingStream(sys.stdout)))
    log = get_logger("signal_child")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if where == "startup":
            log.info(MARK)
        yield
        log.info("lifespan_shutdown")

    async def mark(_: Request) -> PlainTextResponse:
        if where == "stdlib":
            logging.getLogger("signal_child.stdlib").warning(MARK)
        else:
            log.info(MARK)
        return PlainTextResponse("marked")

    app = Starlette(routes=[Route("/mark", mark)], lifespan=lifespan)
    sock = bind("127.0.0.1", 0)
    # Listening before the port is told: a request sent before uvicorn's loop runs waits in the
    # backlog instead of being refused (the test connects as soon as it reads the port).
    sock.listen(16)
    print(f"port={sock.getsockname()[1]}", file=sys.stderr, flush=True)
    serve(app, sock)
    log.info("serve_returned")


if __name__ == "__main__":
    main(sys.argv[1])
