"""The application's operator side: listing, counting, cancelling, requeueing and purging tasks."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta

import msgspec

from omniq.core._app_base import AppBase
from omniq.core.codec import task_from_record
from omniq.core.errors import ValidationError
from omniq.core.models import EventType, Task, TaskStatus
from omniq.core.options import Seconds, checked_id
from omniq.core.worker._finals import store_finals
from omniq.core.worker._outcomes import task_event
from omniq.core.worker._recovery import PURGE_BATCH

__all__ = ["FINAL_STATUSES", "AppAdmin"]

#: The statuses ``requeue`` revives.
_REQUEUABLE = frozenset({TaskStatus.DEAD, TaskStatus.CANCELLED, TaskStatus.EXPIRED})
#: The statuses ``purge_tasks`` deletes: no worker will change a task in one of them.
FINAL_STATUSES = (TaskStatus.COMPLETED, TaskStatus.DEAD, TaskStatus.CANCELLED, TaskStatus.EXPIRED)


class AppAdmin(AppBase):
    """Reading and changing tasks that are already queued."""

    async def list_tasks(
        self, queue_name: str | None = None, status: TaskStatus | str | None = None, limit: int = 100
    ) -> list[Task]:
        """Tasks, oldest first, filtered by queue and status."""
        await self.open()
        records = await self._admin("listing tasks").list_tasks(
            queue=queue_name, status=None if status is None else TaskStatus(status), limit=limit
        )
        return [task_from_record(record) for record in records]

    async def dead_letters(self, queue_name: str | None = None, limit: int = 100) -> list[Task]:
        """Tasks that ran out of attempts or could not run, oldest first, with their errors."""
        return await self.list_tasks(queue_name, TaskStatus.DEAD, limit)

    async def purge_dead_letters(self, older_than: Seconds | None = None) -> int:
        """Delete dead tasks (those dead for longer than ``older_than``, if given); returns how many."""
        return await self.purge_tasks(TaskStatus.DEAD, older_than)

    async def purge_tasks(
        self,
        status: TaskStatus | str | Sequence[TaskStatus | str],
        older_than: Seconds | None = None,
    ) -> int:
        """Delete the tasks in ``status`` (one final status or several: ``completed``, ``dead``,
        ``cancelled``, ``expired``), only those last changed longer than ``older_than`` ago if
        given; returns how many.

        Their results stay until their own expiry. A finished task that waiting tasks depend on is
        kept until they are resolved (at the next reap), so that none waits for ever.

        Raises:
            ValidationError: ``status`` names a status that is not final, or ``older_than`` is
                negative.
        """
        statuses = _final_statuses(status)
        await self.open()
        admin = self._admin("purging tasks")
        before = None
        if older_than is not None:
            age = older_than.total_seconds() if isinstance(older_than, timedelta) else float(older_than)
            if age < 0:
                raise ValidationError("older_than", f"must be zero or positive, got {older_than!r}")
            before = time.time() - age
        purged = 0
        for final in statuses:
            # In batches, so that no single call holds the store for the whole purge.
            while True:
                batch = await admin.purge_tasks(final, before=before, limit=PURGE_BATCH)
                purged += batch
                if batch < PURGE_BATCH:
                    break
        return purged

    async def requeue(self, task_id: str) -> bool:
        """Run a dead, cancelled or expired task again with fresh attempts (its old result goes)."""
        checked_id(task_id)
        await self.open()
        admin = self._admin("requeueing tasks")
        task = await self.task_queue.get_task(task_id)
        if task is None or task.status not in _REQUEUABLE:
            return False
        # The old result goes first: once the task is pending, a worker may store a new one.
        await self.result_store.delete_results([task_id])
        now = time.time()
        fresh = msgspec.structs.replace(task, attempts=0)  # as the requeue leaves it
        event = task_event(fresh, EventType.ENQUEUED, now, details={"requeued": True})
        travels = self.recorder.travels_with(self.task_queue)
        change = await admin.requeue(task_id, now, events=[event] if travels else ())
        if change is None or not change.changed:  # unknown, or not dead, cancelled or expired
            return False
        if not travels:
            self.recorder.record(event)
        return True

    async def cancel(self, task_id: str) -> bool:
        """Cancel a task that has not finished; ``False`` if it is unknown or already final.

        A running task's worker stops it at once where the task queue pushes cancellations (every
        bundled backend does), else at its next heartbeat; it is not retried.
        """
        checked_id(task_id)
        await self.open()
        now = time.time()
        change = await self.task_queue.cancel(task_id, now)
        if change is None or not change.changed:  # unknown, or already final
            return False
        self.recorder.record(task_event(change.task, EventType.CANCELLED, now))
        report = await self.task_queue.resolve_dependencies([task_id], now)
        await store_finals(
            [change.task],
            report,
            now=now,
            record_event=self.recorder.record,
            put_results=self.result_store.put_results,
        )
        return True

    async def counts(self) -> dict[str, dict[str, int]]:
        """Task counts per queue and status."""
        await self.open()
        return await self._admin("counting tasks").count_tasks()


def _final_statuses(status: TaskStatus | str | Sequence[TaskStatus | str]) -> list[TaskStatus]:
    """The final statuses ``status`` names (one, or several), each once, in the order given."""
    names = [status] if isinstance(status, str) else list(status)
    finals = {final.value: final for final in FINAL_STATUSES}
    if not names:
        raise ValidationError("status", "name at least one status")
    chosen: dict[TaskStatus, None] = {}
    for name in names:
        final = finals.get(name.value if isinstance(name, TaskStatus) else name)
        if final is None:
            raise ValidationError(
                "status", f"{name!r} is not a final status; purge one of: {', '.join(finals)}"
            )
        chosen[final] = None
    return list(chosen)
