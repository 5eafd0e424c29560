"""Settings: defaults, overridden by a config dict or file, by ``OMNIQ_*`` env vars, then by arguments.

Durations are seconds (floats) so that every setting reads the same way in YAML, a dict or an
environment variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from omniq.core.errors import ConfigurationError
from omniq.core.urls import mask_url

__all__ = ["ENV_PREFIX", "EVENTS_OFF", "Settings"]

ENV_PREFIX = "OMNIQ_"

#: The value of ``event_storage_url`` that turns event logging off.
EVENTS_OFF = "none"

WorkerType = Literal["async", "thread", "thread_pool", "process", "process_pool", "gevent"]


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
    log_level: str = "WARNING"

    def __post_init__(self) -> None:
        _require(self.max_workers >= 1, "max_workers", self.max_workers, "an integer of at least 1")
        _require(self.lease_ttl > 0, "lease_ttl", self.lease_ttl, "a positive number of seconds")
        _require(self.retry_attempts >= 0, "retry_attempts", self.retry_attempts, "an integer >= 0")
        _require(self.claim_batch >= 1, "claim_batch", self.claim_batch, "an integer >= 1")
        _require(self.poll_interval > 0, "poll_interval", self.poll_interval, "a positive number")
        _require(
            self.scheduler_interval > 0, "scheduler_interval", self.scheduler_interval, "a positive number"
        )
        grace = self.shutdown_grace
        _require(grace is None or grace >= 0, "shutdown_grace", grace, "zero or a positive number of seconds")
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
            value = getattr(self, name)
            if name == "secret_key" and value is not None:
                value = "***"
            elif name.endswith("_url") and isinstance(value, str):
                value = mask_url(value)
            shown.append(f"{name}={value!r}")
        return f"Settings({', '.join(shown)})"

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
        **overrides: Any,
    ) -> Settings:
        """Merge, lowest first: defaults, ``config``, ``OMNIQ_*`` variables of ``env`` (default
        ``os.environ``), ``overrides``."""
        merged: dict[str, Any] = {}
        for source, values in (
            ("config", dict(config or {})),
            ("environment", _from_env(os.environ if env is None else env)),
            ("arguments", {k: v for k, v in overrides.items() if v is not None}),
        ):
            _check_keys(source, values)
            merged.update(values)
        try:
            return msgspec.convert(merged, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigurationError(f"invalid setting: {_describe(exc)}") from exc


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    fields = set(Settings.__struct_fields__)
    values = {}
    for name, value in env.items():
        if name.startswith(ENV_PREFIX):
            field = name[len(ENV_PREFIX) :].lower()
            if field in fields:
                values[field] = value
    return values


def _check_keys(source: str, values: Mapping[str, Any]) -> None:
    unknown = sorted(set(values) - set(Settings.__struct_fields__))
    if unknown:
        raise ConfigurationError(
            f"unknown setting {', '.join(map(repr, unknown))} in {source}; "
            f"known settings: {', '.join(Settings.__struct_fields__)}"
        )


def _describe(exc: msgspec.ValidationError) -> str:
    message = str(exc)
    path = message.rpartition(" - at `$.")[2].rstrip("`")
    if path and path != message:
        return f"{path} (env {ENV_PREFIX}{path.upper()}): {message.partition(' - at')[0]}"
    return message


def _require(ok: bool, field: str, value: object, expected: str) -> None:
    if not ok:
        raise ValueError(f"{field} must be {expected}, got {value!r}")
