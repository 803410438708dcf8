"""Secrets in configuration: the API key and the password, inline or read from small files.

A leaf module (it imports only ``watchdog.base.errors``), so the API client can read a rotated
key or password file again without importing the config loader. The value types raise
``ValueError`` with text that reads well after a variable name, like those of
``watchdog.base.values``; no message ever quotes a secret or the content of a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, SecretStr

from watchdog.base.errors import ConfigError

__all__ = [
    "API_KEY_MAX",
    "API_KEY_MIN",
    "BEARER_TOKEN_FILE_VAR",
    "BEARER_TOKEN_MAX",
    "BEARER_TOKEN_MIN",
    "CLOUD_TOKEN_MAX",
    "CLOUD_TOKEN_MIN",
    "ApiKey",
    "ApiKeyFile",
    "CloudToken",
    "CloudTokenFile",
    "Password",
    "PasswordFile",
    "api_key_from_file",
    "bcrypt_cost",
    "bearer_token_from_file",
    "check_api_key",
    "cloud_token_from_file",
    "file_path",
    "password_from_file",
    "read_api_key_file",
    "read_bearer_token_file",
    "read_cloud_token_file",
    "read_password_file",
    "read_secret_text",
]

API_KEY_MIN = 12
API_KEY_MAX = 128
BEARER_TOKEN_MIN = 16
BEARER_TOKEN_MAX = 4096
# The runtime re-reads the token file and names this variable when it cannot; the field table
# declares the same name (tests/unit/config/test_fields.py checks they agree).
BEARER_TOKEN_FILE_VAR = "WATCHDOG_BEARER_TOKEN_FILE"  # noqa: S105 (a variable name)
# A Graph access token (a system user's, or an app token `app_id|app_secret`): Meta does not
# document a length; the ones seen are 100-300 characters. The bounds only catch a wrong file.
CLOUD_TOKEN_MIN = 16
CLOUD_TOKEN_MAX = 4096
# A key or password file is a few bytes; reading at most this much bounds a mistaken path.
_MAX_SECRET_FILE = 64 * 1024


def file_path(value: object) -> Path:
    """A path setting's value as a ``Path``; ``ValueError`` for anything that is not one."""
    if isinstance(value, Path):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a file path (got {type(value).__name__})")
    if not value.strip():
        raise ValueError("expected a file path (got an empty value)")
    # Surrounding blanks come from templating (a chart's "{{ .Values.x }} "), not file names.
    return Path(value.strip())


