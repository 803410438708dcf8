"""The watchdog's own endpoints: HTTPS certificate and key, Basic auth users, the bearer
token file; each problem with its exact message, never quoting a secret."""

from __future__ import annotations

import pytest

from tests.unit.config.support import (
    HASH_4,
    HASH_10,
    MAKE_HASH,
    TLS_BOTH,
    assert_messages,
    case,
)

INVALID = [
    case(
        "tls-cert-without-key",
        {"WATCHDOG_TLS_CERT_FILE": "{tmp}/server.crt"},
        f"WATCHDOG_TLS_CERT_FILE: set without WATCHDOG_TLS_KEY_FILE; {TLS_BOTH}",
    ),
    case(
        "tls-key-without-cert",
        {"WATCHDOG_TLS_KEY_FILE": "{tmp}/server.key"},
        f"WATCHDOG_TLS_KEY_FILE: set without WATCHDOG_TLS_CERT_FILE; {TLS_BOTH}",
    ),
    case(
        "tls-key-in-yaml-cert-nowhere",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/tls-key-only.yaml"},
        f"tls_key_file in {{tmp}}/tls-key-only.yaml: set without WATCHDOG_TLS_CERT_FILE; "
        f"{TLS_BOTH}",
    ),
    case(
        "tls-cert-file-missing",
        {
            "WATCHDOG_TLS_CERT_FILE": "{tmp}/missing.crt",
            "WATCHDOG_TLS_KEY_FILE": "{tmp}/server.key",
        },
        "WATCHDOG_TLS_CERT_FILE: cannot read {tmp}/missing.crt: No such file or directory",
    ),
    case(
        "tls-key-file-is-directory",
        {"WATCHDOG_TLS_CERT_FILE": "{tmp}/server.crt", "WATCHDOG_TLS_KEY_FILE": "{tmp}"},
        "WATCHDOG_TLS_KEY_FILE: {tmp} is a directory; expected a PEM file",
    ),
    case(
        "tls-cert-not-pem",
        {"WATCHDOG_TLS_CERT_FILE": "{tmp}/password", "WATCHDOG_TLS_KEY_FILE": "{tmp}/server.key"},
        "WATCHDOG_TLS_CERT_FILE: {tmp}/password holds no PEM certificate "
        "(-----BEGIN CERTIFICATE-----)",
    ),
    case(
        "tls-files-swapped",
        {"WATCHDOG_TLS_CERT_FILE": "{tmp}/server.key", "WATCHDOG_TLS_KEY_FILE": "{tmp}/server.crt"},
        "WATCHDOG_TLS_CERT_FILE: {tmp}/server.key holds no PEM certificate "
        "(-----BEGIN CERTIFICATE-----); it holds a private key: are the certificate and key "
        "files swapped?",
    ),
    case(
        "tls-key-is-a-certificate",
        {"WATCHDOG_TLS_CERT_FILE": "{tmp}/server.crt", "WATCHDOG_TLS_KEY_FILE": "{tmp}/server.crt"},
        "WATCHDOG_TLS_KEY_FILE: {tmp}/server.crt holds no PEM private key "
        "(-----BEGIN PRIVATE KEY-----); it holds a certificate: are the certificate and key "
        "files swapped?",
    ),
    case(
        "tls-cert-damaged",
        {
            "WATCHDOG_TLS_CERT_FILE": "{tmp}/damaged.crt",
            "WATCHDOG_TLS_KEY_FILE": "{tmp}/server.key",
        },
        "WATCHDOG_TLS_CERT_FILE: {tmp}/damaged.crt holds a certificate that cannot be read "
        "(damaged PEM data)",
    ),
    case(
        "tls-key-damaged",
        {
            "WATCHDOG_TLS_CERT_FILE": "{tmp}/server.crt",
            "WATCHDOG_TLS_KEY_FILE": "{tmp}/damaged.key",
        },
        "WATCHDOG_TLS_KEY_FILE: {tmp}/damaged.key holds a private key that cannot be read "
        "(damaged PEM data)",
    ),
    case(
        "tls-key-of-another-certificate",
        {"WATCHDOG_TLS_CERT_FILE": "{tmp}/server.crt", "WATCHDOG_TLS_KEY_FILE": "{tmp}/other.key"},
        "WATCHDOG_TLS_KEY_FILE: {tmp}/other.key is not the private key of the certificate in "
        "{tmp}/server.crt",
    ),
    case(
        "tls-key-mismatch-in-yaml",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/tls-mismatch.yaml"},
        "tls_key_file in {tmp}/tls-mismatch.yaml: {tmp}/other.key is not the private key of the "
        "certificate in {tmp}/server.crt",
    ),
    case(
        "tls-key-encrypted",
        {
            "WATCHDOG_TLS_CERT_FILE": "{tmp}/server.crt",
            "WATCHDOG_TLS_KEY_FILE": "{tmp}/encrypted.key",
        },
        "WATCHDOG_TLS_KEY_FILE: {tmp}/encrypted.key holds an encrypted private key, and the "
        "watchdog has no passphrase to give: decrypt it (openssl pkey -in {tmp}/encrypted.key "
        "-out key.pem) and keep that file readable only by the watchdog",
    ),
    case(
        "basic-auth-plaintext-password",
        {"WATCHDOG_BASIC_AUTH_USERS": "alice:hunter2-plaintext"},
        "WATCHDOG_BASIC_AUTH_USERS: user 'alice': expected a bcrypt hash starting with $2a$, "
        "$2b$ or $2y$, not a password (the value is not shown; in a shell, put the hash in "
        f"single quotes; in docker compose, write each $ as $$); {MAKE_HASH}",
    ),
    case(
        "basic-auth-hash-expanded-by-shell",
        # "alice:$2b$10$..." in double quotes: the shell leaves "alice:b0..." behind.
        {"WATCHDOG_BASIC_AUTH_USERS": "alice:b0" + HASH_10[7:]},
        "WATCHDOG_BASIC_AUTH_USERS: user 'alice': expected a bcrypt hash starting with $2a$, "
        "$2b$ or $2y$, not a password (the value is not shown; in a shell, put the hash in "
        f"single quotes; in docker compose, write each $ as $$); {MAKE_HASH}",
    ),
    case(
        "basic-auth-hash-truncated",
        {"WATCHDOG_BASIC_AUTH_USERS": "alice:" + HASH_10[:-1]},
        "WATCHDOG_BASIC_AUTH_USERS: user 'alice': not a complete bcrypt hash: $2b$, a two-digit "
        f"cost, $, then 53 characters of salt and hash (the value is not shown); {MAKE_HASH}",
    ),
    case(
        "basic-auth-cost-under-10",
        {"WATCHDOG_BASIC_AUTH_USERS": f"alice:{HASH_10},bob:{HASH_4}"},
        "WATCHDOG_BASIC_AUTH_USERS: user 'bob': the bcrypt cost is 4; use at least 10 "
        f"(bcrypt.gensalt() uses 12; htpasswd needs -B -C 12); {MAKE_HASH}",
    ),
    case(
        "basic-auth-salt-does-not-decode",
        {"WATCHDOG_BASIC_AUTH_USERS": "alice:$2y$10$" + "z" * 53},
        "WATCHDOG_BASIC_AUTH_USERS: user 'alice': not a valid bcrypt hash: its salt does not "
        f"decode (the value is not shown); {MAKE_HASH}",
    ),
    case(
        "basic-auth-entry-without-colon",
        {"WATCHDOG_BASIC_AUTH_USERS": f"alice:{HASH_10}, bob"},
        "WATCHDOG_BASIC_AUTH_USERS: entry 2 has no ':'; expected user:hash pairs separated by "
        "commas (the entry is not shown)",
    ),
    case(
        "basic-auth-user-twice-and-empty-name",
        {"WATCHDOG_BASIC_AUTH_USERS": f"alice:{HASH_10},alice:{HASH_10},:{HASH_10}"},
        "WATCHDOG_BASIC_AUTH_USERS: user 'alice' is listed twice",
        "WATCHDOG_BASIC_AUTH_USERS: expected user names as text (got an empty name)",
    ),
    case(
        "basic-auth-yaml-list",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/users-list.yaml"},
        "basic_auth_users in {tmp}/users-list.yaml: expected user:hash pairs separated by "
        "commas, or in the file a mapping of user names to bcrypt hashes (got list)",
    ),
    case(
        "basic-auth-yaml-values",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/users-values.yaml"},
        "basic_auth_users in {tmp}/users-values.yaml: user 'bob': expected a bcrypt hash (got int)",
        "basic_auth_users in {tmp}/users-values.yaml: user 'carol:x': a user name cannot "
        "contain ':' (Basic auth separates it so)",
        "basic_auth_users in {tmp}/users-values.yaml: user 'dave': expected a bcrypt hash "
        "starting with $2a$, $2b$ or $2y$, not a password (the value is not shown; in a shell, "
        f"put the hash in single quotes; in docker compose, write each $ as $$); {MAKE_HASH}",
    ),
    case(
        "bearer-token-inline-variable",
        {"WATCHDOG_BEARER_TOKEN": "tok-0123456789abcdef"},
        "WATCHDOG_BEARER_TOKEN: not supported; put the token in a file and set "
        "WATCHDOG_BEARER_TOKEN_FILE (a file, unlike a variable, does not show in `ps e`, crash "
        "reports or the pod spec, and can be rotated without a restart)",
    ),
    case(
        "bearer-token-file-missing",
        {"WATCHDOG_BEARER_TOKEN_FILE": "{tmp}/missing.token"},
        "WATCHDOG_BEARER_TOKEN_FILE: cannot read {tmp}/missing.token: No such file or directory",
    ),
    case(
        "bearer-token-file-is-directory",
        {"WATCHDOG_BEARER_TOKEN_FILE": "{tmp}"},
        "WATCHDOG_BEARER_TOKEN_FILE: cannot read {tmp}: Is a directory",
    ),
    case(
        "bearer-token-file-empty",
        {"WATCHDOG_BEARER_TOKEN_FILE": "{tmp}/empty.key"},
        "WATCHDOG_BEARER_TOKEN_FILE: {tmp}/empty.key is empty; it should hold the token (at "
        "least 16 characters)",
    ),
    case(
        "bearer-token-too-short",
        {"WATCHDOG_BEARER_TOKEN_FILE": "{tmp}/short.token"},
        "WATCHDOG_BEARER_TOKEN_FILE: {tmp}/short.token holds 8 characters; a token is 16 to "
        "4096 characters long (the content is not shown; make one with: openssl rand -hex 32)",
    ),
    case(
        "bearer-token-with-spaces",
        {"WATCHDOG_BEARER_TOKEN_FILE": "{tmp}/spaced.token"},
        "WATCHDOG_BEARER_TOKEN_FILE: the token in {tmp}/spaced.token must be printable ASCII "
        "without spaces, as it travels in an Authorization header (the content is not shown)",
    ),
]


@pytest.mark.parametrize(("env", "expected"), INVALID)
def test_invalid_input_gets_exact_messages(
    env: dict[str, str], expected: list[str], tmp: str
) -> None:
    """Every invalid input is reported with exactly these messages, naming what the user wrote."""
    assert_messages(env, expected, tmp)
