"""Enqueue options: validated once, with the field named when a value is wrong."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypedDict, cast

from omniq.core.codec import SpecTemplate
from omniq.core.errors import ValidationError
from omniq.core.ids import new_id
from omniq.core.models import RetryPolicy, TaskStatus
from omniq.core.records import TaskRecord
from omniq.core.settings import Settings

__all__ = [
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "EnqueueManyOptions",
    "EnqueueOptions",
    "RecordFactory",
    "RunOptions",
    "TaskOptions",
    "checked_id",
    "checked_text",
    "exception_name",
    "task_options",
]

MIN_PRIORITY = -1000
MAX_PRIORITY = 1000

#: The longest id (of a task or schedule) and dedup key: every engine indexes them, and an index
#: entry has a size limit (about 2,700 bytes in PostgreSQL).
MAX_KEY_LENGTH = 512
#: The longest function name (an import path or a registered name).
MAX_FUNCTION_NAME_LENGTH = 1000


def checked_text(field: str, value: object, *, max_length: int) -> str:
    """``value`` if it is a non-empty printable string of at most ``max_length`` characters that
    every store can hold (no NUL or other control characters, no lone surrogates); else a
    :class:`ValidationError` naming ``field``."""
    if not isinstance(value, str) or not value or len(value) > max_length or not value.isprintable():
        shown = repr(value) if not isinstance(value, str) or len(value) <= 80 else f"{value[:80]!r}..."
        raise ValidationError(
            field, f"must be a non-empty printable string of up to {max_length} characters, got {shown}"
        )
    return value


def checked_id(value: object, field: str = "task_id") -> str:
    """A task or schedule id given to a lookup: a string a store can hold (ids OmniQ makes are
    hex; one that is not a string, empty, or holds control characters names nothing)."""
    return checked_text(field, value, max_length=MAX_KEY_LENGTH)


Seconds = timedelta | float | int


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskOptions:
    """Options of one enqueue; ``None`` means: the task's or the settings' default."""

    queue_name: str | None = None
    priority: int | None = None
    run_in: Seconds | None = None
    run_at: datetime | None = None
    ttl: Seconds | None = None
    result_ttl: Seconds | None = None
    timeout: Seconds | None = None
    max_retries: int | None = None
    retry_delay: Seconds | None = None
    retry_on: Sequence[type[BaseException] | str] | None = None
    depends_on: Sequence[str] = ()
    dedup_key: str | None = None
    callbacks: tuple[tuple[str, str], ...] = ()

    def merged(self, overrides: TaskOptions) -> TaskOptions:
        """These options with every field that ``overrides`` sets replaced."""
        changes = {
            field.name: getattr(overrides, field.name)
            for field in dataclasses.fields(overrides)
            if getattr(overrides, field.name) not in (None, ())
        }
        return dataclasses.replace(self, **changes)


class RunOptions(TypedDict, total=False):
    """How a task runs, as keyword arguments of ``schedule`` (and of every enqueue): written once
    here, so that the async and blocking methods cannot drift apart. ``None`` means the task's or
    the settings' default; :class:`TaskOptions` checks the values."""

    queue_name: str | None
    priority: int | None
    ttl: Seconds | None
    result_ttl: Seconds | None
    timeout: Seconds | None
    max_retries: int | None
    retry_delay: Seconds | None
    retry_on: Sequence[type[BaseException] | str] | None


class EnqueueManyOptions(RunOptions, total=False):
    """The keyword options of ``enqueue_many``: :class:`RunOptions`, when, and after what."""

    run_in: Seconds | None
    run_at: datetime | None
    depends_on: Sequence[str]


class EnqueueOptions(EnqueueManyOptions, total=False):
    """The keyword options of ``enqueue`` and of a task function's ``options``."""

    dedup_key: str | None


def task_options(call: str, options: Mapping[str, Any], allowed: type[RunOptions]) -> TaskOptions:
    """``options`` given to ``call`` as :class:`TaskOptions`. An unknown name raises the
    ``TypeError`` Python raises for a keyword argument a function does not take: the options are
    keyword arguments, only written once."""
    known: frozenset[str] = cast(Any, allowed).__optional_keys__  # every key: total=False
    for name in options:
        if name not in known:
            raise TypeError(f"{call}() got an unexpected keyword argument {name!r}")
    return TaskOptions(**options)


def exception_name(exc_type: type[BaseException]) -> str:
    """How ``retry_on`` and :class:`~omniq.core.models.ErrorInfo` name an exception type."""
    module = exc_type.__module__
    if module == "builtins":
        return exc_type.__qualname__
    return f"{module}.{exc_type.__qualname__}"


