"""TLS client contexts for the connections to the WhatsApp API, shared between targets.

Building an `ssl.SSLContext` that trusts the system's (certifi's) CA bundle takes about 20 ms of
CPU and 0.8 MB of memory, and httpx builds one per `AsyncClient` unless it is handed one. With
one client per target that was a third of the watchdog's CPU in its first minute at 2,000
targets, and most of its memory at 100 (`benchmarks/README.md`). A context is safe to share
between connections, so every target with the same TLS settings gets the same one.

Not to be confused with `watchdog.tls`, the HTTPS of the watchdog's own endpoints.
"""

from __future__ import annotations

import functools
import os
import ssl
from pathlib import Path

import httpx

__all__ = ["api_tls_context"]


def api_tls_context(*, insecure: bool, ca_file: Path | None) -> ssl.SSLContext:
    """The shared context for these settings; raises `OSError`/`ssl.SSLError`/`ValueError`
    when `ca_file` cannot be used.

    A CA file is identified by its path and what `stat` says of it, so a bundle replaced on
    disk gives a new context to the clients created after the change (at a reload).
    """
    if insecure:
        return _context(insecure=True, ca_file=None, identity=None)
    if ca_file is None:
        return _context(insecure=False, ca_file=None, identity=None)
    st = os.stat(ca_file)
    identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    return _context(insecure=False, ca_file=str(ca_file), identity=identity)


@functools.lru_cache(maxsize=32)
def _context(
    *, insecure: bool, ca_file: str | None, identity: tuple[int, int, int, int] | None
) -> ssl.SSLContext:
    del identity  # part of the cache key only
    if insecure:
        return httpx.create_ssl_context(verify=False)
    if ca_file is None:
        # What httpx builds for `verify=True`: certifi's bundle, or SSL_CERT_FILE/SSL_CERT_DIR.
        return httpx.create_ssl_context()
    return ssl.create_default_context(cafile=ca_file)
