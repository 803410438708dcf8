"""`watchdog demo` as a process, for the tests that run it: started on a port, read through the
URLs it prints, stopped with SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.integration.conftest import answers, wait_for


@contextmanager
def demo(*args: str, listen: str = "127.0.0.1:0") -> Iterator[tuple[str, list[str]]]:
    """A `watchdog demo` process listening on `listen` (or the free port it moves to), ready:
    its status page URL, and its output lines so far (complete once the block has left and the
    process has stopped on SIGTERM, with exit code 0)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "watchdog", "demo", "--listen", listen, *args],
        env={k: v for k, v in os.environ.items() if not k.startswith(("WA_", "WATCHDOG_"))},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        status_page = None
        deadline = time.monotonic() + 20
        while status_page is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            match = re.search(r"status_page=(http://\S+/)", line)
            status_page = match.group(1) if match else None
        assert status_page is not None, "demo did not print its URLs:\n" + "".join(lines)
        wait_for(lambda: answers(status_page + "readyz"), "the demo to be ready", timeout=30)
        yield status_page, lines
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=20)
        lines.append(rest)
    finally:
        proc.kill()
    assert proc.returncode == 0, "".join(lines)
