"""The watchdog's version as it introduces itself to the servers it calls."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version


@functools.cache
def user_agent() -> str:
    """`wa-watchdog/<version>` of the installed distribution (`dev` from a source tree)."""
    try:
        return f"wa-watchdog/{version('wa-watchdog')}"
    except PackageNotFoundError:
        return "wa-watchdog/dev"
