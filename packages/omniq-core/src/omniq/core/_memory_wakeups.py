"""The in-memory backend's push wake-ups: new tasks wake idle workers, cancellations their worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

from omniq.core._memory_store import Store
from omniq.core.interfaces import BaseTaskQueue

__all__ = ["MemoryWakeups"]


class MemoryWakeups(BaseTaskQueue):
    """Waiting for tasks and watching for cancellations on a
    :class:`~omniq.core._memory_store.Store` (the store wakes them when it changes)."""

    _s: Store

    async def wait_for_tasks(self, queues: Sequence[str], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiter = (loop, future)
        with self._s.lock:
            self._s.task_waiters.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(future, timeout)
        finally:
            with self._s.lock, contextlib.suppress(ValueError):
                self._s.task_waiters.remove(waiter)

    @contextlib.asynccontextmanager
    async def watch_cancellations(
        self, worker_id: str, on_cancel: Callable[[str], None]
    ) -> AsyncIterator[bool]:
        """Call ``on_cancel`` in this loop when :meth:`cancel` takes a task leased to ``worker_id``."""
        watcher = (asyncio.get_running_loop(), on_cancel)
        with self._s.lock:
            self._s.cancel_watchers.setdefault(worker_id, []).append(watcher)
        try:
            yield True
        finally:
            with self._s.lock:
                watchers = self._s.cancel_watchers[worker_id]
                watchers.remove(watcher)
                if not watchers:
                    del self._s.cancel_watchers[worker_id]
