"""Schedules on PostgreSQL: a run and its task are one write, and a due run wakes the workers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from omniq.core.models import ScheduleStatus
from omniq.core.records import ScheduleRecord, ScheduleRun, TaskRecord
from omniq.postgres import PostgresBackend

TaskFactory = Callable[..., TaskRecord]


def _schedule(next_run_at: float) -> ScheduleRecord:
    now = time.time()
    return ScheduleRecord(
        id="s",
        func="m:f",
        queue="default",
        status=ScheduleStatus.ACTIVE,
        next_run_at=next_run_at,
        created_at=now,
        updated_at=now,
        data=b"spec",
    )


def _run(next_run_at: float, task_id: str) -> ScheduleRun:
    now = time.time()
    return ScheduleRun(
        next_run_at=next_run_at, status=ScheduleStatus.ACTIVE, runs=1, last_run_at=now, last_task_id=task_id
    )


async def test_a_run_whose_task_cannot_be_stored_is_not_claimed(
    backend: PostgresBackend, make_task: TaskFactory
) -> None:
    due = time.time() - 1
    await backend.add_schedule(_schedule(due))
    taken = make_task()
    await backend.enqueue([taken])
    with pytest.raises(asyncpg.UniqueViolationError):  # the run's task id is taken
        await backend.trigger_schedule("s", due, _run(due + 60, taken.id), taken)
    stored = await backend.get_schedule("s")
    assert stored is not None and (stored.next_run_at, stored.runs, stored.last_task_id) == (due, 0, None)
    fresh = make_task()
    assert await backend.trigger_schedule("s", due, _run(due + 60, fresh.id), fresh)


async def test_a_due_run_wakes_the_workers_of_its_queue_and_a_delayed_one_does_not(
    backend: PostgresBackend, admin: Any, make_task: TaskFactory
) -> None:
    due = time.time() - 1
    await backend.add_schedule(_schedule(due))
    received: list[str] = []
    await admin.add_listener(backend._sql.tasks_channel, lambda *args: received.append(args[-1]))
    later = make_task(queue="later", due_at=time.time() + 3600)
    assert await backend.trigger_schedule("s", due, _run(due + 1, later.id), later)
    now = make_task(queue="now")
    assert await backend.trigger_schedule("s", due + 1, _run(due + 2, now.id), now)
    assert not await backend.trigger_schedule("s", due + 1, _run(due + 2, "x"), make_task(queue="lost"))
    await admin.execute("SELECT 1")  # notifications arrive before the reply to a later query
    assert received == ["now"]
