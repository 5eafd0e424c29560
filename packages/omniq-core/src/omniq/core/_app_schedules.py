"""The application's schedules: adding them, reading them, pausing, resuming and cancelling them."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Unpack

from omniq.core._app_base import AppBase, TaskRef
from omniq.core.errors import UnknownScheduleError
from omniq.core.models import EventType, Schedule, ScheduleStatus
from omniq.core.options import RunOptions, Seconds, checked_id, task_options
from omniq.core.schedules import new_schedule, schedule_event, schedule_from_record
from omniq.core.triggers import Trigger, decode_schedule_spec

__all__ = ["AppSchedules"]


class AppSchedules(AppBase):
    """Runs made by the scheduler that every worker runs."""

    async def schedule(
        self,
        func: TaskRef,
        func_args: Mapping[str, Any] | None = None,
        *,
        args: Sequence[Any] = (),
        at: datetime | None = None,
        interval: Seconds | None = None,
        cron: str | None = None,
        timezone: str = "UTC",
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        max_runs: int | None = None,
        **options: Unpack[RunOptions],
    ) -> str:
        """Run ``func`` once ``at`` a time, every ``interval``, or on a ``cron`` expression (five
        fields, or six with seconds first, read in ``timezone``); returns the schedule id.

        Runs are enqueued by the scheduler that every worker runs, exactly once each however many
        workers there are. ``start_at``/``end_at`` bound the runs and ``max_runs`` counts them. A run
        missed while no scheduler ran is made once, late; the next is computed from then. Each
        run takes the options ``enqueue`` takes, but for its timing and dependencies.
        """
        await self.open()
        store = self._schedule_store()
        trigger = Trigger.build(
            at=at,
            interval=interval,
            cron=cron,
            timezone=timezone,
            start_at=start_at,
            end_at=end_at,
            max_runs=max_runs,
        )
        factory = self._factory(func, task_options("schedule", options, RunOptions))
        payload = self.serializer.dumps([list(args), dict(func_args or {})])
        record = new_schedule(factory.record(*payload), trigger, factory.ttl, payload)
        await store.add_schedule(record)
        return record.id

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        """The schedule with this id, or ``None``."""
        checked_id(schedule_id, "schedule_id")
        await self.open()
        record = await self._schedule_store().get_schedule(schedule_id)
        return None if record is None else schedule_from_record(record)

    async def list_schedules(
        self, status: ScheduleStatus | str | None = None, limit: int = 100
    ) -> list[Schedule]:
        """Schedules, oldest first, optionally of one status."""
        await self.open()
        records = await self._schedule_store().list_schedules(
            status=None if status is None else ScheduleStatus(status), limit=limit
        )
        return [schedule_from_record(record) for record in records]

    async def pause_schedule(self, schedule_id: str) -> bool:
        """Stop making runs until resumed; ``False`` if it is not active."""
        return await self._set_schedule_status(
            schedule_id, ScheduleStatus.PAUSED, (ScheduleStatus.ACTIVE,), EventType.SCHEDULE_PAUSED
        )

    async def resume_schedule(self, schedule_id: str) -> bool:
        """Make runs again, the next one computed from now (runs missed while paused are not
        replayed); ``False`` if it is not paused."""
        return await self._set_schedule_status(
            schedule_id, ScheduleStatus.ACTIVE, (ScheduleStatus.PAUSED,), EventType.SCHEDULE_RESUMED
        )

    async def cancel_schedule(self, schedule_id: str) -> bool:
        """End the schedule for good (its record stays, ``cancelled``); ``False`` if it already ended."""
        return await self._set_schedule_status(
            schedule_id,
            ScheduleStatus.CANCELLED,
            (ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED),
            EventType.SCHEDULE_CANCELLED,
        )

    async def _set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        from_statuses: tuple[ScheduleStatus, ...],
        kind: EventType,
    ) -> bool:
        checked_id(schedule_id, "schedule_id")
        await self.open()
        store = self._schedule_store()
        current = await store.get_schedule(schedule_id)
        if current is None:
            raise UnknownScheduleError(schedule_id)
        next_run_at = None
        now = time.time()
        if status is ScheduleStatus.ACTIVE:
            next_run_at = decode_schedule_spec(current.data).trigger.resumed_run(now, current.runs)
            if next_run_at is None:
                status = ScheduleStatus.FINISHED
        change = await store.set_schedule_status(
            schedule_id, status, next_run_at=next_run_at, now=now, from_statuses=from_statuses
        )
        if change is None or not change.changed:
            return False
        self.recorder.record(schedule_event(change.schedule, kind, now))
        return True
