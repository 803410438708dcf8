"""Unit tests start from structlog's defaults.

Tests elsewhere in the same process run the daemon's `configure_logging`, which caches loggers;
a unit test capturing log events (`structlog.testing.capture_logs`) would then see nothing,
depending only on which tests ran before it.
"""

from __future__ import annotations

import pytest

from watchdog.base.log import reset_logging


@pytest.fixture(autouse=True)
def default_logging() -> None:
    reset_logging()
