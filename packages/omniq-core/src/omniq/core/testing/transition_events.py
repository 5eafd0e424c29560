"""Conformance tests of events written with their transition (capability ``events``).

A backend that is also its own event store stores the events core hands to ``enqueue``, ``claim``,
``finish``, ``requeue`` and ``trigger_schedule`` in the same atomic step as the change, and none
for a change it refused: a reader then never sees a state without the event that led to it, and a
worker killed after its claim leaves its ``executing`` event behind.
"""

from __future__ import annotations

import time

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.capabilities import Capability
from omniq.core.interfaces import BaseEventStorage, BaseScheduleStore, BaseTaskQueue
from omniq.core.models import EventType, ResultStatus, ScheduleStatus, TaskStatus
from omniq.core.records import EventRecord, Outcome, ResultRecord, ScheduleRecord, ScheduleRun, TaskRecord
from omniq.core.testing import tasks
from omniq.core.testing._support import ConformanceFixtures, admin_of, ending, make_record, requires

__all__ = ["TransitionEventTests"]

LEASE = 30.0


def _enqueued(record: TaskRecord) -> EventRecord:
    return EventRecord(type="enqueued", task_id=record.id, at=record.created_at, queue=record.queue)


async def _types(store: BaseEventStorage, task_id: str) -> list[str]:
    return [event.type for event in await store.query_events(task_id=task_id)]


async def _claim(queue: BaseTaskQueue, now: float, *, write_events: bool = True) -> list[TaskRecord]:
    return await queue.claim(
        ["default"],
        limit=10,
        worker_id="w1",
        lease_token="t",
        lease_expires_at=now + LEASE,
        now=now,
        write_events=write_events,
    )


