"""Settings: defaults, overridden by a config dict or file, by ``OMNIQ_*`` env vars, then by arguments.

Durations are seconds (floats) so that every setting reads the same way in YAML, a dict or an
environment variable.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args, get_type_hints

import msgspec

from omniq.core.errors import ConfigurationError
from omniq.core.urls import mask_url

__all__ = [
    "ENV_PREFIX",
    "EVENTS_OFF",
    "LOG_LEVELS",
    "InvalidSetting",
    "Settings",
    "check_keys",
    "expected_from",
    "shown_value",
]

ENV_PREFIX = "OMNIQ_"

#: The value of ``event_storage_url`` that turns event logging off.
EVENTS_OFF = "none"

#: ``OMNIQ_TEST_*`` and the like belong to test suites and tools, not to settings.
_FOREIGN_PREFIX = f"{ENV_PREFIX}TEST_"

#: Settings and backend options whose values are never shown.
_SECRET_WORDS = ("password", "passwd", "secret", "token")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: Settings that hold lists: a comma-separated value in the environment.
_LIST_FIELDS = frozenset({"task_modules"})

#: The value of an optional setting (``task_retention``, ``result_ttl``, ...) in the environment
#: that stands for none, as it reads in the docs and in YAML (``null`` works too).
_NONE_WORDS = frozenset({"none", "null"})

WorkerType = Literal["async", "thread", "thread_pool", "process", "process_pool", "gevent"]


#: The longest retention: stores keep an expiry as an integer of milliseconds (Redis refuses
#: one beyond about 3 million years; a century is far past any use).
MAX_RETENTION = 100 * 365.25 * 86_400.0


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every setting OmniQ reads, each overridable by ``OMNIQ_<FIELD>``.

    ``task_queue_url`` defaults to an SQLite file ``<base_dir>/<project_name>.db``.
    ``result_storage_url`` and ``event_storage_url`` default to the task queue's URL; set
    ``event_storage_url`` to ``"none"`` to turn event logging off.
    """

    project_name: str = "omniq"
    base_dir: str = "."
    task_queue_url: str | None = None
    result_storage_url: str | None = None
    event_storage_url: str | None = None
    default_queue: str = "default"
    default_worker: WorkerType = "async"
    max_workers: int = 10
    task_timeout: float | None = None
    task_ttl: float | None = None
    result_ttl: float | None = 86_400.0
    event_retention: float | None = 7 * 86_400.0
    task_retention: float | None = 7 * 86_400.0
    dead_retention: float | None = None
    retry_attempts: int = 3
    retry_delay: float = 1.0
    retry_backoff: float = 2.0
    retry_max_delay: float = 300.0
    lease_ttl: float = 60.0
    heartbeat_interval: float | None = None
    shutdown_grace: float | None = 30.0
    scheduler: bool = True
    scheduler_interval: float = 1.0
    poll_interval: float = 0.5
    claim_batch: int = 500
    allow_dill: bool = False
    secret_key: str | None = None
    task_modules: tuple[str, ...] = ()
    allow_any_function: bool = False
    log_level: str | None = None

    def __post_init__(self) -> None:
        _require(self.max_workers >= 1, "max_workers", self.max_workers, "an integer of at least 1")
        _require(self.lease_ttl > 0, "lease_ttl", self.lease_ttl, "a positive number of seconds")
        _require(self.retry_attempts >= 0, "retry_attempts", self.retry_attempts, "an integer >= 0")
        _require(self.claim_batch >= 1, "claim_batch", self.claim_batch, "an integer >= 1")
        _require(self.poll_interval > 0, "poll_interval", self.poll_interval, "a positive number")
        _require(
            self.scheduler_interval > 0, "scheduler_interval", self.scheduler_interval, "a positive number"
        )
        for name in ("task_retention", "dead_retention"):
            retention = getattr(self, name)
            _require(
                retention is None or 0 < retention <= MAX_RETENTION,
                name,
                retention,
                "a positive number of seconds up to 100 years, or none to keep the tasks until purged",
            )
        grace = self.shutdown_grace
        _require(grace is None or grace >= 0, "shutdown_grace", grace, "zero or a positive number of seconds")
        level = self.log_level
        _require(
            level is None or level.upper() in LOG_LEVELS,
            "log_level",
            level,
            f"a log level ({', '.join(LOG_LEVELS)})",
        )
        interval = self.heartbeat_interval
        _require(
            interval is None or 0 < interval < self.lease_ttl,
            "heartbeat_interval",
            interval,
            f"a positive number of seconds below lease_ttl ({self.lease_ttl})",
        )

    def __repr__(self) -> str:
        """Every field, with passwords in URIs and the secret key masked (settings get logged)."""
        shown = []
        for name in self.__struct_fields__:
            shown.append(f"{name}={shown_value(name, getattr(self, name))!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def effective_heartbeat_interval(self) -> float:
        """The heartbeat interval: as set, or a third of the lease so two beats may be missed."""
        return self.heartbeat_interval or self.lease_ttl / 3

    @property
    def queue_url(self) -> str:
        """The task queue URL, defaulting to the embedded SQLite file."""
        if self.task_queue_url:
            return self.task_queue_url
        return f"sqlite:///{os.path.join(self.base_dir, self.project_name)}.db"

    @classmethod
    def load(
        cls,
        config: Mapping[str, Any] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        config_source: str = "config",
        **overrides: Any,
    ) -> Settings:
        """Merge, lowest first: defaults, ``config``, ``OMNIQ_*`` variables of ``env`` (default
        ``os.environ``), ``overrides``.

        Raises:
            ConfigurationError: one error naming the first bad key or variable, its value and what
                was expected; ``config_source`` says where ``config`` came from (a file name).
        """
        merged: dict[str, Any] = {}
        origins: dict[str, str] = {}
        layers = (
            (f"in {config_source}", dict(config or {})),
            ("environment", _from_env(os.environ if env is None else env)),
            ("argument", {k: v for k, v in overrides.items() if v is not None}),
        )
        for label, values in layers:
            check_keys(values, Settings.__struct_fields__, label)
            merged.update(values)
            origins.update(dict.fromkeys(values, label))
        try:
            return msgspec.convert(merged, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigurationError(_describe(exc, merged, origins)) from exc


#: Settings that may be none and are not strings (a string setting may mean ``"none"`` itself, as
#: ``event_storage_url`` does).
_OPTIONAL = frozenset(
    name for name, hint in get_type_hints(Settings).items() if hint in (float | None, int | None)
)


class InvalidSetting(ValueError):
    """A setting's value is out of range; ``Settings.load`` names where the value came from."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        super().__init__(f"{field}={shown_value(field, value)!r} is invalid: expected {expected}")
        self.field = field
        self.value = value
        self.expected = expected


def shown_value(field: str, value: object) -> object:
    """``value`` as it may appear in a message: passwords in URIs and the secret key masked."""
    if field.endswith("url") and isinstance(value, str):
        return mask_url(value)
    if value is not None and any(word in field.lower() for word in _SECRET_WORDS):
        return "***"
    return value


def check_keys(values: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    """Refuse keys that are not in ``known``, naming them and the known ones."""
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigurationError(
            f"unknown key {', '.join(map(repr, unknown))} {where}; expected one of: {', '.join(known)}"
        )


def _from_env(env: Mapping[str, str]) -> dict[str, str | list[str] | None]:
    fields = Settings.__struct_fields__
    values: dict[str, str | list[str] | None] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        field = name[len(ENV_PREFIX) :].lower()
        if field in _LIST_FIELDS:
            values[field] = [item.strip() for item in value.split(",") if item.strip()]
        elif field in fields:
            values[field] = None if field in _OPTIONAL and value.strip().lower() in _NONE_WORDS else value
        elif not name.startswith(_FOREIGN_PREFIX):
            # Tools share the prefix, so only a near miss of a setting is taken for a typo.
            near = difflib.get_close_matches(field, fields, n=1, cutoff=0.85)
            if near:
                raise ConfigurationError(
                    f"environment variable {name} is not a setting: expected {ENV_PREFIX}{near[0].upper()}"
                )
    return values


def _describe(exc: msgspec.ValidationError, merged: Mapping[str, Any], origins: Mapping[str, str]) -> str:
    cause = exc.__cause__
    if isinstance(cause, InvalidSetting):
        field, expected = cause.field, cause.expected
    else:
        message, _, at = str(exc).partition(" - at `$.")
        field = at.rstrip("`").split(".")[0]
        expected = expected_from(message)
        if field not in merged:
            return f"invalid settings: {message}"
    value = shown_value(field, merged.get(field))
    origin = origins.get(field)
    if origin == "environment":
        return f"{ENV_PREFIX}{field.upper()}={value!r} is invalid: expected {expected} (setting {field})"
    where = " (argument)" if origin == "argument" else f" {origin}" if origin else ""
    return f"{field}={value!r}{where} is invalid: expected {expected}"


def expected_from(message: str) -> str:
    """What a msgspec validation message says was expected, in plain words."""
    if message.startswith("Invalid enum value"):
        return f"one of {', '.join(get_args(WorkerType))}"  # the only Literal among the settings
    return message.replace("`", "").replace("Expected ", "")


def _require(ok: bool, field: str, value: object, expected: str) -> None:
    if not ok:
        raise InvalidSetting(field, value, expected)
