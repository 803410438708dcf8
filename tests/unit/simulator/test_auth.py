"""Unit tests of the simulator's credentials: API key bounds, tokens, expiry and revocation."""

from __future__ import annotations

import base64
import json
import re

import pytest

from watchdog.simulator.auth import (
    Credentials,
    expires_after_text,
    valid_api_key,
    valid_new_password,
)

T0 = 1_700_000_000.0


def creds(**kw: float) -> Credentials:
    return Credentials(
        api_key="k" * 16,
        users={"monitor": "pw"},
        token_lifetime=kw.get("lifetime", 3600.0),
        token_leeway=kw.get("leeway", 600.0),
    )


@pytest.mark.parametrize(
    ("key", "ok"), [(None, False), ("", False), ("k" * 11, False), ("k" * 12, True),
                    ("k" * 128, True), ("k" * 129, False)],
)  # fmt: skip
def test_api_key_length_bounds(key: str | None, ok: bool) -> None:
    """Only keys of 12 to 128 characters enable key auth."""
    assert valid_api_key(key) is ok


def test_invalid_key_matches_nothing() -> None:
    """With an unset or too-short key no presented key matches, not even an empty one."""
    for key in (None, "", "short"):
        c = Credentials(api_key=key, users={}, token_lifetime=1, token_leeway=0)
        assert not c.check_api_key("")
        assert not c.check_api_key(key or "")


def test_api_key_check_and_rotation() -> None:
    """The current key matches; after rotation only the new one does."""
    c = creds()
    assert c.check_api_key("k" * 16)
    assert not c.check_api_key("k" * 15)
    c.set_api_key("n" * 20)
    assert not c.check_api_key("k" * 16)
    assert c.check_api_key("n" * 20)


def test_passwords() -> None:
    """Only a configured user with the right password passes."""
    c = creds()
    assert c.check_password("monitor", "pw")
    assert not c.check_password("monitor", "PW")
    assert not c.check_password("nobody", "pw")


def test_token_is_jwt_with_documented_claims() -> None:
    """Issued tokens are three-part JWTs whose payload has user, iat, exp and wa:rand."""
    token = creds().issue("monitor", T0)
    head, body, sig = token.value.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert set(payload) == {"user", "iat", "exp", "wa:rand"}
    assert payload["user"] == "monitor"
    assert payload["exp"] - payload["iat"] == 3600
    assert head
    assert sig
    assert token.expires_at == T0 + 3600


def test_token_expiry_with_leeway() -> None:
    """A token is valid until expiry plus leeway, inclusive, and refused after."""
    c = creds(lifetime=60, leeway=600)
    token = c.issue("monitor", T0)
    assert c.check_token(token.value, T0 + 660) == token
    assert c.check_token(token.value, T0 + 661) is None


def test_revoke_only_that_token() -> None:
    """Revoking a token leaves the user's other tokens valid; unknown tokens fail."""
    c = creds()
    first, second = c.issue("monitor", T0), c.issue("monitor", T0)
    assert first.value != second.value
    c.revoke(first.value)
    assert c.check_token(first.value, T0) is None
    assert c.check_token(second.value, T0) == second
    assert c.check_token("a.b.c", T0) is None


def test_lifetime_change_applies_to_new_tokens() -> None:
    """Changing token_lifetime affects tokens issued afterwards only."""
    c = creds(lifetime=60, leeway=0)
    old = c.issue("monitor", T0)
    c.token_lifetime = 600
    new = c.issue("monitor", T0)
    assert c.check_token(old.value, T0 + 61) is None
    assert c.check_token(new.value, T0 + 599) == new


def test_expires_after_text() -> None:
    """`expires_after` uses PHP's `Y-m-d H:i:sP` in UTC."""
    assert expires_after_text(0) == "1970-01-01 00:00:00+00:00"
    assert expires_after_text(T0 + 0.9) == "2023-11-14 22:13:20+00:00"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\+00:00", expires_after_text(T0))


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("Aa1!aaaa", True),  # 8 characters
        ("Aa1!aaa", False),  # 7
        ("Aa1!" + "a" * 60, True),  # 64
        ("Aa1!" + "a" * 61, False),  # 65
        ("aa1!aaaa", False),  # no upper-case
        ("AA1!AAAA", False),  # no lower-case
        ("Aab!aaaa", False),  # no digit
        ("Aa1aaaaa", False),  # no special character
        ("Aa1 aaaa", False),  # a space is not special, and not allowed
        ("Aa1!aaaä", False),  # only ASCII
        ("Aa1\\aaaa", True),  # every ASCII punctuation character counts, backslash too
        ("Aa1]aaaa", True),
        ("Aa1!aaaa\n", False),
    ],
)
def test_new_password_rules(password: str, ok: bool) -> None:
    """New passwords follow the Webapp's complexity rules (8-64, digit, upper, lower, special)."""
    assert valid_new_password(password) is ok


def test_password_change_requirement() -> None:
    """Required: every user must change; changing clears it for that user and sets the password."""
    c = Credentials(
        api_key=None,
        users={"a": "pw-a", "b": "pw-b"},
        token_lifetime=1,
        token_leeway=0,
        password_change_required=True,
    )
    assert c.users_to_change_password == ["a", "b"]
    assert c.must_change_password("a")
    c.change_password("a", "New-pw-1!")
    assert not c.must_change_password("a")
    assert c.must_change_password("b")
    assert c.check_password("a", "New-pw-1!")
    assert not c.check_password("a", "pw-a")
    c.require_password_change(False)
    assert not c.must_change_password("b")
    assert c.users_to_change_password == []
    c.require_password_change(True)
    assert c.users_to_change_password == ["a", "b"]
