"""The thread-pool worker: every task function runs in one of ``max_workers`` threads."""

from __future__ import annotations

from typing import ClassVar

from omniq.core.worker._threads import InterruptibleThreads
from omniq.core.worker.base import BaseWorker, Runner

__all__ = ["ThreadPoolWorker"]


class ThreadPoolWorker(BaseWorker):
    """Runs each task in a thread; coroutine functions run on an event loop owned by that thread.

    Timeouts raise :class:`~omniq.core.errors.TaskTimeoutError` inside the thread; a call blocked in
    C code notices when it returns (the attempt is recorded as timed out after a short grace).
    """

    kind: ClassVar[str] = "thread"

    def make_runner(self) -> Runner:
        return InterruptibleThreads(self.max_workers)
