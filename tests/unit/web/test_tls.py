"""The server's TLS context: built from the files, re-read when they change, never raising in
the handshake."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from structlog.testing import capture_logs

from watchdog.config.settings import load_settings
from watchdog.web.tls import ServerTls, TlsConfig, TlsFileError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def write_pair(directory: Path, ca: trustme.CA) -> tuple[Path, Path]:
    issued = ca.issue_cert("localhost")
    cert, key = directory / "tls.crt", directory / "tls.key"
    for path, blob in ((cert, issued.cert_chain_pems[0]), (key, issued.private_key_pem)):
        staged = path.with_suffix(".new")
        blob.write_to_path(str(staged))
        os.replace(staged, path)
    return cert, key


def test_files_are_looked_at_once_per_interval(tmp_path: Path) -> None:
    """A rotation is picked up at the first look after the check interval, not before."""
    clock = Clock()
    cert, key = write_pair(tmp_path, trustme.CA())
    tls = ServerTls(cert, key, check_interval=5.0, clock=clock)
    first = tls.current()
    assert first is tls.context
    write_pair(tmp_path, trustme.CA())
    clock.now += 4.9
    assert tls.current() is first
    clock.now += 0.2
    with capture_logs() as logs:
        second = tls.current()
        clock.now += 10
        assert tls.current() is second
    assert second is not first
    assert tls.generation == 1
    assert [entry["event"] for entry in logs] == ["tls_certificate_reloaded"]


def test_vanished_files_keep_the_certificate_and_log_once(tmp_path: Path) -> None:
    """Deleted files keep the last good context; the problem is logged once, naming the variable."""
    clock = Clock()
    cert, key = write_pair(tmp_path, trustme.CA())
    tls = ServerTls(cert, key, check_interval=1.0, clock=clock)
    cert.unlink()
    with capture_logs() as logs:
        for _ in range(3):
            clock.now += 2
            assert tls.current() is tls.context
    assert [entry["event"] for entry in logs] == ["tls_certificate_reload_failed"]
    assert tls.problem == f"WATCHDOG_TLS_CERT_FILE: cannot read {cert}: No such file or directory"


class BrokenSslObject:
    """An SSLObject whose context cannot be switched."""

    @property
    def context(self) -> ssl.SSLContext:
        raise RuntimeError("boom")

    @context.setter
    def context(self, value: Any) -> None:
        raise RuntimeError("boom")


def test_handshake_callback_never_raises(tmp_path: Path) -> None:
    """A failure while choosing the context is logged; the handshake goes on with the old one."""
    cert, key = write_pair(tmp_path, trustme.CA())
    tls = ServerTls(cert, key, check_interval=0)
    callback = tls.context.sni_callback
    assert callback is not None
    with capture_logs() as logs:
        assert callback(BrokenSslObject(), "localhost", tls.context) is None  # type: ignore[arg-type]
    assert [(e["event"], e["error"]) for e in logs] == [
        ("tls_certificate_switch_failed", "RuntimeError")
    ]


def test_uvicorn_config_serves_the_given_context(tmp_path: Path) -> None:
    """uvicorn's config keeps the context handed to it instead of building its own."""
    cert, key = write_pair(tmp_path, trustme.CA())
    tls = ServerTls(cert, key)
    config = TlsConfig(lambda: None, ssl_context=tls.context, log_config=None)
    config.load()
    assert config.ssl is tls.context


def test_missing_files_at_start_raise(tmp_path: Path) -> None:
    """Without usable files there is no server: the constructor raises, naming the file."""
    with pytest.raises(TlsFileError, match="cannot read") as info:
        ServerTls(tmp_path / "nope.crt", tmp_path / "nope.key")
    assert info.value.file == "cert"


def test_status_url_is_https_when_serving_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alerts link to https://<host>:<port> by default once the watchdog serves HTTPS."""
    monkeypatch.setattr("socket.gethostname", lambda: "watchdog-0")
    cert, key = write_pair(tmp_path, trustme.CA())
    settings = load_settings(
        {
            "WA_API_KEY": "k3y-0123456789abcdef",
            "WATCHDOG_TARGETS": "prod=https://wa.example",
            "WATCHDOG_TLS_CERT_FILE": str(cert),
            "WATCHDOG_TLS_KEY_FILE": str(key),
        }
    )
    assert settings.status_url == "https://watchdog-0:9877"
