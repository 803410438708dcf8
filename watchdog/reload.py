"""Reloading the configuration while running (SIGHUP): targets come and go, the rest keep state.

A reload reads the configuration again the way the start did (the environment, which a running
process cannot change, and the file `WATCHDOG_CONFIG_FILE` names) and keeps the running shard.
An invalid configuration changes nothing: `config_reload_failed` lists the same messages a start
would print (they name settings, never secrets). Otherwise the targets are swapped in one step
on the event loop, so no poll sees half of a change:

- a removed target's jobs stop, its client closes and its firing alerts resolve;
- an added target gets its jobs, first polls within the start spread;
- a target whose definition changed (intervals, timeout, TLS, credentials, labels) gets a new
  client and new jobs and keeps its state (poll counts, counters, alerts), since it is the same
  deployment; a new URL (or kind, `phone_number_id`, `waba_id`) is another deployment, so that
  target starts afresh, as if removed and added (its alerts resolve): carried over, the old
  deployment's counters would turn into a spike of made-up 503s and 429s, and an old number's
  higher messaging limit into a made-up drop.

Only the targets and what they inherit (`RELOADABLE`, from the field table in
`watchdog.config.fields`), and the log level and format, are reloaded. Every other setting (the
listen address, the sinks, alert rules, auth mode, shard, the watchdog's own TLS and access
control) keeps its running value; `config_reload_partial` names those the new configuration
changed.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from watchdog.base.errors import ConfigError
from watchdog.base.log import configure_logging, get_logger
from watchdog.base.redact import Redactor
from watchdog.base.targets import Target
from watchdog.config.fields import LOGGING_SETTINGS, RELOADABLE, secret_values
from watchdog.config.settings import Settings, load_settings
from watchdog.config.sharding import select_shard

if TYPE_CHECKING:
    from watchdog.alerts.engine import AlertEngine
    from watchdog.poll.scheduler import Poller
    from watchdog.state import State

__all__ = [
    "LOGGING_SETTINGS",
    "RELOADABLE",
    "Reloader",
    "Running",
    "TargetChanges",
    "daemon_reloader",
    "restart_only",
]

log = get_logger(__name__)


class Running(Protocol):
    """The parts of a running daemon that a reload changes (`watchdog.app.Watchdog` has them).

    A protocol, so that this module needs nothing of the composition root, which uses it.
    """

    @property
    def state(self) -> State: ...

    @property
    def poller(self) -> Poller: ...

    @property
    def engine(self) -> AlertEngine: ...


def restart_only(*, logging: bool) -> tuple[str, ...]:
    """Every other setting: read at start only (the listen address, sinks, alert rules, ...)."""
    reloadable = RELOADABLE + LOGGING_SETTINGS if logging else RELOADABLE
    return tuple(key for key in Settings.model_fields if key not in reloadable)


@dataclass(frozen=True)
class TargetChanges:
    """Target names by what a reload does to them; `moved` (another deployment: a new URL,
    kind, number or WABA) is part of `changed`."""

    added: list[str]
    removed: list[str]
    changed: list[str]
    moved: list[str]

    @property
    def unchanged(self) -> bool:
        """No target comes, goes or changes (the order may still differ)."""
        return not (self.added or self.removed or self.changed)

    @classmethod
    def between(cls, old: Sequence[Target], new: Sequence[Target]) -> TargetChanges:
        before = {t.name: t for t in old}
        after = {t.name: t for t in new}
        kept = [name for name in after if name in before]
        return cls(
            added=[name for name in after if name not in before],
            removed=[name for name in before if name not in after],
            changed=[name for name in kept if after[name] != before[name]],
            moved=[name for name in kept if _deployment(after[name]) != _deployment(before[name])],
        )


def _deployment(target: Target) -> tuple[str, str, str | None, str | None]:
    """What names the thing a target watches: another URL, kind, number or WABA is another
    deployment, whose state (counters, a Cloud number's earlier limits) must not carry over."""
    return (target.url, target.kind, target.phone_number_id, target.waba_id)


class Reloader:
    """Applies a freshly loaded configuration to a running daemon; one reload at a time.

    `load` returns the new settings or raises `ConfigError`; it runs in a thread (it reads
    files). `reconfigure_logging`, when given, makes the log level and format reloadable.
    """

    def __init__(
        self,
        watchdog: Running,
        settings: Settings,
        load: Callable[[], Settings],
        *,
        redactor: Redactor | None = None,
        reconfigure_logging: Callable[[Settings], object] | None = None,
        close_grace: float = 10.0,
    ) -> None:
        self.watchdog = watchdog
        self._settings = settings
        self._load = load
        self._redactor = redactor
        self._reconfigure_logging = reconfigure_logging
        self._close_grace = close_grace
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous_handler: Any = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def settings(self) -> Settings:
        """The configuration in force (restart-only settings as they were at start)."""
        return self._settings

    @property
    def restart_only(self) -> tuple[str, ...]:
        return restart_only(logging=self._reconfigure_logging is not None)

    async def reload(self) -> bool:
        """Load the configuration again and apply it; False (nothing changed) when invalid."""
        async with self._lock:
            try:
                # In a thread: reading files, and comparing thousands of targets (15 ms at
                # 2,000), which would otherwise hold the event loop on top of the swap.
                new, targets, changes, restart = await asyncio.to_thread(self._prepare)
            except ConfigError as exc:
                log.error(
                    "config_reload_failed",
                    errors=exc.messages,
                    detail="the running configuration is kept",
                )
                return False
            self._register_secrets(new)
            running = self._settings
            self._apply(targets, changes)
            self._settings = new.model_copy(update={key: getattr(running, key) for key in restart})
            if self._reconfigure_logging is not None and _differing(new, running, LOGGING_SETTINGS):
                self._reconfigure_logging(self._settings)
            log.info(
                "config_reloaded",
                added=changes.added,
                removed=changes.removed,
                changed=changes.changed,
                state_reset=changes.moved,
                targets=len(targets),
            )
            if restart:
                log.warning(
                    "config_reload_partial",
                    restart_needed=restart,
                    detail="these settings changed but take effect only at the next start; "
                    "their running values are kept",
                )
        # Outside the lock: the next reload need not wait for these polls to finish.
        await self.watchdog.poller.close_retired(self._close_grace)
        return True

    def _prepare(self) -> tuple[Settings, list[Target], TargetChanges, list[str]]:
        """The new settings, the shard's targets, what changes and what needs a restart. Safe
        in a thread: targets and settings change only under the lock, which the caller holds."""
        new = self._load()
        running = self._settings
        targets = select_shard(new.targets, running.shard_index, running.shard_count)
        changes = TargetChanges.between(self.watchdog.state.targets, targets)
        return new, targets, changes, _differing(new, running, self.restart_only)

    def _register_secrets(self, settings: Settings) -> None:
        if self._redactor is None:
            return
        for secret in secret_values(settings):
            self._redactor.add(secret)

    def _apply(self, targets: list[Target], changes: TargetChanges) -> None:
        """Swap the targets; synchronous, so polls and alert ticks see before or after only."""
        state, poller, engine = self.watchdog.state, self.watchdog.poller, self.watchdog.engine
        if changes.unchanged and [t.name for t in state.targets] == [t.name for t in targets]:
            return  # the same targets in the same order: a swap would only hold the loop
        for name in changes.removed + changes.changed:
            poller.remove_target(name)
        state.set_targets(t for t in targets if t.name not in changes.moved)
        for name in changes.removed + changes.moved:
            engine.evaluate(name)  # a target unknown to the state: alerts resolve, history goes
        if changes.moved:
            state.set_targets(targets)  # back, with fresh state
        fresh = set(changes.added + changes.changed)
        poller.add_target_jobs(t for t in targets if t.name in fresh)

    # -- SIGHUP -------------------------------------------------------------------------------

    def install(self) -> bool:
        """Reload on SIGHUP from now on; only in the main thread (False, and nothing, elsewhere).

        Call from the running event loop, which then runs every reload.
        """
        if threading.current_thread() is not threading.main_thread():
            return False
        loop = asyncio.get_running_loop()
        self._previous_handler = signal.getsignal(signal.SIGHUP)
        loop.add_signal_handler(signal.SIGHUP, self._requested)
        self._loop = loop
        return True

    def _requested(self) -> None:
        log.info("reload_requested", signal="SIGHUP")
        task = asyncio.get_running_loop().create_task(self._reload_task(), name="config-reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload_task(self) -> None:
        try:
            await self.reload()
        except Exception:  # the task's top level: a bug here must not end the daemon
            log.exception("config_reload_crashed")

    async def close(self) -> None:
        """Stop listening for SIGHUP and cancel a reload in progress (shutdown)."""
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGHUP)
            if self._previous_handler is not None:
                signal.signal(signal.SIGHUP, self._previous_handler)
            self._loop = None
        tasks, self._tasks = set(self._tasks), set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _differing(new: Settings, running: Settings, keys: Iterable[str]) -> list[str]:
    return [key for key in keys if getattr(new, key) != getattr(running, key)]


def daemon_reloader(
    watchdog: Running,
    settings: Settings,
    environ: Mapping[str, str],
    redactor: Redactor,
) -> Reloader:
    """The reloader of `watchdog run`: same environment, same file, logging reconfigured."""

    def relog(new: Settings) -> None:
        configure_logging(level=new.log_level, fmt=new.log_format, redactor=redactor)

    return Reloader(
        watchdog,
        settings,
        lambda: load_settings(environ),
        redactor=redactor,
        reconfigure_logging=relog,
    )
