"""What the configuration tests share: a valid base environment, the files cases refer to as
``{tmp}/<name>``, and helpers to load settings and collect their messages."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from cryptography.hazmat.primitives import serialization

from watchdog.base.errors import ConfigError
from watchdog.config.settings import Settings, load_settings

KEY = "k3y-0123456789abcdef"


BASE = {"WA_API_KEY": KEY, "WATCHDOG_TARGETS": "prod=https://wa-prod.example"}


HEALTH_WHY = "because the health endpoint allows only 10 calls per 60 s shared by all callers"


DURATION_HINT = "a duration such as 15s, 2m, 1h, 500ms, 1m30s or plain seconds (15, 2.5)"


NAME_RULE = "use 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit"


NO_TARGETS = (
    "WATCHDOG_TARGETS: no targets to monitor; set WATCHDOG_TARGETS (name=url,name2=url2 or "
    "bare URLs) or WA_WEB_ENDPOINT (host:port), or list targets in the config file"
)


# Files the cases below refer to as {tmp}/<name>; written fresh for every test.
FILES = {
    "good.key": f"  {KEY}\n",
    "short.key": "short\n",
    "empty.key": "\n",
    "password": "pass word\n",
    "ca.pem": "-----BEGIN CERTIFICATE-----\n",
    "unknown.yaml": "healthinterval: 20s\nWATCHDOG_TIMEOUT: 3s\nfoo: 1\n",
    "list.yaml": "- timeout: 5s\n",
    "broken.yaml": "timeout: 5s\nlisten: a: b\n",
    "labels.yaml": (
        "targets:\n"
        "  - url: https://wa-a.example\n"
        "    labels: {team: core, __meta: x, target: y, 9lives: z}\n"
    ),
    "target-options.yaml": (
        "timeout: 1m30s\n"
        "targets:\n"
        "  - name: a\n"
        "    url: https://wa-a.example\n"
        "  - name: b\n"
        "    url: https://wa-b.example\n"
        "    health_interval: 2s\n"
        "    stats_db_interval: 300ms\n"
    ),
    "target-shape.yaml": (
        "targets:\n"
        "  - name: a\n"
        "  - url: https://wa-b.example\n"
        "    api_key: inline-keys-are-refused\n"
        "    colour: blue\n"
        "  - 42\n"
    ),
    "scalars.yaml": "timeout: 0\ntls_insecure: maybe\nalertmanager_urls: [http://am:9093, am2]\n",
    "key-in-yaml.yaml": f"api_key_file: {{tmp}}/good.key\napi_key: {KEY}\n",
    "alerts-list.yaml": "alerts: [overloaded]\n",
    "alerts-rule-typo.yaml": "alerts:\n  overload: {for: 1m}\n",
    "alerts-alertname.yaml": "alerts:\n  WhatsAppGatewayDown: {for: 1m}\n",
    "alerts-rule-unknown.yaml": "alerts:\n  disk_full: {enabled: false}\n",
    "alerts-rule-scalar.yaml": "alerts:\n  queue_backlog: false\n",
    "alerts-key-typo.yaml": "alerts:\n  overloaded: {for_: 1m}\n",
    "alerts-key-of-other-rule.yaml": "alerts:\n  overloaded: {threshold: 3}\n",
    "alerts-env-name.yaml": "WATCHDOG_ALERT_UNREACHABLE_FOR: 1m\n",
    "alerts-values.yaml": (
        "alerts:\n"
        "  unreachable: {for: 2h, enabled: maybe}\n"
        "  rate_limit_spike: {window: 5, threshold: 2.5, ratio: 1.5}\n"
        "  gateway_down: {expected_shards: true}\n"
    ),
    "external-url.yaml": "external_url: 8080\n",
}


# The watchdog's own endpoints: a certificate with its key, another key, an encrypted key, and
# bcrypt hashes (made once here: at cost 10 each takes a tenth of a second).
_SERVER = trustme.CA().issue_cert("localhost")


_OTHER_KEY = trustme.CA().issue_cert("localhost").private_key_pem.bytes().decode()


_ENCRYPTED_KEY = (
    serialization.load_pem_private_key(_SERVER.private_key_pem.bytes(), None)
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    .decode()
)


HASH_10 = "$2b$10$.BssQQzifYYZU08AzWa2TuMLsqybiXjDYKKolIyWkopPDUY5ZJ4J2"


HASH_4 = "$2b$04$zOjtE1pi.OksZsKq4kGs4eYynnzN44yQvYYINi3kRK0clbd7qmXii"


MAKE_HASH = (
    "make one with: python -c 'import bcrypt; "
    'print(bcrypt.hashpw(b"secret", bcrypt.gensalt()).decode())\''
)


TLS_BOTH = "HTTPS needs both the certificate and its private key"


FILES |= {
    "server.crt": _SERVER.cert_chain_pems[0].bytes().decode(),
    "server.key": _SERVER.private_key_pem.bytes().decode(),
    "other.key": _OTHER_KEY,
    "encrypted.key": _ENCRYPTED_KEY,
    "damaged.crt": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    "damaged.key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    "token": "tok-0123456789abcdef\n",
    "short.token": "tok-0123\n",
    "spaced.token": "tok 0123456789 abcdef\n",
    "tls-key-only.yaml": "tls_key_file: {tmp}/server.key\n",
    "tls-mismatch.yaml": "tls_cert_file: {tmp}/server.crt\ntls_key_file: {tmp}/other.key\n",
    "users-list.yaml": "basic_auth_users: [alice, bob]\n",
    "users-values.yaml": (
        "basic_auth_users:\n"
        f"  alice: '{HASH_10}'\n"
        "  bob: 12345\n"
        "  'carol:x': '$2b$10$xyz'\n"
        "  dave: hunter2-plaintext\n"
    ),
}


def case(case_id: str, env: Mapping[str, str | None], *messages: str) -> Any:
    """A table row: BASE updated with ``env`` (None removes a variable) and its messages."""
    merged = {**BASE, **env}
    return pytest.param(
        {key: value for key, value in merged.items() if value is not None},
        list(messages),
        id=case_id,
    )


def fill(env: Mapping[str, str], tmp: str) -> dict[str, str]:
    return {key: value.replace("{tmp}", tmp) for key, value in env.items()}


def load(tmp: str, **env: str | None) -> Settings:
    """Load BASE updated with ``env`` (None removes a variable), ``{tmp}`` filled in."""
    merged = {**BASE, **env}
    return load_settings(fill({k: v for k, v in merged.items() if v is not None}, tmp))


def messages_of(env: Mapping[str, str], **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(env, **kwargs)
    return info.value.messages


def write_yaml(tmp: str, document: Any) -> str:
    path = Path(tmp) / "config.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return str(path)


def assert_messages(env: Mapping[str, str], expected: list[str], tmp: str) -> None:
    """Loading ``env`` fails with exactly ``expected``, ``{tmp}`` filled in on both sides."""
    assert messages_of(fill(env, tmp)) == [message.replace("{tmp}", tmp) for message in expected]
