"""TLS contexts for the API connections are built once per set of TLS settings and shared."""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path

import pytest
import trustme

from watchdog.api_tls import api_tls_context
from watchdog.client import ApiClient
from watchdog.targets import Target


def test_targets_with_the_same_settings_share_one_context() -> None:
    verified = api_tls_context(insecure=False, ca_file=None)
    assert api_tls_context(insecure=False, ca_file=None) is verified
    assert verified.verify_mode is ssl.CERT_REQUIRED
    assert verified.check_hostname
    assert verified.cert_store_stats()["x509_ca"] > 0  # the system's (certifi's) roots

    insecure = api_tls_context(insecure=True, ca_file=None)
    assert insecure is not verified
    assert api_tls_context(insecure=True, ca_file=Path("/ignored")) is insecure
    assert insecure.verify_mode is ssl.CERT_NONE
    assert not insecure.check_hostname


def test_a_ca_file_gets_its_own_context_and_a_new_one_when_replaced(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    first = api_tls_context(insecure=False, ca_file=bundle)
    assert api_tls_context(insecure=False, ca_file=bundle) is first
    assert first is not api_tls_context(insecure=False, ca_file=None)
    assert first.cert_store_stats()["x509_ca"] == 1

    replacement = tmp_path / "new.pem"
    trustme.CA().cert_pem.write_to_path(str(replacement))
    os.replace(replacement, bundle)  # a rotated Secret: a new inode under the same path
    assert api_tls_context(insecure=False, ca_file=bundle) is not first


def test_an_unusable_ca_file_raises_and_is_not_cached(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    with pytest.raises(ssl.SSLError):
        api_tls_context(insecure=False, ca_file=bundle)
    trustme.CA().cert_pem.write_to_path(str(bundle))
    assert api_tls_context(insecure=False, ca_file=bundle).cert_store_stats()["x509_ca"] == 1


def test_clients_of_many_targets_share_the_context() -> None:
    """100 targets, one context: the 0.8 MB and 20 ms per client are paid once."""

    async def contexts() -> set[int]:
        clients = [ApiClient(Target(name=f"t{i}", url=f"https://t{i}.test")) for i in range(100)]
        try:
            return {
                id(c._http._transport._pool._ssl_context)  # type: ignore[attr-defined]
                for c in clients
            }
        finally:
            for c in clients:
                await c.aclose()

    assert asyncio.run(contexts()) == {id(api_tls_context(insecure=False, ca_file=None))}
