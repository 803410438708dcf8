"""Settings of the watchdog's own endpoints: HTTPS and who may read them.

``tls_cert_file``/``tls_key_file`` serve HTTPS (``watchdog.web.tls``); ``basic_auth_users`` (user ->
bcrypt hash) and ``bearer_token_file`` protect every path but ``/livez`` and ``/readyz``
(``watchdog.web.access``). Not to be confused with ``tls_ca_file``/``tls_insecure``, which are about
the WhatsApp API's certificate (the client side).

The value types raise ``ValueError`` with text that reads well after a variable name, like those
of ``watchdog.base.values``; ``access_problems`` checks what needs more than one value (the
certificate with its key) and returns whole messages. No message ever quotes a hash, a token or
the content of a key file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import bcrypt
from pydantic import BeforeValidator, SecretStr

from watchdog.base.secrets import bearer_token_from_file
from watchdog.base.values import CaFile, config_problems
from watchdog.web.tls import TlsFileError, build_context

if TYPE_CHECKING:
    from watchdog.config.provenance import Provenance

__all__ = [
    "BCRYPT_MIN_COST",
    "BEARER_TOKEN_ENV",
    "HASH_COMMAND",
    "BasicAuthUsers",
    "BearerTokenFile",
    "PemFile",
    "access_problems",
]

BCRYPT_MIN_COST = 10
HASH_COMMAND = (
    "python -c 'import bcrypt; print(bcrypt.hashpw(b\"secret\", bcrypt.gensalt()).decode())'"
)
# Not a setting: the token belongs in a file (a mounted Secret), where `ps e`, crash reports
# and `kubectl describe` do not show it. Named here so that setting it is an error rather than
# silently leaving the endpoints open.
BEARER_TOKEN_ENV = "WATCHDOG_BEARER_TOKEN"  # noqa: S105 (a variable name)

# $2a$/$2b$/$2y$, a two-digit cost, then 22 characters of salt and 31 of hash.
_BCRYPT = re.compile(r"\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}")
_MAKE_HASH = f"make one with: {HASH_COMMAND}"


def _hash_problem(user: str, value: object) -> str | None:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        return f"user {user!r}: expected a bcrypt hash (got {type(value).__name__})"
    hashed = value.strip()
    if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
        return (
            f"user {user!r}: expected a bcrypt hash starting with $2a$, $2b$ or $2y$, not a "
            "password (the value is not shown; in a shell, put the hash in single quotes; in "
            f"docker compose, write each $ as $$); {_MAKE_HASH}"
        )
    match = _BCRYPT.fullmatch(hashed)
    if match is None:
        return (
            f"user {user!r}: not a complete bcrypt hash: $2b$, a two-digit cost, $, then 53 "
            f"characters of salt and hash (the value is not shown); {_MAKE_HASH}"
        )
    if int(match[1]) < BCRYPT_MIN_COST:
        return (
            f"user {user!r}: the bcrypt cost is {int(match[1])}; use at least "
            f"{BCRYPT_MIN_COST} (bcrypt.gensalt() uses 12; htpasswd needs -B -C 12); {_MAKE_HASH}"
        )
    # The salt must decode too; checking against the hash at the cheapest cost shows it in a
    # millisecond instead of at the first request.
    try:
        bcrypt.checkpw(b"", ("$2b$04$" + hashed[7:]).encode("ascii"))
    except ValueError:
        return (
            f"user {user!r}: not a valid bcrypt hash: its salt does not decode (the value is "
            f"not shown); {_MAKE_HASH}"
        )
    return None


def _user_problem(user: object) -> str | None:
    if not isinstance(user, str) or not user.strip():
        shown = "an empty name" if isinstance(user, str) else type(user).__name__
        return f"expected user names as text (got {shown})"
    if ":" in user:
        return f"user {user!r}: a user name cannot contain ':' (Basic auth separates it so)"
    if not all(char.isprintable() for char in user):
        return f"user {user!r}: a user name cannot contain control characters"
    return None


def _parse_users(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """``user:hash,user2:hash`` as pairs, and problems of its shape (never quoting a hash)."""
    pairs: list[tuple[str, str]] = []
    problems: list[str] = []
    for index, entry in enumerate(part.strip() for part in text.split(",")):
        if not entry:
            continue
        user, colon, hashed = entry.partition(":")
        if not colon:
            problems.append(
                f"entry {index + 1} has no ':'; expected user:hash pairs separated by commas "
                "(the entry is not shown)"
            )
            continue
        pairs.append((user.strip(), hashed))
    return pairs, problems


def _basic_auth_users(value: object) -> dict[str, SecretStr]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        pairs, problems = _parse_users(value)
    elif isinstance(value, Mapping):
        pairs, problems = list(value.items()), []
    else:
        raise ValueError(
            "expected user:hash pairs separated by commas, or in the file a mapping of user "
            f"names to bcrypt hashes (got {type(value).__name__})"
        )
    users: dict[str, SecretStr] = {}
    for user, hashed in pairs:
        problem = _user_problem(user)
        if problem is None and user in users:
            problem = f"user {user!r} is listed twice"
        problem = problem or _hash_problem(user, hashed)
        if problem is not None:
            problems.append(problem)
        else:
            users[user] = SecretStr(str(hashed).strip())
    if problems:
        raise config_problems([((), problem) for problem in problems])
    return users


def _bearer_token_file(value: object) -> Path:
    bearer_token_from_file(value)
    return Path(value.strip()) if isinstance(value, str) else Path(str(value))


BasicAuthUsers = Annotated[dict[str, SecretStr], BeforeValidator(_basic_auth_users)]
BearerTokenFile = Annotated[Path, BeforeValidator(_bearer_token_file)]
# The certificate and key files: readable here, usable together (access_problems).
PemFile = CaFile


def access_problems(
    environ: Mapping[str, str],
    provenance: Provenance,
    check_pair: Callable[[Path, Path], Any] = build_context,
) -> Iterator[str]:
    """Problems that need more than one value: the certificate without its key (or the other way
    round), a pair that does not load together, and the unsupported inline token variable."""
    if BEARER_TOKEN_ENV in environ:
        yield (
            f"{BEARER_TOKEN_ENV}: not supported; put the token in a file and set "
            "WATCHDOG_BEARER_TOKEN_FILE (a file, unlike a variable, does not show in `ps e`, "
            "crash reports or the pod spec, and can be rotated without a restart)"
        )
    raw = provenance.merged()
    cert_label = provenance.label(("tls_cert_file",))
    key_label = provenance.label(("tls_key_file",))
    cert, key = raw.get("tls_cert_file"), raw.get("tls_key_file")
    if (cert is None) != (key is None):
        given, missing = (cert_label, key_label) if key is None else (key_label, cert_label)
        yield (
            f"{given}: set without {missing}; HTTPS needs both the certificate and its private key"
        )
        return
    if not (isinstance(cert, str) and isinstance(key, str)):
        return
    cert_path, key_path = Path(cert.strip()), Path(key.strip())
    # Unreadable files are reported by the values' own checks.
    if not (cert_path.is_file() and key_path.is_file()):
        return
    try:
        check_pair(cert_path, key_path)
    except TlsFileError as exc:
        yield f"{cert_label if exc.file == 'cert' else key_label}: {exc}"
