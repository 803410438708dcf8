"""Who may call: the API key, users with passwords, and the bearer tokens they log in for.

Tokens imitate the Webapp's JWTs (reference §4.1): a signed JWT whose payload holds `user`,
`iat`, `exp` and `wa:rand`, also kept server-side so logout revokes it. Expiry is checked with
the source's 600 s clock-skew allowance unless the simulator is told otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import string
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

API_KEY_MIN = 12
API_KEY_MAX = 128
# `Constants::PASSWORD_COMPLEXITY_REGEX` of the 2019 source: 8 to 64 characters drawn only from
# letters, digits and ASCII punctuation (`PASSWORD_SPECIAL_CHARS` is exactly
# `string.punctuation`), with at least one of each kind.
_SPECIAL = re.escape(string.punctuation)
_PASSWORD_RULES = re.compile(
    rf"(?=.*[a-z])(?=.*[A-Z])(?=.*\d)(?=.*[{_SPECIAL}])[A-Za-z\d{_SPECIAL}]{{8,64}}", re.ASCII
)


class KeyScope(StrEnum):
    """Which endpoints accept the API key.

    `all`: current versions (health, /metrics and stats). `health_only`: versions around
    v2.27 answered 403/1005 "User doesn't have permission" for the key on /metrics and stats
    (reference §2.1, ISSUE-42).
    """

    ALL = "all"
    HEALTH_ONLY = "health_only"


@dataclass(frozen=True)
class Token:
    value: str
    user: str
    issued_at: float
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def expires_after_text(epoch: float) -> str:
    """`expires_after` as the Webapp prints it: PHP `Y-m-d H:i:sP` in UTC (reference §4.1)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


def valid_new_password(password: str) -> bool:
    """Whether the Webapp accepts `password` as a new password (reference §4.1)."""
    return _PASSWORD_RULES.fullmatch(password) is not None


def valid_api_key(key: str | None) -> bool:
    """A key outside 12 to 128 characters disables key auth (reference §4.3)."""
    return key is not None and API_KEY_MIN <= len(key) <= API_KEY_MAX


class Credentials:
    """The API key, the users and the issued tokens of one simulated deployment."""

    def __init__(
        self,
        *,
        api_key: str | None,
        users: dict[str, str],
        token_lifetime: float,
        token_leeway: float,
        password_change_required: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self._api_key = api_key
        self._users = dict(users)
        self.password_change_required = False
        self._must_change: set[str] = set()
        self.require_password_change(password_change_required)
        self.token_lifetime = token_lifetime
        self.token_leeway = token_leeway
        self._tokens: dict[str, Token] = {}
        self._signing_key = secrets.token_bytes(32)

    def set_api_key(self, key: str | None) -> None:
        """Rotate the key; the real Webapp needs a restart for this, the simulator does not."""
        with self._lock:
            self._api_key = key

    def check_api_key(self, presented: str) -> bool:
        with self._lock:
            key = self._api_key
        if not valid_api_key(key):
            # Unlike the 2019 code, never compare against an empty key (reference §4.3).
            return False
        assert key is not None
        return hmac.compare_digest(presented.encode(), key.encode())

    def require_password_change(self, required: bool) -> None:
        """On: every user must change the password at the next login, as the default admin
        must on a fresh install (reference §4.1). Off: nobody must."""
        with self._lock:
            self.password_change_required = required
            self._must_change = set(self._users) if required else set()

    def must_change_password(self, user: str) -> bool:
        with self._lock:
            return user in self._must_change

    @property
    def users_to_change_password(self) -> list[str]:
        with self._lock:
            return sorted(self._must_change)

    def change_password(self, user: str, password: str) -> None:
        with self._lock:
            self._users[user] = password
            self._must_change.discard(user)

    def check_password(self, user: str, password: str) -> bool:
        with self._lock:
            expected = self._users.get(user)
        if expected is None:
            # Compare anyway so a wrong user name costs the same time as a wrong password.
            hmac.compare_digest(password.encode(), b"\0" * max(len(password), 1))
            return False
        return hmac.compare_digest(password.encode(), expected.encode())

    def issue(self, user: str, now: float) -> Token:
        payload = {
            "user": user,
            "iat": int(now),
            "exp": int(now + self.token_lifetime),
            "wa:rand": secrets.token_hex(16),
        }
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        sig = _b64(hmac.new(self._signing_key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        token = Token(f"{head}.{body}.{sig}", user, now, now + self.token_lifetime)
        with self._lock:
            # Forget expired tokens here, so a long-running simulator does not grow.
            horizon = now - self.token_leeway
            for stale in [v for v, t in self._tokens.items() if t.expires_at < horizon]:
                del self._tokens[stale]
            self._tokens[token.value] = token
        return token

    def check_token(self, value: str, now: float) -> Token | None:
        """The stored token if it is known, not revoked and not expired (with the leeway)."""
        with self._lock:
            token = self._tokens.get(value)
        if token is None or now > token.expires_at + self.token_leeway:
            return None
        return token

    def revoke(self, value: str) -> None:
        with self._lock:
            self._tokens.pop(value, None)
