"""The field table: every setting once, and the lists about settings that derive from it.

One ``Field`` row per setting holds its YAML key, environment variable, validated type, default,
whether and under which key targets inherit it, whether a reload applies it, whether it is a
secret, how ``watchdog config`` shows it and its line in README.md's reference table. From
``FIELDS`` come ``ENV_VARS``, ``TARGET_OPTIONS``, what a target inherits (``inherit``),
``RELOADABLE``, the secrets to redact (``secret_values``), ``watchdog config``'s output
(``effective``) and the README table (``reference_rows``).

``Settings`` and ``Target`` keep their annotated fields, because mypy reads those;
tests/unit/config/test_fields.py fails when they and this table disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr

from watchdog.base.durations import format_duration
from watchdog.base.secrets import (
    ApiKey,
    ApiKeyFile,
    CloudToken,
    CloudTokenFile,
    Password,
    PasswordFile,
)
from watchdog.base.targets import (
    DEFAULT_CLOUD_HEALTH_INTERVAL,
    DEFAULT_GRAPH_VERSION,
    Labels,
    Target,
    TargetUrl,
    is_cloud,
)
from watchdog.base.urls import MASK, mask_url
from watchdog.base.values import (
    AuthModeSetting,
    CaFile,
    CloudHealthInterval,
    ExternalUrl,
    Flag,
    GraphId,
    GraphVersion,
    HealthInterval,
    HistoryWindow,
    Interval,
    ListenAddress,
    LogFormatSetting,
    LogLevelSetting,
    Shard,
    TargetKind,
    Timeout,
    UrlList,
    Username,
    WebhookUrlList,
)
from watchdog.config.access import BasicAuthUsers, BearerTokenFile, PemFile
from watchdog.config.alerts import AlertSettings

if TYPE_CHECKING:
    from watchdog.config.settings import Settings

__all__ = [
    "CONFIG_FILE_VAR",
    "ENV_VARS",
    "FIELDS",
    "LOGGING_SETTINGS",
    "RELOADABLE",
    "REQUIRED",
    "TARGET_OPTIONS",
    "Field",
    "effective",
    "effective_target",
    "file_variants",
    "inherit",
    "reference_rows",
    "secret_values",
]

CONFIG_FILE_VAR = "WATCHDOG_CONFIG_FILE"
REQUIRED: Any = ...
# "global": a ``Settings`` field; "target": a target's own option only; "source": read from the
# environment and the file but folded into ``targets`` (``web_endpoint``).
Scope = Literal["global", "target", "source"]
# "restart": read at start only; "reload": a reload applies it; "logging": a reload applies it
# when the reloader can reconfigure logging (the daemon's can).
Reload = Literal["restart", "reload", "logging"]
# Which targets inherit a global value: "any" every target, else only targets of that kind.
Kind = Literal["any", "onprem", "cloud"]


def _same(value: Any) -> Any:
    return value


def _path(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _duration(seconds: float) -> str:
    return format_duration(seconds)


def _masked(secret: SecretStr | None) -> str | None:
    return None if secret is None else MASK


def _url(url: str | None) -> str | None:
    return None if url is None else mask_url(url)


@dataclass(frozen=True)
class Field:
    """One setting. ``target_key``: the ``Target`` field that takes this value when the target
    does not set it (a row of scope "target" is a target's own option). ``file_variant``: the
    key of the same value read from a file; setting both is an error, and a target's own file
    replaces the inherited value whichever way it was given. ``credential``: listed after the
    other target options. ``secret``: registered with the log redactor."""

    key: str
    env: str | None
    type: Any
    default: Any = None
    factory: Callable[[], Any] | None = None
    show: Callable[[Any], Any] = _same
    scope: Scope = "global"
    target_key: str | None = None
    file_variant: str | None = None
    credential: bool = False
    secret: bool = False
    kind: Kind = "any"
    reload: Reload = "restart"
    doc: str = ""
    doc_default: str | None = None  # README's default column, when the default's text won't do
    doc_env: str | None = None  # README's variable column, when it is not one variable

    @property
    def target_option(self) -> bool:
        """A key a target may have in the YAML file: inline secrets are deliberately not, so a
        target's credentials come from files and the file itself can be shared."""
        return self.target_key is not None and not self.secret


# A table, laid out by hand so that each row reads as one setting.
# fmt: off
FIELDS: tuple[Field, ...] = (
    # A target's identity, first among its options.
    Field("name", None, str, "", scope="target", target_key="name"),
    Field("url", None, TargetUrl, REQUIRED, show=mask_url, scope="target", target_key="url"),
    Field("kind", None, TargetKind, "onprem", scope="target", target_key="kind"),
    Field("phone_number_id", None, GraphId | None, scope="target", target_key="phone_number_id",
          kind="cloud"),
    Field("waba_id", None, GraphId | None, scope="target", target_key="waba_id", kind="cloud"),
    # Settings, in the order of Settings and of `watchdog config`.
    Field("api_key", "WA_API_KEY", ApiKey | None, show=_masked, target_key="api_key",
          file_variant="api_key_file", credential=True, secret=True, reload="reload",
          kind="onprem", doc="the Webapp's `WA_API_KEY`, 12\u2013128 characters"),
    Field("api_key_file", "WA_API_KEY_FILE", ApiKeyFile | None, show=_path,
          target_key="api_key_file", credential=True, reload="reload",
          kind="onprem",
          doc="a file holding the key instead (re-read on change: rotation without restart)"),
    Field("web_username", "WA_WEB_USERNAME", Username | None, target_key="username",
          credential=True, reload="reload",
          kind="onprem",
          doc="user for `POST /v1/users/login` (bearer mode, or versions that refuse the key)"),
    Field("web_password", "WA_WEB_PASSWORD", Password | None, show=_masked, target_key="password",
          file_variant="web_password_file", credential=True, secret=True, reload="reload",
          kind="onprem", doc="that user's password"),
    Field("web_password_file", "WA_WEB_PASSWORD_FILE", PasswordFile | None, show=_path,
          target_key="password_file", credential=True, reload="reload",
          kind="onprem", doc="a file holding that password instead"),
    Field("auth_mode", "WATCHDOG_AUTH_MODE", AuthModeSetting, "apikey",
          doc="`apikey`, `bearer`, or `auto` (key first, bearer where a version refuses it)"),
    Field("health_interval", "WATCHDOG_HEALTH_INTERVAL", HealthInterval, 15.0, show=_duration,
          target_key="health_interval", reload="reload",
          kind="onprem",
          doc="On-Premises targets: at least `6s` (the API allows 10 health calls per 60 s for "
          "all callers together)"),
    Field("metrics_interval", "WATCHDOG_METRICS_INTERVAL", Interval, 30.0, show=_duration,
          target_key="metrics_interval", reload="reload", kind="onprem", doc="`0` turns it off"),
    Field("stats_app_interval", "WATCHDOG_STATS_APP_INTERVAL", Interval, 60.0, show=_duration,
          target_key="stats_app_interval", reload="reload", kind="onprem", doc="`0` turns it off"),
    Field("stats_db_interval", "WATCHDOG_STATS_DB_INTERVAL", Interval, 0.0, show=_duration,
          target_key="stats_db_interval", reload="reload", doc_default="`0` (off)",
          kind="onprem", doc="db stats are expensive for the API; poll them rarely"),
    Field("cloud_access_token", "WA_CLOUD_ACCESS_TOKEN", CloudToken | None, show=_masked,
          target_key="access_token", file_variant="cloud_access_token_file", credential=True,
          secret=True, kind="cloud", reload="reload",
          doc="Cloud API targets: a system user's access token, sent as `Authorization: Bearer`"),
    Field("cloud_access_token_file", "WA_CLOUD_ACCESS_TOKEN_FILE", CloudTokenFile | None,
          show=_path, target_key="access_token_file", credential=True, kind="cloud",
          reload="reload", doc="a file holding that token instead (re-read on change)"),
    Field("cloud_app_token", "WA_CLOUD_APP_TOKEN", CloudToken | None, show=_masked,
          target_key="app_token", file_variant="cloud_app_token_file", credential=True,
          secret=True, kind="cloud", reload="reload",
          doc="optional app token (the app's id and secret) to read the access token's expiry with "
          "`debug_token`; without it the access token inspects itself"),
    Field("cloud_app_token_file", "WA_CLOUD_APP_TOKEN_FILE", CloudTokenFile | None, show=_path,
          target_key="app_token_file", credential=True, kind="cloud", reload="reload",
          doc="a file holding the app token instead"),
    Field("cloud_health_interval", "WATCHDOG_CLOUD_HEALTH_INTERVAL", CloudHealthInterval,
          DEFAULT_CLOUD_HEALTH_INTERVAL,
          show=_duration, target_key="health_interval", kind="cloud", reload="reload",
          doc="Cloud API targets: the phone number's fields and `health_status`, at least `10s` "
          "(each poll counts against the business's hourly Graph allowance)"),
    Field("cloud_waba_interval", "WATCHDOG_CLOUD_WABA_INTERVAL", Interval, 900.0, show=_duration,
          target_key="waba_interval", kind="cloud", reload="reload",
          doc="the WABA's `health_status`, for targets with a `waba_id`; `0` turns it off"),
    Field("cloud_token_interval", "WATCHDOG_CLOUD_TOKEN_INTERVAL", Interval, 86400.0,
          show=_duration, target_key="token_interval", kind="cloud", reload="reload",
          doc="the access token's expiry through `debug_token`; `0` turns it off"),
    Field("graph_version", "WATCHDOG_GRAPH_VERSION", GraphVersion, DEFAULT_GRAPH_VERSION,
          target_key="graph_version", kind="cloud", reload="reload",
          doc="the Graph API version Cloud API targets are polled with"),
    Field("timeout", "WATCHDOG_TIMEOUT", Timeout, 5.0, show=_duration, target_key="timeout",
          reload="reload", doc="per request, at most `60s`"),
    Field("tls_ca_file", "WATCHDOG_TLS_CA_FILE", CaFile | None, show=_path,
          target_key="tls_ca_file", reload="reload", doc_default="system CAs", kind="onprem",
          doc="On-Premises targets: CA bundle for the Webapp's certificate (the client side; the "
          "watchdog's own HTTPS is `WATCHDOG_TLS_CERT_FILE`)"),
    Field("tls_insecure", "WATCHDOG_TLS_INSECURE", Flag, False, target_key="tls_insecure",
          reload="reload", kind="onprem",
          doc="On-Premises targets: skip certificate verification (the Webapp ships a "
          "self-signed one)"),
    # A Cloud target inherits neither: Graph's certificate is public (a Webapps' CA bundle would
    # refuse it), and the access token must not go out unverified because the Webapps' is
    # self-signed. It may set its own, for an egress proxy that intercepts TLS.
    Field("cloud_tls_ca_file", None, CaFile | None, show=_path, scope="target",
          target_key="tls_ca_file", kind="cloud"),
    Field("cloud_tls_insecure", None, Flag, False, scope="target", target_key="tls_insecure",
          kind="cloud"),
    Field("listen", "WATCHDOG_LISTEN", ListenAddress, "0.0.0.0:9877",
          doc="where the watchdog serves `/metrics`, probes and its status page"),
    Field("tls_cert_file", "WATCHDOG_TLS_CERT_FILE", PemFile | None, show=_path,
          doc_default="— (plain HTTP)",
          doc="serve HTTPS with this certificate and `WATCHDOG_TLS_KEY_FILE` (both or neither; "
          "re-read on change), see [Security](#security)"),
    Field("tls_key_file", "WATCHDOG_TLS_KEY_FILE", PemFile | None, show=_path,
          doc="the certificate's private key (both or neither; re-read on change)"),
    Field("basic_auth_users", "WATCHDOG_BASIC_AUTH_USERS", BasicAuthUsers, factory=dict,
          show=lambda users: dict.fromkeys(users, MASK),
          doc="`user:bcrypt-hash,user2:hash` (YAML: a mapping); required on every path but "
          "`/livez` and `/readyz`"),
    Field("bearer_token_file", "WATCHDOG_BEARER_TOKEN_FILE", BearerTokenFile | None, show=_path,
          doc="a file holding a token accepted as `Authorization: Bearer <token>` "
          "(re-read on change)"),
    Field("external_url", "WATCHDOG_EXTERNAL_URL", ExternalUrl, show=_url,
          doc_default="`http://<host name>:<listen port>`",
          doc="the status page's URL as people and Alertmanager reach it (Alertmanager "
          "`generatorURL`, webhook `externalURL`); no query or fragment; empty means unset"),
    Field("history", "WATCHDOG_HISTORY", HistoryWindow, 86400.0, show=_duration,
          doc="how far back the status page and `/api/v1/status` keep every poll's result, "
          "per target and endpoint (8 bytes a poll; from `1h` to `168h`)"),
    Field("log_format", "WATCHDOG_LOG_FORMAT", LogFormatSetting, "auto", reload="logging",
          doc="`json`, `console`, or `auto` (JSON when stdout is not a terminal)"),
    Field("log_level", "WATCHDOG_LOG_LEVEL", LogLevelSetting, "info", reload="logging",
          doc="`debug`, `info`, `warning`, `error`, `critical`"),
    Field("alertmanager_urls", "WATCHDOG_ALERTMANAGER_URLS", UrlList, factory=list,
          show=lambda urls: [mask_url(url) for url in urls],
          doc="comma-separated Alertmanager base URLs"),
    Field("webhook_urls", "WATCHDOG_WEBHOOK_URLS", WebhookUrlList, factory=list,
          show=lambda urls: [mask_url(url, hide_path=True) for url in urls],
          doc="comma-separated webhook URLs"),
    # One variable per rule and key: watchdog.config.alerts.
    Field("alerts", None, AlertSettings, factory=AlertSettings,
          show=lambda alerts: alerts.effective(), doc_env="WATCHDOG_ALERT_<RULE>_<PARAM>",
          doc_default="see below",
          doc="per-rule alert settings, see [Alert rules](#alert-rules)"),
    Field("shard", "WATCHDOG_SHARD", Shard, "0/1",
          doc="`i/n`: poll only the targets whose stable hash mod n is i"),
    # Last among the settings: its validator reads the values above to fill in what targets
    # inherit.
    Field("targets", "WATCHDOG_TARGETS", list[Target], factory=list,
          show=lambda targets: [effective_target(target) for target in targets], reload="reload",
          doc="`name=url,name2=url2`, or bare URLs named by their host"),
    Field("web_endpoint", "WA_WEB_ENDPOINT", str, scope="source",
          doc="the official monitoring stack's `host:port` (https assumed); one more target"),
    Field("cloud_targets", "WATCHDOG_CLOUD_TARGETS", str, scope="source",
          doc="Cloud API targets: `name=PHONE_NUMBER_ID` or `name=PHONE_NUMBER_ID:WABA_ID`, "
          "comma-separated (in YAML: `targets` entries with `kind: cloud`)"),
    Field("labels", None, Labels, factory=dict, show=dict, scope="target", target_key="labels"),
)
# fmt: on

_SETTINGS = tuple(field for field in FIELDS if field.scope == "global")
_INHERITED = tuple(field for field in _SETTINGS if field.target_key is not None)
_BY_KEY = {field.key: field for field in FIELDS}

# YAML key (= Settings field, except web_endpoint, which becomes a target) -> environment
# variable. Nothing else is ever read from the environment, except the alert variables
# (watchdog.config.alerts), one per rule and key of the `alerts` mapping.
ENV_VARS: dict[str, str] = {field.key: field.env for field in FIELDS if field.env is not None}


def _first_per_option(rows: list[Field]) -> list[Field]:
    # health_interval has two rows (the On-Prem and the Cloud default); they show alike.
    seen: dict[str, Field] = {}
    for row in rows:
        seen.setdefault(str(row.target_key), row)
    return list(seen.values())


_TARGET_FIELDS = tuple(
    _first_per_option([field for field in FIELDS if field.target_option and not field.credential])
    + _first_per_option([field for field in FIELDS if field.target_option and field.credential])
)
# The kinds of target each option applies to.
_OPTION_KINDS: dict[str, frozenset[str]] = {}
for _field in FIELDS:
    if _field.target_key is not None:
        _OPTION_KINDS[_field.target_key] = _OPTION_KINDS.get(_field.target_key, frozenset()) | {
            _field.kind
        }
# The keys a target may have in the YAML file, as `watchdog config` lists them.
TARGET_OPTIONS: tuple[str, ...] = tuple(str(field.target_key) for field in _TARGET_FIELDS)
# Settings a reload applies: the targets and the global values they inherit.
RELOADABLE: tuple[str, ...] = tuple(field.key for field in FIELDS if field.reload == "reload")
LOGGING_SETTINGS: tuple[str, ...] = tuple(
    field.key for field in FIELDS if field.reload == "logging"
)


def inherit(raw: Mapping[str, Any], globals_: Mapping[str, Any]) -> dict[str, Any]:
    """A raw target with every global value it does not set itself, of those its kind uses."""
    # An explicit YAML null means "not set here", so the global value applies.
    own = {key: value for key, value in raw.items() if value is not None}
    target = dict(own)
    kind = "cloud" if is_cloud(own) else "onprem"
    for field in _INHERITED:
        if field.kind not in ("any", kind):
            continue
        key = str(field.target_key)
        if globals_.get(field.key) is None:
            continue
        if field.file_variant is not None:
            # A credential is inherited as a whole: a target's own key file replaces the global
            # key whether that was given inline or as a file, and likewise for the password.
            if _BY_KEY[field.file_variant].target_key not in own:
                target[key] = globals_[field.key]
        elif key not in own:
            target[key] = globals_[field.key]
    return target


def file_variants() -> list[tuple[str, str]]:
    """(value key, file key) pairs: a value that may be given inline or read from a file."""
    return [(field.key, field.file_variant) for field in FIELDS if field.file_variant]


def secret_values(settings: Settings) -> Iterator[SecretStr | None]:
    """Every configured secret, global and per target, for the log redactor."""
    secrets = [field for field in _SETTINGS if field.secret]
    for field in secrets:
        yield getattr(settings, field.key)
    for target in settings.targets:
        for field in secrets:
            yield getattr(target, str(field.target_key))


def effective(settings: Settings) -> dict[str, Any]:
    """Plain data keyed by YAML key, secrets masked; it reads back as a config file."""
    return {field.key: field.show(getattr(settings, field.key)) for field in _SETTINGS}


def effective_target(target: Target) -> dict[str, Any]:
    """A target's options as ``effective`` shows them, those of its kind; its own secrets are
    not options."""
    return {
        str(field.target_key): field.show(getattr(target, str(field.target_key)))
        for field in _TARGET_FIELDS
        if _OPTION_KINDS[str(field.target_key)] & {"any", target.kind}
    }


def reference_rows() -> list[tuple[str, str, str, str]]:
    """README.md's configuration table: variable, YAML key, default, meaning."""
    rows = []
    for field in FIELDS:
        if field.scope == "target":
            continue
        default = field.doc_default
        if default is None:
            value = field.factory() if field.factory is not None else field.default
            shown = field.show(value)
            text = str(shown).lower() if isinstance(shown, bool) else shown
            default = f"`{text}`" if text not in (None, [], {}) else "—"
        rows.append((f"`{field.doc_env or field.env}`", f"`{field.key}`", default, field.doc))
    rows.append((f"`{CONFIG_FILE_VAR}`", "—", "—", "the YAML file (environment only)"))
    return rows
