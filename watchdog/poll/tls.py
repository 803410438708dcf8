"""TLS client contexts for the connections to the WhatsApp API, shared between targets.

Building an `ssl.SSLContext` that trusts the system's (certifi's) CA bundle takes about 20 ms of
CPU and 0.8 MB of memory, and httpx builds one per `AsyncClient` unless it is handed one. With
one client per target that was a third of the watchdog's CPU in its first minute at 2,000
targets, and most of its memory at 100 (`benchmarks/README.md`). A context is safe to share
between connections, so the clients made by one factory (`watchdog.app.api_clients`) share
one `TlsContexts`, and every target with the same TLS settings gets the same context.

Not to be confused with `watchdog.web.tls`, the HTTPS of the watchdog's own endpoints.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from watchdog.base.files import Signature, signature

__all__ = ["TlsContexts"]

# (insecure, CA file, what stat says of the CA file)
_Key = tuple[bool, str | None, Signature | None]


class TlsContexts:
    """The client contexts built so far, one per set of TLS settings."""

    def __init__(self) -> None:
        self._built: dict[_Key, ssl.SSLContext] = {}

    def context(self, *, insecure: bool, ca_file: Path | None) -> ssl.SSLContext:
        """The shared context for these settings; raises `OSError`/`ssl.SSLError`/`ValueError`
        when `ca_file` cannot be used (nothing is kept then, so a mended file is read again).

        A CA file is identified by its path and what `stat` says of it, so a bundle replaced on
        disk gives a new context to the clients created after the change (at a reload).
        """
        key: _Key
        if insecure:
            key = (True, None, None)
        elif ca_file is None:
            key = (False, None, None)
        else:
            key = (False, str(ca_file), signature(ca_file))
        found = self._built.get(key)
        if found is None:
            found = self._built[key] = _build(insecure=insecure, ca_file=key[1])
        return found


def _build(*, insecure: bool, ca_file: str | None) -> ssl.SSLContext:
    if insecure:
        return httpx.create_ssl_context(verify=False)
    if ca_file is None:
        # What httpx builds for `verify=True`: certifi's bundle, or SSL_CERT_FILE/SSL_CERT_DIR.
        return httpx.create_ssl_context()
    return ssl.create_default_context(cafile=ca_file)
