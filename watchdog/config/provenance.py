"""Provenance: pydantic's error locations spelt as the user wrote them.

Each message starts with the name of what is wrong, as written: the variable
(``WATCHDOG_TIMEOUT: ...``) or the key and file (``targets[0].timeout in /etc/wa.yaml: ...``).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from watchdog.config.alerts import alert_variable
from watchdog.config.fields import ENV_VARS
from watchdog.config.sources import ALERTS_KEY, EnvSource, Loc, Origin, YamlSource

__all__ = ["Provenance"]


class Provenance:
    """Turns pydantic's error locations into the names the user wrote."""

    def __init__(self, env: EnvSource, yaml_source: YamlSource | None) -> None:
        self._env = env
        self._yaml = yaml_source
        self._targets = env.targets or (yaml_source.targets if yaml_source else [])

    def merged(self) -> dict[str, Any]:
        """The raw values as pydantic-settings merges them: the environment wins, per key."""
        return {**(self._yaml.values if self._yaml else {}), **self._env.values}

    def label(self, loc: Loc) -> str:
        field = str(loc[0])
        if field == "targets" and len(loc) > 1 and isinstance(loc[1], int):
            return self._target_label(loc[1], loc[2:])
        if field == ALERTS_KEY:
            return self._alert_label(loc)
        if field in self._env.values:
            return ENV_VARS[field]
        if self._yaml is not None and field in self._yaml.values:
            return f"{_key_path(loc)} in {self._yaml.path}"
        return ENV_VARS.get(field, field)

    def _alert_label(self, loc: Loc) -> str:
        where = tuple(str(part) for part in loc[1:3])
        if len(where) == 2 and where in self._env.alert_vars:
            return self._env.alert_vars[(where[0], where[1])]
        if self._yaml is not None and ALERTS_KEY in self._yaml.values:
            return f"{_key_path(loc)} in {self._yaml.path}"
        if len(where) == 2:
            return alert_variable(where[0], where[1])
        return _key_path(loc)

    def _target_label(self, index: int, rest: Loc) -> str:
        origin = self._targets[index][1] if index < len(self._targets) else Origin()
        if origin.env_var and (not rest or rest[0] in ("name", "url")):
            return origin.env_var
        if self._yaml is not None and origin.yaml_key == "web_endpoint":
            return f"web_endpoint in {self._yaml.path}"
        if self._yaml is not None and origin.yaml_key:
            return f"{_key_path(rest, origin.yaml_key)} in {self._yaml.path}"
        return origin.env_var or ENV_VARS["targets"]

    def messages(self, error: ValidationError) -> list[str]:
        """One message per problem, ``<name as written>: <what is wrong>``."""
        messages = []
        for detail in error.errors(include_url=False):
            loc: Loc = tuple(detail["loc"])
            ctx = detail.get("ctx") or {}
            if detail["type"] == "config_problems":
                problems: list[tuple[Loc, str]] = ctx["problems"]
            elif detail["type"] == "value_error":
                problems = [((), str(ctx["error"]))]
            elif detail["type"] == "missing":
                problems = [((), "required, but not set")]
            elif detail["type"] == "extra_forbidden":
                problems = [((), "unknown key")]
            else:
                # pydantic's own messages never quote the input, so secrets stay out.
                problems = [((), detail["msg"])]
            messages += [f"{self.label(loc + sub)}: {text}" for sub, text in problems]
        return messages


def _key_path(loc: Loc, prefix: str = "") -> str:
    """``("targets", 0, "labels", "x")`` -> ``targets[0].labels.x``, as in yq and jq."""
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path
