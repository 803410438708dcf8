"""The watchdog's configuration: environment variables, an optional YAML file, exact messages.

``load_settings()`` is the way in. It reads only the variables of the field table
(``ENV_VARS`` in ``watchdog.config.fields``, plus ``WATCHDOG_CONFIG_FILE``) from the mapping it
is given, and the YAML file that one names; the environment wins over the file, key by key.
Every problem becomes one message that starts with the name the user wrote
(``WATCHDOG_TIMEOUT: ...`` or ``targets[0].timeout in /etc/wa.yaml: ...``), and all of them are
raised together as one ``ConfigError``. ``Settings(...)`` called directly is a plain model: it
never reads the environment.

Per-rule alert settings live in ``watchdog.config.alerts`` (``Settings.alerts``); their
variables are ``WATCHDOG_ALERT_<RULE>_<KEY>``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from watchdog.base.errors import ConfigError
from watchdog.base.secrets import (
    ApiKey,
    ApiKeyFile,
    CloudToken,
    CloudTokenFile,
    Password,
    PasswordFile,
)
from watchdog.base.targets import DEFAULT_GRAPH_VERSION, Target, is_cloud
from watchdog.base.urls import mask_url
from watchdog.base.values import (
    AuthModeSetting,
    CaFile,
    CloudHealthInterval,
    ExternalUrl,
    Flag,
    GraphVersion,
    HealthInterval,
    HistoryWindow,
    Interval,
    ListenAddress,
    LogFormatSetting,
    LogLevelSetting,
    Shard,
    Timeout,
    UrlList,
    Username,
    WebhookUrlList,
    config_problems,
    split_listen,
    split_shard,
)
from watchdog.config import fields
from watchdog.config.access import BasicAuthUsers, BearerTokenFile, PemFile, access_problems
from watchdog.config.alerts import ALERT_RULES, AlertSettings
from watchdog.config.fields import CONFIG_FILE_VAR, ENV_VARS
from watchdog.config.provenance import Provenance
from watchdog.config.sources import EnvSource, YamlSource, raw_target_name

__all__ = [
    "ALERT_RULES",
    "AlertSettings",
    "Settings",
    "Target",
    "load_settings",
]


class Settings(BaseSettings):
    """The effective configuration; immutable. Field names are the YAML keys.

    Targets: ``WATCHDOG_TARGETS`` and ``WA_WEB_ENDPOINT`` (or ``targets`` and ``web_endpoint`` in
    the file) both contribute. When either variable is set, the environment decides which
    targets exist and their URLs; a file target of the same name still contributes its other
    options (intervals, labels, TLS, credential files), and other file targets are dropped.
    A target inherits every global value it does not set, so each ``Target`` holds effective
    values. Durations are float seconds; 0 turns an optional poll off.

    ``external_url`` is how people and Alertmanager reach the status page (``status_url``
    falls back to this host's name and the listen port); ``alerts`` holds each alert rule's
    settings.

    The fields restate the rows of ``watchdog.config.fields.FIELDS`` (mypy reads annotations,
    not the table); tests/unit/config/test_fields.py fails when the two disagree.
    """

    model_config = SettingsConfigDict(frozen=True, extra="forbid", case_sensitive=True)

    api_key: ApiKey | None = None
    api_key_file: ApiKeyFile | None = None
    web_username: Username | None = None
    web_password: Password | None = None
    web_password_file: PasswordFile | None = None
    auth_mode: AuthModeSetting = "apikey"
    health_interval: HealthInterval = 15.0
    metrics_interval: Interval = 30.0
    stats_app_interval: Interval = 60.0
    stats_db_interval: Interval = 0.0
    # Cloud API (Graph) targets inherit these.
    cloud_access_token: CloudToken | None = None
    cloud_access_token_file: CloudTokenFile | None = None
    cloud_app_token: CloudToken | None = None
    cloud_app_token_file: CloudTokenFile | None = None
    cloud_health_interval: CloudHealthInterval = 300.0
    cloud_waba_interval: Interval = 900.0
    cloud_token_interval: Interval = 86400.0
    graph_version: GraphVersion = DEFAULT_GRAPH_VERSION
    timeout: Timeout = 5.0
    tls_ca_file: CaFile | None = None
    tls_insecure: Flag = False
    listen: ListenAddress = "0.0.0.0:9877"
    # The watchdog's own endpoints (watchdog.config.access); tls_ca_file is the API's side.
    tls_cert_file: PemFile | None = None
    tls_key_file: PemFile | None = None
    basic_auth_users: BasicAuthUsers = Field(default_factory=dict)
    bearer_token_file: BearerTokenFile | None = None
    external_url: ExternalUrl = None
    history: HistoryWindow = 86400.0
    log_format: LogFormatSetting = "auto"
    log_level: LogLevelSetting = "info"
    alertmanager_urls: UrlList = Field(default_factory=list)
    webhook_urls: WebhookUrlList = Field(default_factory=list)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    shard: Shard = "0/1"
    # Last: its validator reads the global values validated above to fill in what targets inherit.
    targets: list[Target] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The default env source would read unprefixed names such as API_KEY or TARGETS;
        # load_settings() passes its own sources, so direct construction reads nothing.
        return (init_settings,)

    @field_validator("targets", mode="before")
    @classmethod
    def _inherit(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, list):
            return value
        return [
            fields.inherit(item, info.data) if isinstance(item, dict) else item for item in value
        ]

    @field_validator("targets")
    @classmethod
    def _unique_names(cls, targets: list[Target]) -> list[Target]:
        seen: set[str] = set()
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for index, target in enumerate(targets):
            if target.name in seen:
                problems.append(
                    (
                        (index, "name"),
                        f"duplicate target name {target.name!r}: target names must be unique "
                        "(a target without a name is named by its URL's host)",
                    )
                )
            seen.add(target.name)
        if problems:
            raise config_problems(problems)
        return targets

    @property
    def listen_host(self) -> str:
        """The address to bind, without IPv6 brackets."""
        return split_listen(self.listen)[0]

    @property
    def listen_port(self) -> int:
        return split_listen(self.listen)[1]

    @property
    def status_url(self) -> str:
        """The status page's URL for alerts (generatorURL, externalURL): ``external_url``, or
        ``http(s)://<this host's name>:<listen port>`` when that is not set."""
        if self.external_url is not None:
            return self.external_url
        scheme = "http" if self.tls_cert_file is None else "https"
        return f"{scheme}://{socket.gethostname()}:{self.listen_port}"

    @property
    def shard_index(self) -> int:
        return split_shard(self.shard)[0]

    @property
    def shard_count(self) -> int:
        return split_shard(self.shard)[1]

    def effective(self) -> dict[str, Any]:
        """Plain data keyed by YAML key, secrets masked; it reads back as a config file."""
        return fields.effective(self)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            if key == "alertmanager_urls":
                yield key, [mask_url(url) for url in value]
            elif key == "webhook_urls":
                yield key, [mask_url(url, hide_path=True) for url in value]
            else:
                yield key, value


def load_settings(
    environ: Mapping[str, str] | None = None, *, require_targets: bool = True
) -> Settings:
    """Build the settings from ``environ`` (default ``os.environ``) and its config file.

    Raises ``ConfigError`` listing every problem found. ``require_targets=False`` accepts a
    configuration without targets (``watchdog config``, ``watchdog simulate``); credentials are
    only required when there are targets to use them on.
    """
    env = os.environ if environ is None else environ
    config_file = env.get(CONFIG_FILE_VAR, "").strip()
    try:
        yaml_source = YamlSource(Settings, Path(config_file)) if config_file else None
    except ValueError as exc:
        raise ConfigError([f"{CONFIG_FILE_VAR}: {exc}"]) from None
    env_source = EnvSource(Settings, env, yaml_source)
    provenance = Provenance(env_source, yaml_source)

    problems = list(yaml_source.problems) if yaml_source else []
    problems += env_source.problems
    settings: Settings | None = None
    sources = (env_source, yaml_source) if yaml_source else (env_source,)
    try:
        settings = Settings(_build_sources=(sources, {}))
    except ValidationError as exc:
        problems.extend(provenance.messages(exc))
    problems.extend(_cross_problems(provenance, require_targets=require_targets))
    problems.extend(access_problems(env, provenance))
    if problems or settings is None:
        raise ConfigError(dict.fromkeys(problems))
    return settings


def _cross_problems(provenance: Provenance, *, require_targets: bool) -> Iterable[str]:
    """Problems between settings, judged on what was given, so that they are reported along
    with the problems of single values rather than only once those are fixed."""
    raw = provenance.merged()

    def given(key: str) -> bool:
        return raw.get(key) is not None

    for value_key, file_key in fields.file_variants():
        if given(value_key) and given(file_key):
            yield (
                f"{provenance.label((file_key,))}: set together with "
                f"{provenance.label((value_key,))}; set only one of them"
            )

    every = [target for target in raw.get("targets") or [] if isinstance(target, dict)]
    if not every:
        if require_targets:
            yield (
                f"{ENV_VARS['targets']}: no targets to monitor; set {ENV_VARS['targets']} "
                f"(name=url,name2=url2 or bare URLs) or {ENV_VARS['web_endpoint']} (host:port), "
                "or list targets in the config file"
            )
        return
    yield from _cloud_credential_problems([target for target in every if is_cloud(target)], given)
    targets = [target for target in every if not is_cloud(target)]
    if not targets:
        return

    mode = raw.get("auth_mode", "apikey")
    mode = mode.strip().lower() if isinstance(mode, str) else mode

    def lacking(key: str) -> list[str]:
        return [raw_target_name(target) for target in targets if target.get(key) is None]

    if mode in ("apikey", "auto") and not (given("api_key") or given("api_key_file")):
        missing = lacking("api_key_file")
        if missing:
            own = (
                ""
                if len(missing) == len(targets)
                else (f" (or api_key_file in the config file for targets {', '.join(missing)})")
            )
            yield (
                f"{ENV_VARS['api_key']}: not set; auth mode {mode!r} needs an API key: set "
                f"{ENV_VARS['api_key']} or {ENV_VARS['api_key_file']}{own}"
            )
    if mode == "bearer":
        if not given("web_username") and lacking("username"):
            yield (
                f"{ENV_VARS['web_username']}: not set; auth mode 'bearer' needs a user name and a "
                f"password: set {ENV_VARS['web_username']}"
            )
        if not (given("web_password") or given("web_password_file")) and lacking("password_file"):
            yield (
                f"{ENV_VARS['web_password']}: not set; auth mode 'bearer' needs a user name and a "
                f"password: set {ENV_VARS['web_password']} or {ENV_VARS['web_password_file']}"
            )


def _cloud_credential_problems(
    targets: list[dict[str, Any]], given: Callable[[str], bool]
) -> Iterable[str]:
    if not targets or given("cloud_access_token") or given("cloud_access_token_file"):
        return
    missing = [
        raw_target_name(target) for target in targets if target.get("access_token_file") is None
    ]
    if not missing:
        return
    own = (
        ""
        if len(missing) == len(targets)
        else f" (or access_token_file in the config file for targets {', '.join(missing)})"
    )
    yield (
        f"{ENV_VARS['cloud_access_token']}: not set; Cloud API targets need an access token: set "
        f"{ENV_VARS['cloud_access_token']} or {ENV_VARS['cloud_access_token_file']}{own}"
    )
