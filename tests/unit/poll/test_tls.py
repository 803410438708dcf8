"""TLS contexts for the API connections are built once per set of TLS settings and shared."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from pathlib import Path

import trustme

from watchdog.api.endpoints import Endpoint
from watchdog.app import api_clients
from watchdog.base.targets import Target
from watchdog.config.settings import load_settings
from watchdog.poll.client import ApiClient
from watchdog.poll.tls import TlsContexts

KEY = "api-tls-test-key-0123456789"


def test_targets_with_the_same_settings_share_one_context() -> None:
    contexts = TlsContexts()
    verified = contexts.context(insecure=False, ca_file=None)
    assert contexts.context(insecure=False, ca_file=None) is verified
    assert verified.verify_mode is ssl.CERT_REQUIRED
    assert verified.check_hostname
    assert verified.cert_store_stats()["x509_ca"] > 0  # the system's (certifi's) roots

    insecure = contexts.context(insecure=True, ca_file=None)
    assert insecure is not verified
    assert contexts.context(insecure=True, ca_file=Path("/ignored")) is insecure
    assert insecure.verify_mode is ssl.CERT_NONE
    assert not insecure.check_hostname
    assert TlsContexts().context(insecure=False, ca_file=None) is not verified  # per owner


def test_a_ca_file_gets_its_own_context_and_a_new_one_when_replaced(tmp_path: Path) -> None:
    contexts = TlsContexts()
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    first = contexts.context(insecure=False, ca_file=bundle)
    assert contexts.context(insecure=False, ca_file=bundle) is first
    assert first is not contexts.context(insecure=False, ca_file=None)
    assert first.cert_store_stats()["x509_ca"] == 1

    replacement = tmp_path / "new.pem"
    trustme.CA().cert_pem.write_to_path(str(replacement))
    os.replace(replacement, bundle)  # a rotated Secret: a new inode under the same path
    assert contexts.context(insecure=False, ca_file=bundle) is not first


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_mended_ca_file_is_used_by_the_next_client(tmp_path: Path) -> None:
    """An unusable bundle fails the client's polls (`tls`); once mended, the factory's next
    client (a reload) polls with it: the failure was not kept."""
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    contexts = TlsContexts()
    target = Target(
        name="t", url=f"https://127.0.0.1:{closed_port()}", api_key=KEY, tls_ca_file=bundle
    )

    async def poll() -> str | None:
        async with ApiClient(target, tls_contexts=contexts) as client:
            return (await client.poll(Endpoint.HEALTH)).reason

    assert asyncio.run(poll()) == "tls"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    assert asyncio.run(poll()) == "connect"  # past TLS set-up: nobody listens there


def test_the_factorys_clients_share_the_context() -> None:
    """100 targets, one context: the 0.8 MB and 20 ms per client are paid once."""
    urls = ",".join(f"t{i}=https://t{i}.test" for i in range(100))
    settings = load_settings({"WA_API_KEY": KEY, "WATCHDOG_TARGETS": urls})
    make = api_clients(settings, None)

    async def contexts() -> set[int]:
        clients = [make(target) for target in settings.targets]
        try:
            return {id(c.tls_context) for c in clients if isinstance(c, ApiClient)}
        finally:
            for c in clients:
                await c.aclose()

    assert len(asyncio.run(contexts())) == 1