class TransitionEventTests(ConformanceFixtures):
    """Events travel with the transition that causes them (see :mod:`omniq.core.interfaces`)."""

    pytestmark = requires(Capability.EVENTS)

    @pytest.fixture
    def events(self, queue: BaseTaskQueue) -> BaseEventStorage:
        """The task queue as its own event store."""
        assert isinstance(queue, BaseEventStorage), f"{queue!r} is not an event store"
        return queue

    async def test_enqueue_stores_the_events_of_the_records_it_stores(
        self, queue: BaseTaskQueue, events: BaseEventStorage
    ) -> None:
        first, twin = make_record(dedup_key="k"), make_record(dedup_key="k")
        assert await queue.enqueue([first, twin], events=[_enqueued(first), _enqueued(twin)]) == [
            first.id,
            first.id,
        ]
        assert await events.query_events(task_id=first.id) == [_enqueued(first)]
        assert await events.query_events(task_id=twin.id) == []

    async def test_an_enqueue_sent_again_makes_no_second_task_or_event(
        self, queue: BaseTaskQueue, events: BaseEventStorage
    ) -> None:
        # Ids are chosen before the call: the repeat of a call whose reply was lost.
        plain, keyed, waiting = make_record(), make_record(dedup_key="once"), make_record()
        await queue.enqueue([plain, keyed])
        dependent = make_record(depends_on=[plain.id])
        batch = [plain, keyed, dependent, waiting]
        sent = [_enqueued(record) for record in batch]
        await queue.enqueue([dependent, waiting], events=sent[2:])
        assert await queue.enqueue(batch, events=sent) == [record.id for record in batch]
        for record in batch:
            assert await queue.get_task(record.id) is not None
        assert [len(await events.query_events(task_id=r.id)) for r in batch] == [0, 0, 1, 1]
        now = time.time()
        claimed = await _claim(queue, now, write_events=False)
        assert sorted(record.id for record in claimed) == sorted([plain.id, keyed.id, waiting.id])

    async def test_claim_writes_an_executing_event_per_task_it_takes(
        self, queue: BaseTaskQueue, events: BaseEventStorage
    ) -> None:
        quiet, loud = make_record(), make_record()
        await queue.enqueue([quiet])
        now = time.time()
        [claimed] = await _claim(queue, now, write_events=False)
        assert await _types(events, claimed.id) == []
        await queue.enqueue([loud])
        [claimed] = await _claim(queue, now + 1)
        assert await events.query_events(task_id=loud.id) == [
            EventRecord(
                type="executing", task_id=loud.id, at=now + 1, queue="default", worker_id="w1", attempt=1
            )
        ]
        # The event outlives its worker: nothing else is written if the worker dies now.
        await queue.reap(now + 1 + LEASE + 1)
        assert (await _types(events, loud.id))[0] == "executing"

    async def test_finish_writes_the_events_of_the_outcomes_it_accepts(
        self, queue: BaseTaskQueue, events: BaseEventStorage
    ) -> None:
        held, stale = make_record(), make_record()
        await queue.enqueue([held, stale])
        now = time.time()
        await _claim(queue, now, write_events=False)
        outcomes = [
            ending(held.id, TaskStatus.COMPLETED, now, token="t"),
            ending(stale.id, TaskStatus.DEAD, now, token="other"),
        ]
        sent = [
            EventRecord(type="completed", task_id=held.id, at=now),
            EventRecord(type="dead", task_id=stale.id, at=now),
        ]
        assert (await queue.finish(outcomes, events=sent)).accepted == [held.id]
        assert await events.query_events(task_id=held.id) == sent[:1]
        assert await events.query_events(task_id=stale.id) == []
        # A finish sent again (its reply lost) is refused, and so are its events.
        assert (await queue.finish(outcomes[:1], events=sent[:1])).accepted == []
        assert await events.query_events(task_id=held.id) == sent[:1]

    async def test_finish_with_results_writes_the_events_with_the_results(
        self, queue: BaseTaskQueue, events: BaseEventStorage
    ) -> None:
        record = make_record()
        await queue.enqueue([record])
        now = time.time()
        await _claim(queue, now, write_events=False)
        outcome = Outcome(task_id=record.id, lease_token="t", status=TaskStatus.COMPLETED, at=now)
        result = ResultRecord(task_id=record.id, status=ResultStatus.SUCCESS, finished_at=now, data=b"v")
        sent = [EventRecord(type="completed", task_id=record.id, at=now, details='{"duration": 0.1}')]
        assert (await queue.finish_with_results([outcome], [result], events=sent)).accepted == [record.id]
        assert await events.query_events(task_id=record.id) == sent

    @requires(Capability.ADMIN)
    async def test_requeue_writes_its_event_only_when_it_requeues(
        self, queue: BaseTaskQueue, events: BaseEventStorage
    ) -> None:
        record = make_record()
        await queue.enqueue([record])
        now = time.time()
        sent = [EventRecord(type="enqueued", task_id=record.id, at=now, details='{"requeued": true}')]
        change = await admin_of(queue).requeue(record.id, now, events=sent)
        assert change is not None and not change.changed
        assert await events.query_events(task_id=record.id) == []
        await _claim(queue, now, write_events=False)
        await queue.finish([ending(record.id, TaskStatus.DEAD, now)])
        change = await admin_of(queue).requeue(record.id, now + 1, events=sent)
        assert change is not None and change.changed
        assert await events.query_events(task_id=record.id) == sent

    @requires(Capability.SCHEDULES)
    async def test_a_schedule_run_writes_its_events_only_when_claimed(
        self, queue: BaseTaskQueue, events: BaseEventStorage
    ) -> None:
        assert isinstance(queue, BaseScheduleStore)
        now = time.time()
        await queue.add_schedule(
            ScheduleRecord(
                id="nightly",
                func=f"{tasks.__name__}:noop",
                queue="default",
                status=ScheduleStatus.ACTIVE,
                next_run_at=now - 1,
                created_at=now,
                updated_at=now,
                data=b"spec",
            )
        )
        task = make_record()
        run = ScheduleRun(
            next_run_at=now + 60, status=ScheduleStatus.ACTIVE, runs=1, last_run_at=now, last_task_id=task.id
        )
        sent = [_enqueued(task)]
        assert await queue.trigger_schedule("nightly", now - 1, run, task, events=sent)
        assert not await queue.trigger_schedule(
            "nightly", now - 1, run, make_record(), events=[_enqueued(task)]
        )
        assert await events.query_events(task_id=task.id) == sent

    async def test_a_reader_who_sees_a_state_sees_the_event_that_led_to_it(self, app: AsyncOmniQ) -> None:
        # Read at once, without waiting for any background write: the events were stored by the
        # enqueue, the claim and the finish themselves.
        task_id = await app.enqueue(tasks.add, {"a": 1, "b": 1})
        assert [event.type for event in await app.events(task_id)] == [EventType.ENQUEUED]
        await app.start_worker()
        result = await app.get_result(task_id, timeout=60)
        assert result is not None
        assert [event.type for event in await app.events(task_id)] == [
            EventType.ENQUEUED,
            EventType.EXECUTING,
            EventType.COMPLETED,
        ]
