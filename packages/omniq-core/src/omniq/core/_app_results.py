"""The application's reading side: results (waiting for them if asked) and events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from omniq.core._app_base import AppBase
from omniq.core.codec import event_from_record, result_from_record
from omniq.core.errors import UnknownScheduleError, ValidationError
from omniq.core.models import EventType, TaskEvent, TaskResult
from omniq.core.options import checked_id
from omniq.core.worker._outcomes import final_result

__all__ = ["AppResults"]


class AppResults(AppBase):
    """What tasks returned, and what happened to them."""

    async def get_result(
        self,
        task_id: str | None = None,
        *,
        schedule_id: str | None = None,
        kind: Literal["latest"] = "latest",
        timeout: float | None = None,
    ) -> TaskResult | None:
        """The task's result: ``None`` if there is none yet, or with ``timeout`` the result once it
        arrives (raises :class:`TimeoutError` if none does in time).

        With ``schedule_id`` instead of a task id: the result of the schedule's ``latest`` run
        (with ``timeout``, waiting for a first run and its result).

        A task that ended ``dead``, ``cancelled`` or ``expired`` always has a result, even when the
        process that ended it stopped before storing one: it is rebuilt from the task.
        """
        await self.open()
        if (task_id is None) == (schedule_id is None):
            raise ValidationError("task_id", "give a task id or a schedule_id (not both)")
        if task_id is not None:
            checked_id(task_id)
        if schedule_id is not None:
            checked_id(schedule_id, "schedule_id")
        if kind != "latest":
            raise ValidationError("kind", f"only 'latest' is supported, got {kind!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        if schedule_id is not None:
            task_id = await self._latest_run(schedule_id, deadline)
        if task_id is None:
            return None  # the schedule has made no run yet
        if deadline is None:
            record = await self.result_store.get_result(task_id)
        else:
            record = await self.result_store.wait_for_result(task_id, max(0.0, deadline - time.monotonic()))
        if record is None:
            task = await self.task_queue.get_task(task_id)
            record = None if task is None else final_result(task, task.updated_at)
        if record is None and timeout is not None:
            raise TimeoutError(f"no result for task {task_id} within {timeout} s")
        return None if record is None else result_from_record(record, self.serializer)

    async def _latest_run(self, schedule_id: str, deadline: float | None) -> str | None:
        """The id of the schedule's latest run; waits for a first run until ``deadline``."""
        store = self._schedule_store()
        while True:
            record = await store.get_schedule(schedule_id)
            if record is None:
                raise UnknownScheduleError(schedule_id)
            if record.last_task_id is not None:
                return record.last_task_id
            if deadline is None:
                return None
            if time.monotonic() >= deadline:
                raise TimeoutError(f"schedule {schedule_id} made no run in time")
            await asyncio.sleep(min(self.settings.poll_interval, max(0.0, deadline - time.monotonic())))

    async def events(
        self,
        task_id: str | None = None,
        *,
        types: Sequence[EventType | str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[TaskEvent]:
        """Stored events, oldest first (empty when event logging is off)."""
        if task_id is not None:
            checked_id(task_id)
        await self.open()
        if self.event_store is None:
            return []
        await self.recorder.flush()
        records = await self.event_store.query_events(
            task_id=task_id,
            types=None if types is None else [EventType(t).value for t in types],
            since=None if since is None else since.timestamp(),
            until=None if until is None else until.timestamp(),
            limit=limit,
        )
        return [event_from_record(record) for record in records]
