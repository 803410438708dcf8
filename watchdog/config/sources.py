"""Where configuration values come from: the environment and the YAML file, and where each
target came from (``Origin``), which ``watchdog.config.provenance`` turns into the name the user
wrote.

These are pydantic-settings sources, handed to ``Settings`` by
``watchdog.config.settings.load_settings``; pydantic-settings merges them (the environment
first, so it wins) and validates the result.

Alert settings (``alerts`` in YAML) have one variable per rule and key,
``WATCHDOG_ALERT_<RULE>_<KEY>``; the environment wins over the file key by key.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic.fields import FieldInfo
from pydantic_settings import InitSettingsSource, PydanticBaseSettingsSource

from watchdog.base.targets import (
    default_target_name,
    endpoint_url,
    is_cloud,
    parse_cloud_target_list,
    parse_target_list,
)
from watchdog.base.urls import mask_url
from watchdog.config.alerts import (
    ALERT_RULES,
    alert_variable_hint,
    alert_variables,
    is_alert_variable,
    rule_hint,
    rule_key_hint,
    rule_keys,
)
from watchdog.config.fields import ENV_VARS, TARGET_OPTIONS

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

__all__ = [
    "ALERTS_KEY",
    "EnvSource",
    "Loc",
    "Origin",
    "YamlSource",
    "raw_target_name",
]

_TARGET_VARS = ("targets", "web_endpoint", "cloud_targets")
ALERTS_KEY = "alerts"

# A target's own credentials come from files only, so the YAML file can be shared.
_INLINE_SECRET_HINTS = {
    "api_key": "; a target's own API key must come from a file: use api_key_file",
    "password": "; a target's own password must come from a file: use password_file",
}

RawTarget = dict[str, Any]
RawAlerts = dict[str, dict[str, Any]]
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Origin:
    """Where a target came from: an environment variable, a YAML entry, or both (env URL with
    YAML options)."""

    env_var: str | None = None
    yaml_key: str | None = None


def raw_target_name(raw: Mapping[str, Any]) -> str:
    """The name a not yet validated target will have, for matching and for messages."""
    name = raw.get("name")
    if isinstance(name, str):
        return name
    number = raw.get("phone_number_id")
    if is_cloud(raw) and isinstance(number, str | int):
        return str(number)
    url = raw.get("url")
    if isinstance(url, str):
        return default_target_name(url) or mask_url(url)
    return "?"


class YamlSource(InitSettingsSource):
    """The YAML file named by ``WATCHDOG_CONFIG_FILE``.

    A file that is missing, unreadable, not YAML or not a mapping raises ``ValueError`` (nothing
    else can be checked then). Unknown keys are collected in ``problems`` and dropped, so the
    rest of the file is still checked. ``web_endpoint`` is folded into ``targets``. Under
    ``alerts``, unknown rules and keys are dropped the same way, and a null means "not set".
    """

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self.path = path
        self.problems: list[str] = []
        self.targets: list[tuple[RawTarget, Origin]] = []
        self.values = self._load(set(settings_cls.model_fields))
        super().__init__(settings_cls, self.values)

    def _load(self, fields: set[str]) -> dict[str, Any]:
        document = _read_yaml(self.path)
        known = [key for key in ENV_VARS if key in fields or key in _TARGET_VARS]
        known += [ALERTS_KEY] if ALERTS_KEY in fields else []
        values: dict[str, Any] = {}
        endpoint: list[tuple[RawTarget, Origin]] = []
        for key, value in document.items():
            if key == "targets":
                self.targets = self._targets(value)
            elif key == "web_endpoint":
                endpoint = self._endpoint(value)
            elif key == "cloud_targets":
                endpoint += self._cloud(value)
            elif key == ALERTS_KEY and key in known:
                alerts = self._alerts(value)
                if alerts is not None:
                    values[key] = alerts
            elif key in known:
                values[key] = value
            else:
                self.problems.append(f"{key} in {self.path}: unknown key{_suggest(key, known)}")
        self.targets += endpoint
        if any(key in document for key in _TARGET_VARS):
            values["targets"] = [raw for raw, _ in self.targets]
        return values

    def _endpoint(self, value: object) -> list[tuple[RawTarget, Origin]]:
        if value is None:
            return []
        if not isinstance(value, str):
            self.problems.append(
                f"web_endpoint in {self.path}: expected host:port or a URL "
                f"(got {type(value).__name__})"
            )
            return []
        return [({"url": endpoint_url(value)}, Origin(yaml_key="web_endpoint"))]

    def _cloud(self, value: object) -> list[tuple[RawTarget, Origin]]:
        if value is None:
            return []
        if not isinstance(value, str):
            self.problems.append(
                f"cloud_targets in {self.path}: expected name=PHONE_NUMBER_ID[:WABA_ID],... "
                f"(got {type(value).__name__}); or list them under targets with kind: cloud"
            )
            return []
        return [(raw, Origin(yaml_key="cloud_targets")) for raw in parse_cloud_target_list(value)]

    def _alerts(self, value: object) -> RawAlerts | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problems.append(
                f"{ALERTS_KEY} in {self.path}: expected a mapping of alert rules to their "
                f"settings, such as {{overloaded: {{for: 30s}}}} (got {type(value).__name__})"
            )
            return None
        alerts: RawAlerts = {}
        for rule, options in value.items():
            where = f"{ALERTS_KEY}.{rule}"
            if rule not in ALERT_RULES:
                self.problems.append(f"{where} in {self.path}: unknown alert rule{rule_hint(rule)}")
                continue
            if options is None:
                continue
            if not isinstance(options, dict):
                self.problems.append(
                    f"{where} in {self.path}: expected a mapping of the rule's settings, such "
                    f"as {{enabled: false}} (got {type(options).__name__})"
                )
                continue
            raw: dict[str, Any] = {}
            for key, option in options.items():
                if key not in rule_keys(rule):
                    self.problems.append(
                        f"{where}.{key} in {self.path}: unknown key{rule_key_hint(rule, key)}"
                    )
                elif option is not None:
                    raw[key] = option
            alerts[rule] = raw
        return alerts

    def _targets(self, value: object) -> list[tuple[RawTarget, Origin]]:
        if value is None:
            return []
        if isinstance(value, str):
            value = parse_target_list(value)
        if not isinstance(value, list):
            self.problems.append(
                f"targets in {self.path}: expected a list of targets, each a mapping with "
                f"at least a url (got {type(value).__name__})"
            )
            return []
        targets = []
        for index, entry in enumerate(value):
            where = f"targets[{index}]"
            # A string entry is the environment's form: "name=url" or a bare URL.
            item = (parse_target_list(entry) or [{}])[0] if isinstance(entry, str) else entry
            if not isinstance(item, dict):
                self.problems.append(
                    f"{where} in {self.path}: expected a mapping with at least a url "
                    f"(got {type(item).__name__})"
                )
                continue
            raw: RawTarget = {}
            for key, option in item.items():
                if key in TARGET_OPTIONS:
                    raw[key] = option
                else:
                    hint = _INLINE_SECRET_HINTS.get(key) or _suggest(key, list(TARGET_OPTIONS))
                    self.problems.append(f"{where}.{key} in {self.path}: unknown key{hint}")
            targets.append((raw, Origin(yaml_key=where)))
        return targets


def _read_yaml(path: Path) -> dict[Any, Any]:
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ValueError(f"{path} is a directory; expected a YAML file") from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    try:
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        # Only the problem and its position: the YAML library's full text quotes the file's
        # lines, which may hold a secret.
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"invalid YAML in {path}{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError:
        raise ValueError(f"invalid YAML in {path}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ValueError(
            f"{path} must be a mapping of settings (key: value lines), "
            f"not {'a list' if isinstance(document, list) else type(document).__name__}"
        )
    return document


def _suggest(key: object, known: list[str]) -> str:
    field = next((name for name, var in ENV_VARS.items() if var == key), None)
    if field:
        return f"; in the file, {key} is called {field!r}"
    alert = alert_variables().get(str(key))
    if alert:
        return f"; in the file, {key} is called {'.'.join((ALERTS_KEY, *alert))!r}"
    close = difflib.get_close_matches(str(key), known, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known keys: {', '.join(known)}"


class EnvSource(PydanticBaseSettingsSource):
    """The variables of ``ENV_VARS`` in the given mapping (never ``os.environ`` implicitly).

    ``WATCHDOG_TARGETS`` and ``WA_WEB_ENDPOINT`` replace the file's On-Premises targets,
    ``WATCHDOG_CLOUD_TARGETS`` its Cloud targets; when the file has a target of the same name,
    its options (everything but what the variable names: ``url``, or the number and WABA) are
    kept, which is why this source is given the YAML source. Empty variables count as unset,
    so a chart can always template them.

    ``WATCHDOG_ALERT_<RULE>_<KEY>`` variables become the ``alerts`` mapping, merged over the
    file's key by key; a ``WATCHDOG_ALERT_*`` name that is no such variable is collected in
    ``problems`` (a typo there would otherwise go unnoticed).
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        environ: Mapping[str, str],
        yaml_source: YamlSource | None,
    ) -> None:
        super().__init__(settings_cls)
        self.values: dict[str, Any] = {
            key: environ[var]
            for key, var in ENV_VARS.items()
            if key not in _TARGET_VARS and var in environ
        }
        onprem = [
            (raw, Origin(env_var=ENV_VARS["targets"]))
            for raw in parse_target_list(environ.get(ENV_VARS["targets"], ""))
        ]
        endpoint = environ.get(ENV_VARS["web_endpoint"], "").strip()
        if endpoint:
            onprem.append(
                ({"url": endpoint_url(endpoint)}, Origin(env_var=ENV_VARS["web_endpoint"]))
            )
        cloud = [
            (raw, Origin(env_var=ENV_VARS["cloud_targets"]))
            for raw in parse_cloud_target_list(environ.get(ENV_VARS["cloud_targets"], ""))
        ]
        self.targets: list[tuple[RawTarget, Origin]] = []
        if onprem or cloud:
            # Each kind's variable replaces the file's targets of that kind only: a fleet in
            # migration may list its Cloud numbers in the environment and keep its Webapps in
            # the file, and neither silently loses the other.
            file_targets = yaml_source.targets if yaml_source else []
            for given, is_cloud_kind in ((onprem, False), (cloud, True)):
                of_kind = [t for t in file_targets if is_cloud(t[0]) is is_cloud_kind]
                self.targets += _with_yaml_options(given, of_kind) if given else of_kind
            self.values["targets"] = [raw for raw, _ in self.targets]
        self.problems: list[str] = []
        # (rule, key) -> the variable that set it, for messages.
        self.alert_vars: dict[tuple[str, str], str] = {}
        variables = alert_variables()
        alerts: RawAlerts = {}
        for name in sorted(var for var in environ if is_alert_variable(var)):
            where = variables.get(name)
            if where is None:
                self.problems.append(f"{name}: unknown variable{alert_variable_hint(name)}")
                continue
            rule, key = where
            alerts.setdefault(rule, {})[key] = environ[name]
            self.alert_vars[where] = name
        if alerts:
            from_file: RawAlerts = yaml_source.values.get(ALERTS_KEY, {}) if yaml_source else {}
            self.values[ALERTS_KEY] = {
                rule: {**from_file.get(rule, {}), **alerts.get(rule, {})}
                for rule in ALERT_RULES
                if rule in alerts or rule in from_file
            }

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def _with_yaml_options(
    env_targets: list[tuple[RawTarget, Origin]], yaml_targets: list[tuple[RawTarget, Origin]]
) -> list[tuple[RawTarget, Origin]]:
    by_name: dict[str, tuple[RawTarget, Origin]] = {}
    for raw, origin in yaml_targets:
        by_name.setdefault(raw_target_name(raw), (raw, origin))
    merged = []
    for raw, origin in env_targets:
        match = by_name.get(raw_target_name(raw))
        if match is None:
            merged.append((raw, origin))
            continue
        yaml_raw, yaml_origin = match
        # The environment names the deployment: the URL of a Webapp, the number (and WABA) of
        # a Cloud target, whose URL (Graph, or a proxy in front) the file may still give.
        identity = {"name", "kind", "phone_number_id", "waba_id"}
        if not is_cloud(raw):
            identity.add("url")
        options = {key: value for key, value in yaml_raw.items() if key not in identity}
        merged.append(({**options, **raw}, Origin(origin.env_var, yaml_origin.yaml_key)))
    return merged
