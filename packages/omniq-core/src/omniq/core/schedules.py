"""Schedules between the application, the store and the scheduler loop every worker runs.

A schedule is stored once (:func:`new_schedule`); any number of workers then run
:class:`Scheduler` ticks against the same store. A tick lists the due schedules and claims each run
with ``trigger_schedule``, which moves ``next_run_at`` forward and stores the run's task in one atomic
step: of all the schedulers that saw the run, exactly one enqueues it, and a crash cannot leave a
claimed run without its task.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import msgspec

from omniq.core.codec import from_timestamp
from omniq.core.events import EventRecorder
from omniq.core.ids import new_id
from omniq.core.interfaces import BaseScheduleStore
from omniq.core.models import EventType, Schedule, ScheduleStatus, TaskStatus
from omniq.core.records import EventRecord, ScheduleRecord, ScheduleRun, TaskRecord
from omniq.core.triggers import ScheduleSpec, Trigger, decode_schedule_spec, encode_schedule_spec

__all__ = ["Scheduler", "new_schedule", "schedule_event", "schedule_from_record"]

logger = logging.getLogger("omniq.scheduler")

#: Due schedules one tick handles; the rest wait for the next tick.
TICK_LIMIT = 200


def new_schedule(
    template: TaskRecord, trigger: Trigger, ttl: float | None, payload: tuple[str, bytes]
) -> ScheduleRecord:
    """The record of a new schedule whose runs enqueue copies of ``template``."""
    now = time.time()
    spec = ScheduleSpec(
        trigger=trigger,
        task_data=template.data,
        priority=template.priority,
        ttl=ttl,
        max_attempts=template.max_attempts,
        payload_format=payload[0],
        payload=payload[1],
    )
    first = trigger.first_run(now)
    return ScheduleRecord(
        id=new_id(),
        func=template.func,
        queue=template.queue,
        status=ScheduleStatus.ACTIVE if first is not None else ScheduleStatus.FINISHED,
        next_run_at=first,
        created_at=now,
        updated_at=now,
        data=encode_schedule_spec(spec),
    )


def schedule_from_record(record: ScheduleRecord) -> Schedule:
    """The public view of a stored schedule."""
    spec = decode_schedule_spec(record.data)
    trigger = spec.trigger
    return Schedule(
        id=record.id,
        func=record.func,
        queue=record.queue,
        payload=spec.payload,
        payload_format=spec.payload_format,
        status=record.status,
        at=None if trigger.at is None else from_timestamp(trigger.at),
        interval=None if trigger.interval is None else timedelta(seconds=trigger.interval),
        cron=trigger.cron,
        timezone=trigger.timezone,
        start_at=None if trigger.start_at is None else from_timestamp(trigger.start_at),
        end_at=None if trigger.end_at is None else from_timestamp(trigger.end_at),
        max_runs=trigger.max_runs,
        runs=record.runs,
        next_run_at=None if record.next_run_at is None else from_timestamp(record.next_run_at),
        last_run_at=None if record.last_run_at is None else from_timestamp(record.last_run_at),
        last_task_id=record.last_task_id,
        created_at=from_timestamp(record.created_at),
    )


def schedule_event(
    record: ScheduleRecord, kind: EventType, at: float, *, error: str | None = None, **details: Any
) -> EventRecord:
    """An event about a schedule: its id stands where a task event has the task's."""
    return EventRecord(
        type=kind.value,
        task_id=record.id,
        at=at,
        queue=record.queue,
        error=error,
        details=msgspec.json.encode({"schedule_id": record.id, **details}).decode(),
    )


class Scheduler:
    """One scheduler: :meth:`tick` enqueues the runs that are due and this scheduler wins."""

    def __init__(
        self,
        store: BaseScheduleStore,
        events: EventRecorder,
        can_run: Callable[[str], object],
    ) -> None:
        self.store = store
        self.events = events
        self.can_run = can_run

    async def tick(self) -> int:
        """Claim and enqueue every run due now; returns how many this scheduler enqueued."""
        now = time.time()
        enqueued = 0
        for record in await self.store.due_schedules(now, limit=TICK_LIMIT):
            enqueued += await self._trigger(record, now)
        return enqueued

    async def _trigger(self, record: ScheduleRecord, now: float) -> bool:
        assert record.next_run_at is not None
        try:
            spec = decode_schedule_spec(record.data)
        except msgspec.DecodeError as exc:
            await self._skip(record, now, None, f"stored schedule data cannot be decoded: {exc}")
            return False
        try:
            self.can_run(record.func)
        except Exception as exc:  # noqa: BLE001 - reported by event; the schedule is kept
            await self._skip(record, now, spec, f"{type(exc).__name__}: {exc}")
            return False
        runs = record.runs + 1
        following = spec.trigger.next_run(record.next_run_at, now, runs)
        task = _run_task(record, spec, now)
        run = ScheduleRun(
            next_run_at=following,
            status=ScheduleStatus.ACTIVE if following is not None else ScheduleStatus.FINISHED,
            runs=runs,
            last_run_at=now,
            last_task_id=task.id,
        )
        events = [
            schedule_event(
                record, EventType.SCHEDULE_TRIGGERED, now, task_id=task.id, run=runs, due=record.next_run_at
            ),
            EventRecord(
                type=EventType.ENQUEUED.value,
                task_id=task.id,
                at=now,
                queue=task.queue,
                details=msgspec.json.encode({"schedule_id": record.id}).decode(),
            ),
        ]
        return await self._claim_run(record, run, task, events)

    async def _skip(self, record: ScheduleRecord, now: float, spec: ScheduleSpec | None, reason: str) -> None:
        """Move past a run that cannot be made, keep the schedule, and say why."""
        assert record.next_run_at is not None
        following = None if spec is None else spec.trigger.next_run(record.next_run_at, now, record.runs)
        run = ScheduleRun(
            next_run_at=following,
            status=ScheduleStatus.ACTIVE if following is not None else ScheduleStatus.PAUSED,
            runs=record.runs,
            last_run_at=now,
            last_task_id=record.last_task_id,
        )
        error = msgspec.json.encode({"type": "omniq.ScheduleError", "message": reason, "traceback": None})
        event = schedule_event(record, EventType.SCHEDULE_ERROR, now, error=error.decode())
        if await self._claim_run(record, run, None, [event]):
            logger.error("schedule %s: run skipped: %s", record.id, reason)

    async def _claim_run(
        self, record: ScheduleRecord, run: ScheduleRun, task: TaskRecord | None, events: list[EventRecord]
    ) -> bool:
        """Claim the run due at the schedule's ``next_run_at`` (see ``trigger_schedule``) with its
        events: written by the claim where the store keeps events too, else recorded after it."""
        assert record.next_run_at is not None
        travels = self.events.travels_with(self.store)
        if not await self.store.trigger_schedule(
            record.id, record.next_run_at, run, task, events=events if travels else ()
        ):
            return False  # another scheduler took this run
        if not travels:
            self.events.record_many(events)
        return True


def _run_task(record: ScheduleRecord, spec: ScheduleSpec, now: float) -> TaskRecord:
    return TaskRecord(
        id=new_id(),
        queue=record.queue,
        func=record.func,
        priority=spec.priority,
        status=TaskStatus.PENDING,
        due_at=now,
        created_at=now,
        updated_at=now,
        expires_at=None if spec.ttl is None else now + spec.ttl,
        max_attempts=spec.max_attempts,
        data=spec.task_data,
        schedule_id=record.id,
    )