class RecordFactory:
    """Builds the records of one enqueue call; the options are validated once for all of them."""

    def __init__(self, func: str, options: TaskOptions, settings: Settings, now: float) -> None:
        self.func = checked_text("func", func, max_length=MAX_FUNCTION_NAME_LENGTH)
        self.now = now
        self.queue = _queue_name(settings.default_queue if options.queue_name is None else options.queue_name)
        self.priority = _priority(options.priority)
        self.due_at = _due_at(options, now)
        self.ttl = _seconds("ttl", options.ttl, settings.task_ttl, positive=True)
        self.expires_at = None if self.ttl is None else self.due_at + self.ttl
        max_retries = settings.retry_attempts if options.max_retries is None else options.max_retries
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValidationError("max_retries", f"must be an integer >= 0, got {max_retries!r}")
        self.retry = RetryPolicy(
            max_retries=max_retries,
            delay=_seconds("retry_delay", options.retry_delay, settings.retry_delay) or 0.0,
            backoff=settings.retry_backoff,
            max_delay=settings.retry_max_delay,
            retry_on=_retry_on(options.retry_on),
        )
        self.timeout = _seconds("timeout", options.timeout, settings.task_timeout, positive=True)
        self.result_ttl = _seconds("result_ttl", options.result_ttl, settings.result_ttl, positive=True)
        self.depends_on = _dependency_ids(options.depends_on)
        self.callbacks = options.callbacks
        self._spec = SpecTemplate(self.timeout, self.retry, self.result_ttl, self.callbacks)
        self.dedup_key = options.dedup_key
        if self.dedup_key is not None:
            checked_text("dedup_key", self.dedup_key, max_length=MAX_KEY_LENGTH)

    def record(self, payload_format: str, payload: bytes) -> TaskRecord:
        """A new pending task carrying ``payload``."""
        return TaskRecord(
            id=new_id(),
            queue=self.queue,
            func=self.func,
            priority=self.priority,
            status=TaskStatus.WAITING if self.depends_on else TaskStatus.PENDING,
            due_at=self.due_at,
            created_at=self.now,
            updated_at=self.now,
            expires_at=self.expires_at,
            max_attempts=self.retry.max_attempts,
            data=self._spec.encode(payload_format, payload),
            dedup_key=self.dedup_key,
            depends_on=self.depends_on,
        )


def _queue_name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > 200 or not name.isprintable():
        raise ValidationError(
            "queue_name", f"must be a non-empty printable string of up to 200 characters, got {name!r}"
        )
    return name


def _priority(priority: object) -> int:
    if priority is None:
        return 0
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not MIN_PRIORITY <= priority <= MAX_PRIORITY
    ):
        raise ValidationError(
            "priority", f"must be an integer from {MIN_PRIORITY} to {MAX_PRIORITY}, got {priority!r}"
        )
    return priority


def _due_at(options: TaskOptions, now: float) -> float:
    if options.run_at is not None and options.run_in is not None:
        raise ValidationError("run_at", "give run_at or run_in, not both")
    if options.run_at is not None:
        if not isinstance(options.run_at, datetime):
            raise ValidationError("run_at", f"must be a datetime, got {options.run_at!r}")
        return max(options.run_at.timestamp(), now)
    delay = _seconds("run_in", options.run_in, None)
    return now + (delay or 0.0)


def _seconds(field: str, value: object, default: float | None, *, positive: bool = False) -> float | None:
    if value is None:
        return default
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValidationError(field, f"must be a timedelta or a number of seconds, got {value!r}")
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        bound = "positive" if positive else "zero or positive"
        raise ValidationError(field, f"must be {bound}, got {value!r}")
    return seconds


def _dependency_ids(ids: object) -> tuple[str, ...]:
    if isinstance(ids, str) or not isinstance(ids, Iterable):
        raise ValidationError("depends_on", f"must be a list of task ids, got {ids!r}")
    listed = tuple(dict.fromkeys(ids))
    for task_id in listed:
        checked_id(task_id, "depends_on")
    return listed


def _retry_on(types: Iterable[type[BaseException] | str] | None) -> tuple[str, ...]:
    if not types:
        return ()
    names = []
    for item in types:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, type) and issubclass(item, BaseException):
            names.append(exception_name(item))
        else:
            raise ValidationError("retry_on", f"must list exception types, got {item!r}")
    return tuple(names)
