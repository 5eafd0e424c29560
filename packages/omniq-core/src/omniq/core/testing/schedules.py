"""Conformance tests of schedules: the store's atomic claim of a run, and the rules of SPEC §3."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.capabilities import Capability
from omniq.core.errors import UnknownScheduleError, ValidationError
from omniq.core.interfaces import BaseComponent, BaseScheduleStore, BaseTaskQueue
from omniq.core.models import EventType, ResultStatus, ScheduleStatus, TaskStatus
from omniq.core.records import ScheduleRecord, ScheduleRun
from omniq.core.schedules import Scheduler
from omniq.core.testing import tasks
from omniq.core.testing._support import AppFactory, ConformanceFixtures, eventually, make_record, requires

__all__ = ["ScheduleTests"]


def _schedule_record(schedule_id: str, next_run_at: float | None, **fields: object) -> ScheduleRecord:
    now = time.time()
    values: dict[str, object] = {
        "id": schedule_id,
        "func": f"{tasks.__name__}:noop",
        "queue": "default",
        "status": ScheduleStatus.ACTIVE,
        "next_run_at": next_run_at,
        "created_at": now,
        "updated_at": now,
        "data": b"spec",
    }
    values.update(fields)
    return ScheduleRecord(**values)  # type: ignore[arg-type]


def _run(next_run_at: float | None, runs: int, task_id: str | None) -> ScheduleRun:
    return ScheduleRun(
        next_run_at=next_run_at,
        status=ScheduleStatus.ACTIVE,
        runs=runs,
        last_run_at=time.time(),
        last_task_id=task_id,
    )


def _scheduler(app: AsyncOmniQ) -> Scheduler:
    store = app.task_queue
    assert isinstance(store, BaseScheduleStore)
    return Scheduler(store, app.recorder, app.functions.resolve)


class ScheduleTests(ConformanceFixtures):
    """Schedules on the backend's store and through the application."""

    pytestmark = requires(Capability.SCHEDULES)

    @pytest.fixture
    def schedules(self, component: BaseComponent) -> BaseScheduleStore:
        """The component as a schedule store (a task queue backend must keep schedules)."""
        assert isinstance(component, BaseScheduleStore), f"{component!r} does not keep schedules"
        return component

    # -- the store ---------------------------------------------------------------------------

    async def test_store_lists_due_active_schedules_earliest_first(
        self, schedules: BaseScheduleStore
    ) -> None:
        now = time.time()
        await schedules.add_schedule(_schedule_record("later", now - 1))
        await schedules.add_schedule(_schedule_record("first", now - 5))
        await schedules.add_schedule(_schedule_record("future", now + 60))
        await schedules.add_schedule(_schedule_record("paused", now - 9, status=ScheduleStatus.PAUSED))
        await schedules.add_schedule(_schedule_record("done", None, status=ScheduleStatus.FINISHED))
        assert [r.id for r in await schedules.due_schedules(now, limit=10)] == ["first", "later"]
        assert [r.id for r in await schedules.due_schedules(now, limit=1)] == ["first"]
        assert {r.id for r in await schedules.list_schedules(status=ScheduleStatus.PAUSED)} == {"paused"}
        assert len(await schedules.list_schedules()) == 5
        stored = await schedules.get_schedule("first")
        assert stored is not None and stored.data == b"spec"
        assert await schedules.get_schedule("nope") is None

    async def test_store_triggers_a_run_once_and_stores_its_task(
        self, schedules: BaseScheduleStore, queue: BaseTaskQueue
    ) -> None:
        due = time.time() - 1
        await schedules.add_schedule(_schedule_record("s", due))
        contenders = [make_record() for _ in range(5)]
        won = await asyncio.gather(
            *(schedules.trigger_schedule("s", due, _run(due + 60, 1, task.id), task) for task in contenders)
        )
        assert sorted(won) == [False] * 4 + [True]
        winner = contenders[won.index(True)]
        stored = await schedules.get_schedule("s")
        assert stored is not None
        assert (stored.next_run_at, stored.runs, stored.last_task_id) == (due + 60, 1, winner.id)
        found = await queue.get_task(winner.id)
        assert found is not None and found.status is TaskStatus.PENDING
        for loser in contenders:
            if loser is not winner:
                assert await queue.get_task(loser.id) is None
        assert not await schedules.trigger_schedule("s", due, _run(due + 120, 2, None), None)

    async def test_store_changes_status_only_from_the_given_ones(self, schedules: BaseScheduleStore) -> None:
        now = time.time()
        await schedules.add_schedule(_schedule_record("s", now + 5))
        paused = await schedules.set_schedule_status(
            "s", ScheduleStatus.PAUSED, next_run_at=None, now=now, from_statuses=[ScheduleStatus.ACTIVE]
        )
        assert paused is not None and paused.changed
        assert (paused.schedule.status, paused.schedule.next_run_at, paused.schedule.updated_at) == (
            ScheduleStatus.PAUSED,
            None,
            now,
        )
        again = await schedules.set_schedule_status(
            "s", ScheduleStatus.PAUSED, next_run_at=None, now=now + 1, from_statuses=[ScheduleStatus.ACTIVE]
        )
        assert again is not None and not again.changed and again.schedule.updated_at == now
        assert await schedules.due_schedules(now + 10, limit=10) == []
        assert not await schedules.trigger_schedule("s", now + 5, _run(None, 1, None), None)
        assert (
            await schedules.set_schedule_status(
                "nope",
                ScheduleStatus.PAUSED,
                next_run_at=None,
                now=now,
                from_statuses=[ScheduleStatus.ACTIVE],
            )
            is None
        )

    # -- through the application ------------------------------------------------------------------

    async def test_interval_schedule_runs_until_max_runs_then_finishes(self, make_app: AppFactory) -> None:
        app = await make_app(scheduler_interval=0.05)
        schedule_id = await app.schedule(tasks.add, {"a": 1, "b": 2}, interval=0.1, max_runs=3)
        await app.start_worker()
        await eventually(lambda: _schedule_status_is(app, schedule_id, ScheduleStatus.FINISHED))
        schedule = await app.get_schedule(schedule_id)
        assert schedule is not None and (schedule.runs, schedule.next_run_at) == (3, None)
        result = await app.get_result(schedule_id=schedule_id, timeout=60)
        assert result is not None and (result.value, result.schedule_id) == (3, schedule_id)
        runs = [t for t in await app.list_tasks() if t.schedule_id == schedule_id]
        assert len(runs) == 3
        types = [e.type for e in await app.events(schedule_id)]
        assert types.count(EventType.SCHEDULE_TRIGGERED) == 3

    async def test_one_off_schedule_runs_once_at_its_time(self, make_app: AppFactory) -> None:
        app = await make_app(scheduler_interval=0.05)
        at = datetime.now(UTC) + timedelta(seconds=0.3)
        schedule_id = await app.schedule(tasks.add, {"a": 2, "b": 2}, at=at)
        await app.start_worker()
        result = await app.get_result(schedule_id=schedule_id, timeout=60)
        assert result is not None and result.value == 4
        assert result.started_at is not None and result.started_at >= at
        schedule = await app.get_schedule(schedule_id)
        assert schedule is not None and (schedule.status, schedule.runs) == (ScheduleStatus.FINISHED, 1)

    async def test_cron_schedule_with_seconds_runs_each_second(self, make_app: AppFactory) -> None:
        app = await make_app(scheduler_interval=0.05)
        schedule_id = await app.schedule(tasks.add, {"a": 1, "b": 1}, cron="* * * * * *", max_runs=2)
        schedule = await app.get_schedule(schedule_id)
        assert schedule is not None and schedule.next_run_at is not None
        assert schedule.next_run_at.microsecond == 0  # on a whole second
        await app.start_worker()
        await eventually(lambda: _schedule_status_is(app, schedule_id, ScheduleStatus.FINISHED))
        runs = [t for t in await app.list_tasks() if t.schedule_id == schedule_id]
        assert len(runs) == 2

    async def test_cron_is_read_in_the_schedules_time_zone(self, app: AsyncOmniQ) -> None:
        schedule_id = await app.schedule(tasks.noop, cron="30 9 * * *", timezone="Asia/Kolkata")
        schedule = await app.get_schedule(schedule_id)
        assert schedule is not None and schedule.next_run_at is not None
        local = schedule.next_run_at.astimezone(ZoneInfo("Asia/Kolkata"))
        assert (local.hour, local.minute, local.second) == (9, 30, 0)
        assert (schedule.next_run_at.hour, schedule.next_run_at.minute) == (4, 0)  # UTC+5:30

    async def test_paused_schedule_makes_no_runs_and_resumes_from_now(self, make_app: AppFactory) -> None:
        app = await make_app(scheduler_interval=0.05)
        schedule_id = await app.schedule(tasks.noop, interval=0.2)
        assert await app.pause_schedule(schedule_id)
        assert not await app.pause_schedule(schedule_id)
        await app.start_worker()
        await asyncio.sleep(0.6)  # several intervals and ticks while paused
        assert [t for t in await app.list_tasks() if t.schedule_id == schedule_id] == []
        resumed_at = datetime.now(UTC)
        assert await app.resume_schedule(schedule_id)
        schedule = await app.get_schedule(schedule_id)
        assert schedule is not None and schedule.status is ScheduleStatus.ACTIVE
        assert schedule.next_run_at is not None and schedule.next_run_at >= resumed_at + timedelta(
            seconds=0.2
        )
        await eventually(lambda: _runs_at_least(app, schedule_id, 1))
        assert await app.cancel_schedule(schedule_id)
        assert not await app.cancel_schedule(schedule_id)
        types = [e.type for e in await app.events(schedule_id)]
        for kind in (EventType.SCHEDULE_PAUSED, EventType.SCHEDULE_RESUMED, EventType.SCHEDULE_CANCELLED):
            assert kind in types

    async def test_a_cancelled_schedule_makes_no_more_runs(self, make_app: AppFactory) -> None:
        app = await make_app(scheduler_interval=0.05)
        schedule_id = await app.schedule(tasks.noop, interval=0.1)
        await app.start_worker()
        await eventually(lambda: _runs_at_least(app, schedule_id, 1))
        assert await app.cancel_schedule(schedule_id)
        settled = await app.get_schedule(schedule_id)
        assert settled is not None
        await asyncio.sleep(0.5)
        schedule = await app.get_schedule(schedule_id)
        assert schedule is not None and (schedule.status, schedule.runs) == (
            ScheduleStatus.CANCELLED,
            settled.runs,
        )
        assert [s.id for s in await app.list_schedules(ScheduleStatus.CANCELLED)] == [schedule_id]

    async def test_runs_missed_while_no_scheduler_ran_are_made_once(self, app: AsyncOmniQ) -> None:
        schedule_id = await app.schedule(tasks.noop, interval=0.05)
        await asyncio.sleep(0.5)  # about ten runs missed
        scheduler = _scheduler(app)
        before = time.time()
        assert await scheduler.tick() == 1
        assert await scheduler.tick() == 0
        schedule = await app.get_schedule(schedule_id)
        assert schedule is not None and schedule.runs == 1
        assert schedule.next_run_at is not None and schedule.next_run_at.timestamp() > before

    async def test_concurrent_schedulers_enqueue_each_run_once(self, make_app: AppFactory) -> None:
        apps = [await make_app() for _ in range(3)]
        schedule_id = await apps[0].schedule(tasks.noop, interval=0.02, max_runs=25)
        schedulers = [_scheduler(app) for app in apps]
        while (
            schedule := await apps[0].get_schedule(schedule_id)
        ) and schedule.status is ScheduleStatus.ACTIVE:
            await asyncio.gather(*(scheduler.tick() for scheduler in schedulers))
            await asyncio.sleep(0.01)
        runs = [t for t in await apps[0].list_tasks(limit=1000) if t.schedule_id == schedule_id]
        assert len(runs) == 25

    async def test_a_schedule_whose_function_is_gone_is_reported_and_kept(self, app: AsyncOmniQ) -> None:
        schedule_id = await app.schedule("no.such.module:func", interval=0.05)
        await asyncio.sleep(0.1)
        assert await _scheduler(app).tick() == 0
        schedule = await app.get_schedule(schedule_id)
        assert schedule is not None and (schedule.status, schedule.runs) == (ScheduleStatus.ACTIVE, 0)
        assert await app.list_tasks() == []
        await app.recorder.flush()
        (event,) = await app.events(schedule_id, types=[EventType.SCHEDULE_ERROR])
        assert event.error is not None and "cannot be imported" in event.error.message

    async def test_bad_schedules_are_refused_with_the_value_named(self, app: AsyncOmniQ) -> None:
        now = datetime.now(UTC)
        for options, field, shown in (
            ({"cron": "61 * * * *"}, "cron", "61 * * * *"),
            ({"cron": "every day"}, "cron", "every day"),
            ({"interval": 0}, "interval", "got 0 seconds"),
            ({"interval": timedelta(seconds=-5)}, "interval", "got -5 seconds"),
            ({"interval": 5, "start_at": now, "end_at": now - timedelta(hours=1)}, "end_at", "is not after"),
            ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "timezone", "Mars/Olympus"),
            ({"interval": 5, "cron": "* * * * *"}, "at", "exactly one"),
            ({"interval": 5, "max_runs": 0}, "max_runs", "0"),
        ):
            with pytest.raises(ValidationError) as caught:
                await app.schedule(tasks.noop, **options)
            assert caught.value.field == field
            assert shown in str(caught.value)
        assert await app.list_schedules() == []
        with pytest.raises(UnknownScheduleError, match="'nope'"):
            await app.pause_schedule("nope")

    async def test_latest_result_of_a_schedule_without_runs_is_none(self, app: AsyncOmniQ) -> None:
        schedule_id = await app.schedule(tasks.noop, interval=3600)
        assert await app.get_result(schedule_id=schedule_id) is None
        with pytest.raises(UnknownScheduleError):
            await app.get_result(schedule_id="nope")

    async def test_events_of_a_run_name_the_schedule(self, make_app: AppFactory) -> None:
        app = await make_app(scheduler_interval=0.05)
        schedule_id = await app.schedule(tasks.add, {"a": 1, "b": 1}, interval=0.1, max_runs=1)
        await app.start_worker()
        result = await app.get_result(schedule_id=schedule_id, timeout=60)
        assert result is not None and result.status is ResultStatus.SUCCESS
        await eventually(lambda: _has_events(app, schedule_id))
        (triggered,) = await app.events(schedule_id, types=[EventType.SCHEDULE_TRIGGERED])
        assert triggered.details["task_id"] == result.task_id and triggered.details["run"] == 1


async def _schedule_status_is(app: AsyncOmniQ, schedule_id: str, status: ScheduleStatus) -> bool:
    schedule = await app.get_schedule(schedule_id)
    return schedule is not None and schedule.status is status


async def _runs_at_least(app: AsyncOmniQ, schedule_id: str, runs: int) -> bool:
    schedule = await app.get_schedule(schedule_id)
    return schedule is not None and schedule.runs >= runs


async def _has_events(app: AsyncOmniQ, schedule_id: str) -> bool:
    return bool(await app.events(schedule_id, types=[EventType.SCHEDULE_TRIGGERED]))
