"""HTTP(S) URLs in configuration: validation with exact messages, and masking for display."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from watchdog.base.redact import MASK

__all__ = ["MASK", "check_http_url", "host_of", "mask_url", "reject_userinfo", "split_list"]


def split_list(text: str) -> list[str]:
    """Split a comma-separated environment value; blanks are dropped so ``a,,b,`` is two items."""
    return [item.strip() for item in text.split(",") if item.strip()]


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        return None
    return parts


def host_of(url: str) -> str | None:
    """The URL's host without brackets or port, or None when there is none."""
    parts = _split(url)
    return parts.hostname if parts and parts.hostname else None


def mask_url(url: str, *, hide_path: bool = False) -> str:
    """``url`` with the userinfo password and query values replaced by ``********``.

    ``hide_path`` is for webhook URLs, whose path is the secret (Slack, Teams, ...): everything
    after the host is masked, and so is a value that does not even parse as a URL.
    """
    parts = _split(url)
    if parts is None or not parts.scheme or not parts.netloc:
        if hide_path:
            return MASK
        # Unparseable (often a missing "https://"): whatever precedes an "@" may be a password.
        return f"{MASK}@{url.rpartition('@')[2]}" if "@" in url else url
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        userinfo = f"{user}:{MASK}" if colon else user
    netloc = f"{userinfo}{at}{hostport}"
    if hide_path:
        tail = f"/{MASK}" if parts.path.strip("/") or parts.query or parts.fragment else parts.path
        return f"{parts.scheme}://{netloc}{tail}"
    query = "&".join(
        f"{key}={MASK}" if sep else key
        for key, sep, _value in (item.partition("=") for item in parts.query.split("&"))
    )
    masked = f"{parts.scheme}://{netloc}{parts.path}"
    if parts.query:
        masked += f"?{query}"
    if parts.fragment:
        masked += f"#{parts.fragment}"
    return masked


def check_http_url(value: object, *, allow_query: bool, secret_path: bool = False) -> str:
    """Return ``value`` as a normalised http(s) URL, or raise ``ValueError`` with a message.

    Messages show the URL masked (``mask_url``), so a password in it never reaches the user's
    terminal or a log. A trailing slash is removed so ``base + "/v1/health"`` is always right.
    """
    if not isinstance(value, str):
        raise ValueError(f"expected an http:// or https:// URL (got {type(value).__name__})")
    url = value.strip()
    shown = mask_url(url, hide_path=secret_path)
    if not url:
        raise ValueError("expected an http:// or https:// URL (got an empty value)")
    if any(char.isspace() for char in url):
        raise ValueError(f"URL {shown!r} must not contain spaces")
    parts = _split(url)
    if parts is None:
        raise ValueError(f"URL {shown!r} has an invalid port (use 1-65535)")
    if parts.scheme.lower() not in ("http", "https") or not url.lower().startswith(
        f"{parts.scheme.lower()}://"
    ):
        raise ValueError(f"URL {shown!r} must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"URL {shown!r} has no host")
    if parts.port == 0:
        raise ValueError(f"URL {shown!r} has an invalid port (use 1-65535)")
    if parts.fragment or "#" in url:
        raise ValueError(f"URL {shown!r} must not have a fragment (#...)")
    if not allow_query and (parts.query or "?" in url):
        raise ValueError(f"URL {shown!r} must not have a query string (?...)")
    scheme = parts.scheme.lower()
    rest = url[len(scheme) + 3 :]
    return f"{scheme}://{rest.rstrip('/')}" if not parts.query else f"{scheme}://{rest}"


def reject_userinfo(url: str, why: str) -> str:
    """``url`` (checked by ``check_http_url``) unless it carries ``user:password@``; ``why`` ends
    the message and says what would happen to the credentials."""
    if "@" in url.split("://", 1)[1].split("/", 1)[0]:
        raise ValueError(f"URL {mask_url(url)!r} must not contain user:password@; {why}")
    return url
