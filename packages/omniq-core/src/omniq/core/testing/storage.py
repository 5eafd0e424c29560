"""Conformance tests of what a store keeps: records exactly, batches whole, dedup keys, and the
dependency decision (:mod:`omniq.core.dependency_rules`) applied at the raw contract."""

from __future__ import annotations

import time

import msgspec
import pytest

from omniq.core.errors import ValidationError
from omniq.core.interfaces import BaseComponent, BaseTaskQueue
from omniq.core.models import TaskStatus
from omniq.core.records import TaskRecord, dependency_failed_error
from omniq.core.registry import open_url
from omniq.core.testing._support import ConformanceFixtures, ending, make_record

__all__ = ["StorageTests"]

LEASE = 30.0


async def _end(queue: BaseTaskQueue, record: TaskRecord, status: TaskStatus, now: float) -> None:
    """Claim ``record`` (alone in its queue) and end it with ``status``."""
    [claimed] = await queue.claim(
        [record.queue], limit=1, worker_id="w", lease_token="t", lease_expires_at=now + LEASE, now=now
    )
    assert claimed.id == record.id
    assert (await queue.finish([ending(record.id, status, now)])).accepted == [record.id]


def _depending_on(*ids: str, queue: str = "dependents") -> TaskRecord:
    return msgspec.structs.replace(make_record(queue_name=queue), depends_on=ids, status=TaskStatus.WAITING)


async def _status(queue: BaseTaskQueue, task_id: str) -> tuple[TaskStatus, str | None]:
    stored = await queue.get_task(task_id)
    assert stored is not None
    return stored.status, stored.error


class StorageTests(ConformanceFixtures):
    """Rules every store keeps, proven at the raw contract with explicit clocks."""

    async def test_every_field_survives_a_round_trip_exactly(
        self, queue: BaseTaskQueue, backend_url: str
    ) -> None:
        # Times to the last bit of the double, every byte value in the payload, text beyond ASCII.
        first, second = make_record(), make_record()
        await queue.enqueue([first, second])  # not finished: the record below stays waiting
        record = msgspec.structs.replace(
            make_record(queue_name="q-\u00e9\u6f22", now=1_700_000_000.123456789, priority=-7, max_retries=4),
            dedup_key="key-\u00e9",
            status=TaskStatus.WAITING,
            expires_at=1_700_000_123.987654321,
            attempts=2,
            data=bytes(range(256)) * 3,
            depends_on=(first.id, second.id),
            schedule_id="s1",
            lease_token="t",
            lease_expires_at=0.1 + 0.2,
            worker_id="w",
            error='{"type":"E","message":"\u00e9 \u2603 \U0001f600","traceback":null}',
        )
        await queue.enqueue([record])
        assert await queue.get_task(record.id) == record
        other: BaseComponent = open_url(backend_url)  # another connection reads the same record
        await other.open()
        try:
            assert isinstance(other, BaseTaskQueue)
            assert await other.get_task(record.id) == record
        finally:
            await other.close()

    @pytest.mark.parametrize("size", [3, 1_200])
    async def test_a_failing_batch_stores_nothing(self, queue: BaseTaskQueue, size: int) -> None:
        records = [make_record() for _ in range(size - 1)]
        refused = _depending_on("no-such-task")
        with pytest.raises(ValidationError, match="no-such-task"):
            await queue.enqueue([*records, refused])
        for record in (records[0], records[-1], refused):
            assert await queue.get_task(record.id) is None
        now = time.time() + 1
        taken = await queue.claim(
            ["default", "dependents"],
            limit=5,
            worker_id="w",
            lease_token="t",
            lease_expires_at=now + LEASE,
            now=now,
        )
        assert taken == []
        assert await queue.enqueue(records[:1]) == [records[0].id]  # the store is usable again

    async def test_dedup_within_one_batch_and_against_stored_tasks(self, queue: BaseTaskQueue) -> None:
        a1, a2, b1, plain = (
            make_record(dedup_key="a"),
            make_record(dedup_key="a"),
            make_record(dedup_key="b"),
            make_record(),
        )
        assert await queue.enqueue([a1, plain, a2, b1]) == [a1.id, plain.id, a1.id, b1.id]
        assert await queue.get_task(a2.id) is None
        b2 = make_record(dedup_key="b")
        assert await queue.enqueue([b2]) == [b1.id]
        assert (await queue.cancel(b1.id, time.time())) is not None
        assert await queue.enqueue([b2]) == [b2.id]  # a final task releases its key

    async def test_a_new_task_starts_as_its_dependencies_decide(self, queue: BaseTaskQueue) -> None:
        now = time.time()
        done, dead, running = (make_record(queue_name=name, now=now) for name in ("done", "dead", "running"))
        await queue.enqueue([done, dead, running])
        await _end(queue, done, TaskStatus.COMPLETED, now)
        await _end(queue, dead, TaskStatus.DEAD, now)
        ready, waiting, doomed = (
            _depending_on(done.id),
            _depending_on(running.id, done.id, running.id),
            _depending_on(running.id, dead.id),
        )
        await queue.enqueue([ready, waiting, doomed])
        assert await _status(queue, ready.id) == (TaskStatus.PENDING, None)
        assert await _status(queue, waiting.id) == (TaskStatus.WAITING, None)
        assert await _status(queue, doomed.id) == (
            TaskStatus.CANCELLED,
            dependency_failed_error(dead.id, "dead"),
        )

    async def test_an_ended_dependency_releases_or_cancels_its_dependents_down_the_graph(
        self, queue: BaseTaskQueue
    ) -> None:
        now = time.time()
        first, second = make_record(queue_name="first", now=now), make_record(queue_name="second", now=now)
        await queue.enqueue([first, second])
        both = _depending_on(first.id, second.id)
        only_first = _depending_on(first.id, queue="released")
        await queue.enqueue([both, only_first])
        grandchild = _depending_on(both.id)
        await queue.enqueue([grandchild])
        await _end(queue, first, TaskStatus.COMPLETED, now)
        report = await queue.resolve_dependencies([first.id], now + 1)
        assert [r.id for r in report.released] == [only_first.id] and report.cancelled == []
        assert await _status(queue, both.id) == (TaskStatus.WAITING, None)
        await _end(queue, second, TaskStatus.EXPIRED, now + 2)
        report = await queue.resolve_dependencies([second.id], now + 3)
        assert report.released == []
        assert sorted(r.id for r in report.cancelled) == sorted([both.id, grandchild.id])
        assert await _status(queue, both.id) == (
            TaskStatus.CANCELLED,
            dependency_failed_error(second.id, "expired"),
        )
        assert await _status(queue, grandchild.id) == (
            TaskStatus.CANCELLED,
            dependency_failed_error(both.id, "cancelled"),
        )
        again = await queue.resolve_dependencies([first.id, second.id], now + 4)
        assert (again.released, again.cancelled) == ([], [])
