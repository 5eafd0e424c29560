"""The in-memory backend's result store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from omniq.core._memory_store import Store, wake
from omniq.core.interfaces import BaseResultStorage
from omniq.core.records import ResultRecord, live_result

__all__ = ["MemoryResults"]


class MemoryResults(BaseResultStorage):
    """Results of a :class:`~omniq.core._memory_store.Store`, expired on read."""

    _s: Store

    async def put_results(self, records: Sequence[ResultRecord]) -> None:
        s = self._s
        with s.lock:
            for record in records:
                s.results[record.task_id] = record
                wake(s.result_waiters.pop(record.task_id, []))

    async def get_result(self, task_id: str) -> ResultRecord | None:
        return live_result(self._s.results.get(task_id), time.time())

    async def delete_results(self, task_ids: Sequence[str]) -> None:
        with self._s.lock:
            for task_id in task_ids:
                self._s.results.pop(task_id, None)

    async def purge_results(self, now: float) -> int:
        s = self._s
        with s.lock:
            doomed = [task_id for task_id, record in s.results.items() if live_result(record, now) is None]
            for task_id in doomed:
                del s.results[task_id]
        return len(doomed)

    async def wait_for_result(self, task_id: str, timeout: float) -> ResultRecord | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiter = (loop, future)
        waiters = self._s.result_waiters
        with self._s.lock:
            record = self._s.results.get(task_id)
            if record is None:
                waiters.setdefault(task_id, []).append(waiter)
        if record is None:
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(future, timeout)
            finally:
                with self._s.lock:
                    pending = waiters.get(task_id, [])
                    if waiter in pending:
                        pending.remove(waiter)
                        if not pending:
                            del waiters[task_id]
        return await self.get_result(task_id)
