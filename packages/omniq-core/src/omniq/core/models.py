"""The public data model: tasks, results, events and schedules.

Every model is a frozen ``msgspec.Struct``: a state change makes a new value, and a model never holds
a client or a connection, so it can be logged, compared, encoded and sent across processes freely.
Times are timezone-aware UTC ``datetime`` values; durations are ``timedelta`` values.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

import msgspec

__all__ = [
    "ErrorInfo",
    "EventType",
    "Lease",
    "ResultStatus",
    "RetryPolicy",
    "Schedule",
    "ScheduleStatus",
    "Task",
    "TaskEvent",
    "TaskResult",
    "TaskStatus",
]


class TaskStatus(enum.StrEnum):
    """Where a task is in its life.

    ``failed`` is transient: the attempt failed and the task will run again after its backoff.
    ``completed``, ``dead``, ``cancelled`` and ``expired`` are final.
    """

    PENDING = "pending"
    WAITING = "waiting"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        """Whether the task can never run again without ``requeue``."""
        return self in _FINAL_TASK_STATUSES


_FINAL_TASK_STATUSES = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.DEAD, TaskStatus.CANCELLED, TaskStatus.EXPIRED}
)


class ResultStatus(enum.StrEnum):
    """How a task ended, as recorded in its :class:`TaskResult`."""

    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ScheduleStatus(enum.StrEnum):
    """Where a schedule is in its life."""

    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"


class EventType(enum.StrEnum):
    """Every transition that produces a :class:`TaskEvent`."""

    ENQUEUED = "enqueued"
    EXECUTING = "executing"
    COMPLETED = "completed"
    ERROR = "error"
    RETRY = "retry"
    DEAD = "dead"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    TIMEOUT = "timeout"
    LEASE_LOST = "lease_lost"
    CALLBACK_ERROR = "callback_error"
    SCHEDULE_ERROR = "schedule_error"
    DEPENDENCY_SATISFIED = "dependency_satisfied"
    DEPENDENCY_FAILED = "dependency_failed"
    SCHEDULE_TRIGGERED = "schedule_triggered"
    SCHEDULE_PAUSED = "schedule_paused"
    SCHEDULE_RESUMED = "schedule_resumed"
    SCHEDULE_CANCELLED = "schedule_cancelled"


class ErrorInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An exception as data: enough to show and to filter on, without the exception object."""

    type: str
    message: str
    traceback: str | None = None


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How often and how late a failed task runs again.

    The delay before retry ``n`` (1-based) is ``delay * backoff ** (n - 1)``, capped at ``max_delay``;
    with ``jitter`` it is drawn uniformly from ``[delay / 2, delay]`` so that many tasks failing
    together do not retry together. ``retry_on`` names exception types (``module.QualName`` or bare
    class names) that may be retried; empty means any exception.
    """

    max_retries: int = 3
    delay: float = 1.0
    backoff: float = 2.0
    max_delay: float = 300.0
    jitter: bool = True
    retry_on: tuple[str, ...] = ()

    @property
    def max_attempts(self) -> int:
        """Attempts in all: the first run plus ``max_retries``."""
        return self.max_retries + 1


class Lease(msgspec.Struct, frozen=True, kw_only=True):
    """A worker's claim on a running task: only the holder of ``token`` may settle the task."""

    token: str
    worker_id: str
    expires_at: datetime


class Task(msgspec.Struct, frozen=True, kw_only=True, eq=False):
    """One unit of work: a function reference, its encoded arguments, and its state.

    Tasks hash and compare by ``id`` so that a dependency graph can hold them in sets.
    ``payload`` holds the arguments encoded by the serialization layer in ``payload_format``; use
    :meth:`omniq.core.AsyncOmniQ.get_task` and the serializer to read them.
    """

    id: str
    func: str
    queue: str = "default"
    priority: int = 0
    status: TaskStatus = TaskStatus.PENDING
    payload: bytes = b""
    payload_format: str = "msgpack"
    created_at: datetime
    due_at: datetime
    expires_at: datetime | None = None
    timeout: float | None = None
    retry: RetryPolicy = RetryPolicy()
    result_ttl: float | None = None
    attempts: int = 0
    depends_on: tuple[str, ...] = ()
    dedup_key: str | None = None
    schedule_id: str | None = None
    lease: Lease | None = None
    error: ErrorInfo | None = None
    updated_at: datetime | None = None

    def __hash__(self) -> int:
        return hash(self.id)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Task):
            return self.id == other.id
        return NotImplemented


class TaskResult(msgspec.Struct, frozen=True, kw_only=True):
    """How a task ended: its value or its error, and when, where and after how many attempts."""

    task_id: str
    status: ResultStatus
    value: Any = None
    error: ErrorInfo | None = None
    attempts: int = 0
    worker_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime
    expires_at: datetime | None = None
    schedule_id: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the task succeeded."""
        return self.status is ResultStatus.SUCCESS


class TaskEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One transition of a task or schedule, stored as plain queryable fields."""

    type: EventType
    task_id: str
    at: datetime
    queue: str | None = None
    worker_id: str | None = None
    attempt: int | None = None
    error: ErrorInfo | None = None
    details: dict[str, Any] = msgspec.field(default_factory=dict)


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    """A recurring or deferred enqueue of one function with fixed arguments.

    Exactly one of ``at``, ``interval`` and ``cron`` is set. ``next_run_at`` is the time the next
    run is due; schedulers claim a run by moving it forward atomically, so that a run is enqueued
    once however many schedulers are running.
    """

    id: str
    func: str
    queue: str = "default"
    payload: bytes = b""
    payload_format: str = "msgpack"
    status: ScheduleStatus = ScheduleStatus.ACTIVE
    at: datetime | None = None
    interval: timedelta | None = None
    cron: str | None = None
    timezone: str = "UTC"
    start_at: datetime | None = None
    end_at: datetime | None = None
    max_runs: int | None = None
    runs: int = 0
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    last_task_id: str | None = None
    created_at: datetime
