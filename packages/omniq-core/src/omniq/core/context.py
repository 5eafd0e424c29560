"""What a running task can know about itself: its id and which attempt this is.

Idempotent task code needs both (a payment keyed by task id, a step skipped on a retry). The worker
sets the context around each attempt; it follows the call into threads, coroutines and child
processes, so :func:`current_task` works the same on every worker kind.
"""

from __future__ import annotations

import contextvars

import msgspec

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


_current: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar("omniq_task", default=None)


def current_task() -> TaskContext:
    """The attempt being run; :class:`RuntimeError` outside a task."""
    context = _current.get()
    if context is None:
        raise RuntimeError("current_task() is only available inside a task run by an OmniQ worker")
    return context


def enter_task(context: TaskContext) -> contextvars.Token[TaskContext | None]:
    """Make ``context`` current (workers call this around each attempt)."""
    return _current.set(context)


def leave_task(token: contextvars.Token[TaskContext | None]) -> None:
    """Restore the context :func:`enter_task` replaced."""
    _current.reset(token)
