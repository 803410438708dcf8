"""HTTPS for the watchdog's own endpoints, with the certificate re-read when its files change.

`build_context` turns a certificate file and its key file into a server `ssl.SSLContext`, or
raises `TlsFileError` saying which file is at fault and why, without ever quoting a file's
content and without ever prompting for a passphrase. `ServerTls` keeps the current context:
the context handed to uvicorn carries an SNI callback, which runs at the start of every TLS
handshake (with or without a server name from the client) and switches the connection to the
current context. At most every `CHECK_INTERVAL` seconds the callback looks at the files (device,
inode, size, mtime) and builds a new context when they changed, so certificates rotated on disk
(cert-manager, a renewed Secret) are served without a restart. Files that cannot be used keep
the last good context in use; that is logged once per change of the files.

Not to be confused with `WATCHDOG_TLS_CA_FILE`/`WATCHDOG_TLS_INSECURE`, which are about the
WhatsApp API's certificate.
"""

from __future__ import annotations

import re
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import uvicorn

from watchdog.base import files
from watchdog.base.log import get_logger

__all__ = ["CHECK_INTERVAL", "ServerTls", "TlsConfig", "TlsFileError", "build_context"]

log = get_logger(__name__)

# How often, at most, a new connection makes the files be looked at (one stat per file).
CHECK_INTERVAL = 5.0
# A certificate chain or key is a few KiB; reading at most this much bounds a mistaken path.
_MAX_PEM = 1024 * 1024

_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")

_Signature = tuple[files.Signature | None, ...]
FileRole = Literal["cert", "key"]


class TlsFileError(Exception):
    """A certificate or key file that cannot be used; `file` is the one at fault."""

    def __init__(self, file: FileRole, message: str) -> None:
        super().__init__(message)
        self.file: FileRole = file


class _Encrypted(Exception):
    """Raised by the passphrase callback: there is no passphrase, and nobody to ask for one."""


def _no_passphrase() -> str:
    raise _Encrypted


def _read(path: Path, role: FileRole) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_PEM + 1)
    except OSError as exc:
        raise TlsFileError(role, f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > _MAX_PEM:
        raise TlsFileError(role, f"{path} is larger than 1 MiB; is it the right file?")
    return data


def _check_pem(cert: Path, key: Path) -> None:
    cert_pem = _read(cert, "cert")
    key_pem = _read(key, "key")
    if _CERTIFICATE not in cert_pem:
        swapped = (
            "; it holds a private key: are the certificate and key files swapped?"
            if _PRIVATE_KEY.search(cert_pem)
            else ""
        )
        raise TlsFileError(
            "cert", f"{cert} holds no PEM certificate (-----BEGIN CERTIFICATE-----){swapped}"
        )
    if not _PRIVATE_KEY.search(key_pem):
        swapped = (
            "; it holds a certificate: are the certificate and key files swapped?"
            if _CERTIFICATE in key_pem
            else ""
        )
        raise TlsFileError(
            "key", f"{key} holds no PEM private key (-----BEGIN PRIVATE KEY-----){swapped}"
        )
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.load_verify_locations(cafile=cert)
    except (ssl.SSLError, ValueError):
        raise TlsFileError(
            "cert", f"{cert} holds a certificate that cannot be read (damaged PEM data)"
        ) from None


def build_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2 or later) serving `cert` with `key`.

    Raises `TlsFileError` naming the file at fault; messages hold paths, never content.
    """
    _check_pem(cert, key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except _Encrypted:
        raise TlsFileError(
            "key",
            f"{key} holds an encrypted private key, and the watchdog has no passphrase to give: "
            f"decrypt it (openssl pkey -in {key} -out key.pem) and keep that file readable only "
            "by the watchdog",
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise TlsFileError(
                "key", f"{key} is not the private key of the certificate in {cert}"
            ) from None
        raise TlsFileError(
            "key", f"{key} holds a private key that cannot be read (damaged PEM data)"
        ) from None
    except OSError as exc:
        raise TlsFileError("key", f"cannot read {key}: {exc.strerror or exc}") from None
    return context


class ServerTls:
    """The server's TLS context, following the certificate and key files as they change.

    The constructor builds the first context and raises `TlsFileError` when it cannot: a server
    must not start without a usable certificate. `context` is what the server listens with.
    """

    def __init__(
        self,
        cert_file: Path,
        key_file: Path,
        *,
        check_interval: float = CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        variables: tuple[str, str] = ("WATCHDOG_TLS_CERT_FILE", "WATCHDOG_TLS_KEY_FILE"),
    ) -> None:
        self._cert = cert_file
        self._key = key_file
        self._interval = check_interval
        self._clock = clock
        self._variables = variables
        self._lock = threading.Lock()
        self._signature = self._files()
        self._current = build_context(cert_file, key_file)
        self._next_check = clock() + check_interval
        self._logged: _Signature | None = None
        # Bumped whenever a new certificate is taken into use.
        self.generation = 0
        self.problem: str | None = None
        self.context = self._current
        self.context.sni_callback = self._on_client_hello
        log.info("tls_enabled", cert_file=str(cert_file), key_file=str(key_file))

    def _files(self) -> _Signature:
        return (files.signature(self._cert), files.signature(self._key))

    def current(self) -> ssl.SSLContext:
        """The context for a new connection: the files are looked at, at most once per interval."""
        with self._lock:
            now = self._clock()
            if now < self._next_check:
                return self._current
            self._next_check = now + self._interval
            signature = self._files()
            if signature == self._signature:
                return self._current
            self._signature = signature
            try:
                context = build_context(self._cert, self._key)
            except TlsFileError as exc:
                self._reject(exc, signature)
                return self._current
            self._current = context
            self.problem = None
            self.generation += 1
        log.info("tls_certificate_reloaded", cert_file=str(self._cert), key_file=str(self._key))
        return context

    def _reject(self, exc: TlsFileError, signature: _Signature) -> None:
        variable = self._variables[0 if exc.file == "cert" else 1]
        self.problem = f"{variable}: {exc}"
        if signature != self._logged:
            self._logged = signature
            log.warning("tls_certificate_reload_failed", error=self.problem, keeping_previous=True)

    def _on_client_hello(self, ssl_object: Any, server_name: str | None, _: Any) -> None:
        # Runs inside the handshake: it must not raise, or the handshake fails.
        try:
            context = self.current()
            if ssl_object.context is not context:
                ssl_object.context = context
        except Exception as exc:  # a bug here must not take HTTPS down
            log.error("tls_certificate_switch_failed", error=type(exc).__name__)


class TlsConfig(uvicorn.Config):
    """uvicorn's configuration, serving HTTPS with a context given ready-made.

    uvicorn builds its own context from file names once, at start; this one keeps the context of
    a `ServerTls`, whose SNI callback follows the files.
    """

    def __init__(self, *args: Any, ssl_context: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ssl_context = ssl_context

    def load(self) -> None:
        super().load()
        self.ssl = self._ssl_context
