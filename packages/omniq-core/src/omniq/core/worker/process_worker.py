"""The process-pool worker: every task function runs in one of ``max_workers`` child processes."""

from __future__ import annotations

from typing import Any, ClassVar

from omniq.core.errors import SerializationError
from omniq.core.serialization import SerializationManager
from omniq.core.worker._processes import ProcessPool, UnsendableValue
from omniq.core.worker.base import BaseWorker, Runner

__all__ = ["ProcessPoolWorker"]


class _ProcessResults(SerializationManager):
    """The worker's serializer, refusing an :class:`UnsendableValue` as it refuses any value it
    cannot encode: the execution core then records a non-retryable error naming the type."""

    def __init__(self, inner: SerializationManager) -> None:
        # Not calling the base initializer: everything is delegated to ``inner``.
        self._inner = inner
        self.allow_dill = inner.allow_dill

    def dumps(self, value: Any) -> tuple[str, bytes]:
        if isinstance(value, UnsendableValue):
            raise SerializationError(value.message)
        return self._inner.dumps(value)

    def loads(self, fmt: str, data: bytes) -> Any:
        return self._inner.loads(fmt, data)


class ProcessPoolWorker(BaseWorker):
    """Runs each task in one of ``max_workers`` child processes, started with the worker.

    Functions are sent by import path and imported in the child; arguments and values cross by
    pickle. A timed-out or cancelled task's process is killed (SIGTERM, then SIGKILL) and replaced,
    so even a call blocked in C stops; a process that dies mid-task fails that attempt with
    :class:`~omniq.core.errors.WorkerProcessDiedError`, which is retried by the task's policy.
    """

    kind: ClassVar[str] = "process"
    _pool: ProcessPool | None = None

    @property
    def pids(self) -> list[int]:
        """The process ids of the worker's child processes (for monitoring; empty before start)."""
        return [] if self._pool is None else self._pool.pids

    def make_runner(self) -> Runner:
        if not isinstance(self.serializer, _ProcessResults):
            self.serializer = _ProcessResults(self.serializer)
        self._pool = ProcessPool(self.max_workers, allow_dill=self.settings.allow_dill)
        self._pool.start()
        return self._pool