def read_secret_text(path: Path) -> str:
    """A small secret file's text (key, password, token); ``ValueError`` says what is wrong."""
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_SECRET_FILE + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > _MAX_SECRET_FILE:
        raise ValueError(
            f"{path} is larger than {_MAX_SECRET_FILE // 1024} KiB; is it the right file?"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None


def _api_key_problem(key: str) -> str | None:
    if not API_KEY_MIN <= len(key) <= API_KEY_MAX:
        return (
            f"must be {API_KEY_MIN} to {API_KEY_MAX} characters long "
            f"(got {len(key)}; the key itself is not shown)"
        )
    # It travels in an HTTP header, which only carries visible ASCII (and spaces) safely.
    if not all(" " <= char <= "~" for char in key):
        return "must be printable ASCII; it contains a control or non-ASCII character"
    return None


def check_api_key(value: object) -> SecretStr:
    """The key, stripped of surrounding whitespace (a pasted newline is not part of it)."""
    return _checked_text(value, _api_key_problem)


def _checked_text(value: object, problem_of: Callable[[str], str | None]) -> SecretStr:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected text (got {type(value).__name__})")
    text = str(value).strip()
    problem = problem_of(text)
    if problem:
        raise ValueError(problem)
    return SecretStr(text)


def api_key_from_file(value: object) -> SecretStr:
    """Read a key file; its content, stripped, must be a valid key. Raises ``ValueError``."""
    path = file_path(value)
    key = read_secret_text(path).strip()
    if not key:
        raise ValueError(
            f"{path} is empty; it should hold the API key "
            f"({API_KEY_MIN} to {API_KEY_MAX} characters)"
        )
    if not API_KEY_MIN <= len(key) <= API_KEY_MAX:
        raise ValueError(
            f"{path} holds {len(key)} characters; an API key is {API_KEY_MIN} to {API_KEY_MAX} "
            "characters long (the content is not shown)"
        )
    problem = _api_key_problem(key)
    if problem:
        raise ValueError(f"the key in {path} {problem} (the content is not shown)")
    return SecretStr(key)


def _api_key_file(value: object) -> Path:
    api_key_from_file(value)
    return file_path(value)


def password_from_file(value: object) -> SecretStr:
    """Read a password file. Only the line ending is removed: spaces may belong to a password."""
    path = file_path(value)
    password = read_secret_text(path).rstrip("\r\n")
    if not password:
        raise ValueError(f"{path} is empty; it should hold the password")
    return SecretStr(password)


def _password_file(value: object) -> Path:
    password_from_file(value)
    return file_path(value)


def _password(value: object) -> SecretStr:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected text (got {type(value).__name__})")
    if not str(value):
        raise ValueError("is empty; unset it or give the password")
    return SecretStr(str(value))


def read_api_key_file(
    path: str | os.PathLike[str], *, variable: str = "WA_API_KEY_FILE"
) -> SecretStr:
    """Read and check an API key file (the client calls this again when the file changes).

    Raises ``ConfigError`` with one message that starts with ``variable``.
    """
    return _named(api_key_from_file, path, variable)


def read_password_file(
    path: str | os.PathLike[str], *, variable: str = "WA_WEB_PASSWORD_FILE"
) -> SecretStr:
    """Read a password file (line ending removed); ``ConfigError`` names ``variable``."""
    return _named(password_from_file, path, variable)


def bcrypt_cost(hashed: str) -> int:
    """The cost (log2 of the rounds) of a hash that passed validation."""
    return int(hashed[4:6])


def bearer_token_from_file(value: object) -> SecretStr:
    """Read a bearer token file; its content, stripped, must be a usable token. ``ValueError``."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("expected a file path (got an empty value)")
    if not isinstance(value, str | Path):
        raise ValueError(f"expected a file path (got {type(value).__name__})")
    path = Path(value.strip()) if isinstance(value, str) else value
    token = read_secret_text(path).strip()
    if not token:
        raise ValueError(
            f"{path} is empty; it should hold the token (at least {BEARER_TOKEN_MIN} characters)"
        )
    if not BEARER_TOKEN_MIN <= len(token) <= BEARER_TOKEN_MAX:
        raise ValueError(
            f"{path} holds {len(token)} characters; a token is {BEARER_TOKEN_MIN} to "
            f"{BEARER_TOKEN_MAX} characters long (the content is not shown; make one with: "
            "openssl rand -hex 32)"
        )
    if not all("!" <= char <= "~" for char in token):
        raise ValueError(
            f"the token in {path} must be printable ASCII without spaces, as it travels in an "
            "Authorization header (the content is not shown)"
        )
    return SecretStr(token)


def read_bearer_token_file(
    path: str | os.PathLike[str], *, variable: str = BEARER_TOKEN_FILE_VAR
) -> SecretStr:
    """Read a bearer token file; ``ConfigError`` names ``variable``."""
    return _named(bearer_token_from_file, path, variable)


def _named(
    read: Callable[[object], SecretStr], path: str | os.PathLike[str], variable: str
) -> SecretStr:
    # The runtime re-reads these files; its error names the variable as the loader's would.
    try:
        return read(Path(path))
    except ValueError as exc:
        raise ConfigError([f"{variable}: {exc}"]) from None


def _cloud_token_problem(token: str) -> str | None:
    if not CLOUD_TOKEN_MIN <= len(token) <= CLOUD_TOKEN_MAX:
        return (
            f"must be {CLOUD_TOKEN_MIN} to {CLOUD_TOKEN_MAX} characters long "
            f"(got {len(token)}; the token itself is not shown)"
        )
    # It travels in an Authorization header and a query string.
    if not all("!" <= char <= "~" for char in token):
        return "must be printable ASCII without spaces; it is not (the token is not shown)"
    return None


def _cloud_token(value: object) -> SecretStr:
    return _checked_text(value, _cloud_token_problem)


def cloud_token_from_file(value: object) -> SecretStr:
    """Read a Graph token file; its content, stripped, must be a usable token. ``ValueError``."""
    path = file_path(value)
    token = read_secret_text(path).strip()
    if not token:
        raise ValueError(f"{path} is empty; it should hold the access token")
    problem = _cloud_token_problem(token)
    if problem:
        raise ValueError(f"the token in {path} {problem}")
    return SecretStr(token)


def _cloud_token_file(value: object) -> Path:
    cloud_token_from_file(value)
    return file_path(value)


def read_cloud_token_file(
    path: str | os.PathLike[str], *, variable: str = "WA_CLOUD_ACCESS_TOKEN_FILE"
) -> SecretStr:
    """Read a Graph token file again (rotation); ``ConfigError`` names ``variable``."""
    return _named(cloud_token_from_file, path, variable)


ApiKey = Annotated[SecretStr, BeforeValidator(check_api_key)]
ApiKeyFile = Annotated[Path, BeforeValidator(_api_key_file)]
Password = Annotated[SecretStr, BeforeValidator(_password)]
PasswordFile = Annotated[Path, BeforeValidator(_password_file)]
CloudToken = Annotated[SecretStr, BeforeValidator(_cloud_token)]
CloudTokenFile = Annotated[Path, BeforeValidator(_cloud_token_file)]
