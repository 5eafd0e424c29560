"""The in-memory backend's schedules."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import msgspec

from omniq.core._memory_store import Store
from omniq.core.interfaces import BaseScheduleStore
from omniq.core.models import ScheduleStatus
from omniq.core.records import EventRecord, ScheduleChange, ScheduleRecord, ScheduleRun, TaskRecord

__all__ = ["MemorySchedules"]

_replace = msgspec.structs.replace


class MemorySchedules(BaseScheduleStore):
    """Schedules of a :class:`~omniq.core._memory_store.Store`; a run's task is enqueued under the
    same lock as the schedule's update."""

    _s: Store

    @abc.abstractmethod
    def _enqueue_locked(self, records: Sequence[TaskRecord], events: Sequence[EventRecord]) -> list[str]:
        """Store new tasks; the caller holds the store's lock."""

    async def add_schedule(self, record: ScheduleRecord) -> None:
        with self._s.lock:
            self._s.schedules[record.id] = record

    async def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        return self._s.schedules.get(schedule_id)

    async def list_schedules(
        self, *, status: ScheduleStatus | None = None, limit: int = 100
    ) -> list[ScheduleRecord]:
        with self._s.lock:
            found = [r for r in self._s.schedules.values() if status is None or r.status == status]
        found.sort(key=lambda record: (record.created_at, record.id))
        return found[:limit]

    async def due_schedules(self, now: float, *, limit: int) -> list[ScheduleRecord]:
        with self._s.lock:
            due = [
                record
                for record in self._s.schedules.values()
                if record.status == ScheduleStatus.ACTIVE
                and record.next_run_at is not None
                and record.next_run_at <= now
            ]
        due.sort(key=lambda record: (record.next_run_at or 0.0, record.id))
        return due[:limit]

    async def trigger_schedule(
        self,
        schedule_id: str,
        expected_next_run_at: float,
        run: ScheduleRun,
        task: TaskRecord | None,
        *,
        events: Sequence[EventRecord] = (),
    ) -> bool:
        s = self._s
        with s.lock:
            record = s.schedules.get(schedule_id)
            if (
                record is None
                or record.status != ScheduleStatus.ACTIVE
                or record.next_run_at != expected_next_run_at
            ):
                return False
            s.schedules[schedule_id] = _replace(
                record,
                next_run_at=run.next_run_at,
                status=run.status,
                runs=run.runs,
                last_run_at=run.last_run_at,
                last_task_id=run.last_task_id,
                updated_at=run.last_run_at,
            )
            if task is not None:
                self._enqueue_locked([task], ())
            s.events.extend(events)
        return True

    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        *,
        next_run_at: float | None,
        now: float,
        from_statuses: Sequence[ScheduleStatus],
    ) -> ScheduleChange | None:
        with self._s.lock:
            record = self._s.schedules.get(schedule_id)
            if record is None:
                return None
            if record.status not in from_statuses:
                return ScheduleChange(schedule=record, changed=False)
            changed = _replace(record, status=status, next_run_at=next_run_at, updated_at=now)
            self._s.schedules[schedule_id] = changed
            return ScheduleChange(schedule=changed, changed=True)
