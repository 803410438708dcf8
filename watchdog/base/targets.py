"""A monitored deployment, a *target*: URL, name, poll intervals, TLS, labels, credentials."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from watchdog.base.secrets import (
    ApiKey,
    ApiKeyFile,
    CloudToken,
    CloudTokenFile,
    Password,
    PasswordFile,
)
from watchdog.base.urls import check_http_url, host_of, mask_url, reject_userinfo, split_list
from watchdog.base.values import (
    MIN_CLOUD_HEALTH_INTERVAL,
    CaFile,
    Flag,
    GraphId,
    GraphVersion,
    HealthInterval,
    Interval,
    TargetKind,
    Timeout,
    Username,
    config_problems,
)

__all__ = [
    "CLOUD_ONLY",
    "GRAPH_URL",
    "ONPREM_ONLY",
    "RESERVED_LABELS",
    "Labels",
    "Target",
    "TargetUrl",
    "default_target_name",
    "endpoint_url",
    "is_cloud",
    "parse_cloud_target_list",
    "parse_target_list",
]

# Where the Cloud API is; a cloud target's `url` points elsewhere only for the simulator or a
# proxy.
GRAPH_URL = "https://graph.facebook.com"
DEFAULT_GRAPH_VERSION = "v25.0"
# Reference §9: a number's health every 5 min uses 12 of the hourly calls.
DEFAULT_CLOUD_HEALTH_INTERVAL = 300.0
# A target's options that only one kind uses: setting one on the other kind is a mistake worth
# an error (an API key on a Cloud target would silently do nothing).
ONPREM_ONLY = ("api_key", "api_key_file", "username", "password", "password_file")
CLOUD_ONLY = ("phone_number_id", "waba_id", "access_token", "access_token_file", "app_token",
              "app_token_file")  # fmt: skip
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_NAME_RULE = "use 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit"
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Labels the watchdog puts on its own series and alerts; a user label with one of these names
# would collide with them in every query and routing rule.
RESERVED_LABELS = (
    "target",
    "node",
    "endpoint",
    "role",
    "status",
    "reason",
    "version",
    "api_status",
    "alertname",
    "severity",
    "diagnosis",
    "problem",
)


def is_cloud(raw: Mapping[str, Any]) -> bool:
    """Whether a raw (not yet validated) target is of kind cloud, as validation will read it."""
    kind = raw.get("kind")
    return isinstance(kind, str) and kind.strip().lower() == "cloud"


def default_target_name(url: str) -> str | None:
    """A target without a name is named by its URL's host: ``https://wa-prod.example:443`` ->
    ``wa-prod.example``."""
    return host_of(url)


def endpoint_url(value: str) -> str:
    """``WA_WEB_ENDPOINT`` is ``host:port`` in the official monitoring stack; https is assumed."""
    text = value.strip()
    return text if "://" in text else f"https://{text}"


def parse_target_list(text: str) -> list[dict[str, Any]]:
    """Parse ``name=url,name2=url2`` (or bare URLs) into raw target mappings, unvalidated."""
    return [_parse_target_item(item) for item in split_list(text)]


def parse_cloud_target_list(text: str) -> list[dict[str, Any]]:
    """Parse ``name=PHONE_NUMBER_ID[:WABA_ID],...`` (or bare ids) into raw cloud targets."""
    targets = []
    for item in split_list(text):
        name, sep, ids = item.rpartition("=")
        number, _, waba = ids.partition(":")
        raw: dict[str, Any] = {"kind": "cloud", "phone_number_id": number.strip()}
        if sep:
            raw["name"] = name.strip()
        if waba.strip():
            raw["waba_id"] = waba.strip()
        targets.append(raw)
    return targets


def _parse_target_item(item: str) -> dict[str, Any]:
    name, sep, url = item.partition("=")
    # An "=" after the scheme belongs to the URL (a bare URL); names cannot contain "://".
    if sep and "://" not in name:
        return {"name": name.strip(), "url": url.strip()}
    return {"url": item}


def _check_labels(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(
            f"expected a mapping of label names to values (got {type(value).__name__})"
        )
    labels: dict[str, str] = {}
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for key, raw in value.items():
        problem = _label_problem(key, raw)
        if problem:
            problems.append(((str(key),), problem))
        else:
            labels[key] = str(raw)
    if problems:
        raise config_problems(problems)
    return labels


def _label_problem(key: object, raw: object) -> str | None:
    if not isinstance(key, str) or not _LABEL.fullmatch(key):
        return (
            f"label name {str(key)!r} is not a valid Prometheus label name "
            "(letters, digits and '_', not starting with a digit)"
        )
    if key.startswith("__"):
        return f"label name {key!r} must not start with '__', which Prometheus reserves"
    if key in RESERVED_LABELS:
        return (
            f"label name {key!r} is reserved for the watchdog's own labels "
            f"({', '.join(RESERVED_LABELS)})"
        )
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return f"label {key!r} needs a text value (got {type(raw).__name__})"
    return None


def _check_target_url(value: object) -> str:
    # httpx would send user:password@ as Basic auth in place of the Apikey header.
    return reject_userinfo(
        check_http_url(value, allow_query=False),
        "set the credentials with WA_API_KEY or WA_WEB_USERNAME/WA_WEB_PASSWORD",
    )


TargetUrl = Annotated[str, BeforeValidator(_check_target_url)]
Labels = Annotated[dict[str, str], BeforeValidator(_check_labels)]


class Target(BaseModel):
    """One deployment to poll, with effective values: what it does not set is inherited from
    the global settings when ``watchdog.config.settings`` builds it, as the field table
    (``watchdog.config.fields``) says; the defaults below apply to a ``Target`` built on its
    own, e.g. in tests. The fields restate that table's rows; test_fields checks they agree.

    ``url`` is the base URL (scheme, host, port, optional path prefix, no trailing slash).
    Credentials: ``api_key`` (inline, global only) or ``api_key_file``; ``username`` with
    ``password`` or ``password_file`` for bearer login.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""  # filled from the URL's host when not given (see _default_name)
    url: TargetUrl
    kind: TargetKind = "onprem"
    health_interval: HealthInterval = 15.0
    metrics_interval: Interval = 30.0
    stats_app_interval: Interval = 60.0
    stats_db_interval: Interval = 0.0
    timeout: Timeout = 5.0
    tls_ca_file: CaFile | None = None
    tls_insecure: Flag = False
    labels: Labels = Field(default_factory=dict)
    api_key: ApiKey | None = None
    api_key_file: ApiKeyFile | None = None
    username: Username | None = None
    password: Password | None = None
    password_file: PasswordFile | None = None
    # A Cloud API (Graph) target: the number, optionally its WABA, and the tokens.
    phone_number_id: GraphId | None = None
    waba_id: GraphId | None = None
    graph_version: GraphVersion = DEFAULT_GRAPH_VERSION
    waba_interval: Interval = 900.0
    token_interval: Interval = 86400.0
    access_token: CloudToken | None = None
    access_token_file: CloudTokenFile | None = None
    app_token: CloudToken | None = None
    app_token_file: CloudTokenFile | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: object) -> object:
        if isinstance(data, dict) and is_cloud(data):
            if data.get("url") is None:
                data = {**data, "url": GRAPH_URL}
            if data.get("health_interval") is None:
                # The field's default is the On-Prem one; the settings pass the Cloud default
                # (cloud_health_interval), and a Target built on its own gets it here.
                data = {**data, "health_interval": DEFAULT_CLOUD_HEALTH_INTERVAL}
            number = data.get("phone_number_id")
            if data.get("name") is None and isinstance(number, str | int):
                # Every cloud target has the same host: the number names it instead.
                data = {**data, "name": str(number).strip()}
        if not isinstance(data, dict) or data.get("name") is not None:
            return data
        url = data.get("url")
        host = default_target_name(url.strip()) if isinstance(url, str) else None
        if host is not None and not _NAME.fullmatch(host):
            raise ValueError(
                f"the URL's host {host!r} cannot be a target name ({_NAME_RULE}); "
                "give the target a name"
            )
        # Without a host the URL is invalid and reported as such; a placeholder name keeps
        # a second, confusing error about the name out of the report.
        return {**data, "name": host or "unnamed"}

    @model_validator(mode="after")
    def _kind_options(self) -> Target:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        other = CLOUD_ONLY if self.kind == "onprem" else ONPREM_ONLY
        for key in other:
            if getattr(self, key) is not None:
                problems.append(((key,), f"is not an option of a target of kind {self.kind!r}"))
        if self.kind == "cloud":
            if self.phone_number_id is None:
                problems.append(
                    (("phone_number_id",), "a target of kind 'cloud' needs the phone number's id")
                )
            if self.health_interval < MIN_CLOUD_HEALTH_INTERVAL:
                problems.append(
                    (
                        ("health_interval",),
                        f"must be at least {MIN_CLOUD_HEALTH_INTERVAL:g}s for a Cloud API target",
                    )
                )
        if problems:
            raise config_problems(problems)
        return self

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected text (got {type(value).__name__})")
        if not _NAME.fullmatch(value):
            raise ValueError(f"target name {value!r} is invalid: {_NAME_RULE}")
        return value

    def __hash__(self) -> int:
        # Labels are a dict, so the generated field-wise hash would fail; name and URL identify
        # a target, and equal targets still hash equal.
        return hash((self.name, self.url))

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            yield key, mask_url(value) if key == "url" else value
