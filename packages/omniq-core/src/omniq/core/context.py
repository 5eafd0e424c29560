"""What a running task can know about itself: its id and which attempt this is.

Idempotent task code needs both (a payment keyed by task id, a step skipped on a retry). The worker
sets the context around each attempt; it follows the call into threads, coroutines and child
processes, so :func:`current_task` works the same on every worker kind.
"""

from __future__ import annotations

import contextvars

import msgspec

from omniq.core.records import TaskRecord

__all__ = ["TaskContext", "current_task"]


class TaskContext(msgspec.Struct, frozen=True, kw_only=True):
    """The running attempt.

    Attributes:
        task_id: the task's id, the same on every attempt.
        attempt: 1 on the first run, 2 on the first retry, and so on.
        max_attempts: the most attempts the task gets (``max_retries + 1``).
        queue: the queue it was claimed from.
        func: the task function's registered name or import path.
        worker_id: the worker running it.
        schedule_id: the schedule that enqueued it, if any.
        depends_on: the tasks it waited for; their results are there to read.
    """

    task_id: str
    attempt: int
    max_attempts: int
    queue: str
    func: str
    worker_id: str | None = None
    schedule_id: str | None = None
    depends_on: tuple[str, ...] = ()

    @property
    def is_retry(self) -> bool:
        """Whether an earlier attempt of this task already ran (and failed or was interrupted)."""
        return self.attempt > 1

    @classmethod
    def of(cls, record: TaskRecord) -> TaskContext:
        """The context of an attempt of the claimed ``record``."""
        return cls(
            task_id=record.id,
            attempt=record.attempts,
            max_attempts=record.max_attempts,
            queue=record.queue,
            func=record.func,
            worker_id=record.worker_id,
            schedule_id=record.schedule_id,
            depends_on=record.depends_on,
        )


# A worker sets the claimed record itself (cheap, once per task run); the context is built from it
# only when the task asks.
_Current = TaskContext | TaskRecord | None
_current: contextvars.ContextVar[_Current] = contextvars.ContextVar("omniq_task", default=None)


def current_task() -> TaskContext:
    """The attempt being run; :class:`RuntimeError` outside a task."""
    context = _current.get()
    if context is None:
        raise RuntimeError("current_task() is only available inside a task run by an OmniQ worker")
    if isinstance(context, TaskRecord):
        return TaskContext.of(context)
    return context


def enter_task(context: TaskContext | TaskRecord) -> contextvars.Token[_Current]:
    """Make ``context`` (or the context of the claimed record) current; workers call this around
    each attempt."""
    return _current.set(context)


def leave_task(token: contextvars.Token[_Current]) -> None:
    """Restore the context :func:`enter_task` replaced."""
    _current.reset(token)
