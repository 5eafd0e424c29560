"""A final task's record expires on the server after its retention; the purge clears what is left."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from omniq.core.app import AsyncOmniQ
from omniq.core.models import TaskStatus
from omniq.core.records import Outcome, TaskRecord
from omniq.core.settings import Settings
from omniq.core.testing._support import TEST_SETTINGS, make_record
from omniq.redis import RedisBackend

DAY = 86_400.0


async def _finish(backend: RedisBackend, record: TaskRecord, status: TaskStatus, now: float) -> None:
    await backend.enqueue([record])
    [claimed] = await backend.claim(
        [record.queue], limit=1, worker_id="w", lease_token="t", lease_expires_at=now + 30, now=now
    )
    error = None if status is TaskStatus.COMPLETED else '{"type":"E","message":"m","traceback":null}'
    outcome = Outcome(task_id=claimed.id, lease_token="t", status=status, at=now, error=error)
    assert (await backend.finish([outcome])).accepted == [record.id]


async def _ttl(backend: RedisBackend, task_id: str) -> int:
    raw: Any = backend.client
    milliseconds: int = await raw.pttl(backend.keys.finished(task_id))
    return milliseconds


async def test_a_finished_task_expires_after_the_task_retention(backend: RedisBackend) -> None:
    backend.use_settings(Settings(task_retention=DAY))
    now = time.time()
    for status in (TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.EXPIRED):
        record = make_record(queue_name=status.value)
        await _finish(backend, record, status, now)
        assert 0 < await _ttl(backend, record.id) <= DAY * 1000
    cancelled = make_record(queue_name="cancel", run_in=60)
    await backend.enqueue([cancelled])
    await backend.cancel(cancelled.id, now)
    assert 0 < await _ttl(backend, cancelled.id) <= DAY * 1000


async def test_a_dead_task_is_kept_unless_it_has_a_retention(backend: RedisBackend) -> None:
    now = time.time()
    kept = make_record(queue_name="kept")
    await _finish(backend, kept, TaskStatus.DEAD, now)
    assert await _ttl(backend, kept.id) == -1  # no expiry
    backend.use_settings(Settings(dead_retention=DAY))
    expiring = make_record(queue_name="expiring")
    await _finish(backend, expiring, TaskStatus.DEAD, now)
    assert 0 < await _ttl(backend, expiring.id) <= DAY * 1000


async def test_no_retention_keeps_finished_tasks(backend: RedisBackend) -> None:
    backend.use_settings(Settings(task_retention=None))
    record = make_record()
    await _finish(backend, record, TaskStatus.COMPLETED, time.time())
    assert await _ttl(backend, record.id) == -1


async def test_a_task_others_wait_on_has_no_expiry_until_the_purge(backend: RedisBackend) -> None:
    now = time.time()
    dependency = make_record(queue_name="dep")
    await backend.enqueue([dependency])
    dependent = msgspec.structs.replace(make_record(), depends_on=[dependency.id], status=TaskStatus.WAITING)
    await backend.enqueue([dependent])
    await _finish_claimed(backend, dependency, now)
    # Expired now, it would leave its dependent waiting for ever.
    assert await _ttl(backend, dependency.id) == -1


async def _finish_claimed(backend: RedisBackend, record: TaskRecord, now: float) -> None:
    await backend.claim(
        [record.queue], limit=1, worker_id="w", lease_token="t", lease_expires_at=now + 30, now=now
    )
    outcome = Outcome(task_id=record.id, lease_token="t", status=TaskStatus.COMPLETED, at=now)
    assert (await backend.finish([outcome])).accepted == [record.id]


async def test_the_purge_drops_index_entries_of_expired_records(backend: RedisBackend) -> None:
    now = time.time()
    # Created in this order: the index reads the two whose records are gone first.
    records = [make_record(now=now - 2 * DAY + n) for n in range(3)]
    for record in records:
        await _finish(backend, record, TaskStatus.COMPLETED, now - DAY - 1)
    raw: Any = backend.client
    await raw.delete(*(backend.keys.finished(record.id) for record in records[:2]))  # as on expiry
    assert await backend.purge_tasks(TaskStatus.COMPLETED, before=now - DAY, limit=2) == 2
    assert [r.id for r in await backend.list_tasks(status=TaskStatus.COMPLETED)] == [records[2].id]
    assert await backend.count_tasks() == {"default": {"completed": 1}}
    assert await backend.purge_tasks(TaskStatus.COMPLETED, before=now - DAY, limit=2) == 1
    assert await backend.count_tasks() == {}


async def test_the_application_hands_its_retention_to_the_backend(redis_url: str) -> None:
    async with AsyncOmniQ(redis_url, **TEST_SETTINGS, task_retention=120) as app:
        task_id = await app.enqueue("omniq.core.testing.tasks:noop", run_in=60)
        await app.cancel(task_id)
        backend = app.task_queue
        assert isinstance(backend, RedisBackend)
        assert 0 < await _ttl(backend, task_id) <= 120_000


async def test_each_queue_has_its_own_read_budget(backend: RedisBackend) -> None:
    # The queue the purge reads first is full of entries it must keep (created long ago, finished
    # just now), past the purge's read budget: the other queue is still read and its task purged.
    now = time.time()
    limit = 2
    await backend.enqueue([make_record(queue_name=name, run_in=DAY) for name in ("a", "b")])
    raw: Any = backend.client
    # The order a script reads the queue set in (a hash table's: fixed while the set is).
    busy, quiet = [
        q.decode() for q in await raw.eval("return redis.call('SMEMBERS', KEYS[1])", 1, backend.keys.queues)
    ]
    for n in range(limit * 4 + 1):
        await _finish(backend, make_record(queue_name=busy, now=now - 2 * DAY + n), TaskStatus.COMPLETED, now)
    old = make_record(queue_name=quiet, now=now - 2 * DAY)
    await _finish(backend, old, TaskStatus.COMPLETED, now - DAY - 1)
    assert await backend.purge_tasks(TaskStatus.COMPLETED, before=now - DAY, limit=limit) == 1
    assert await backend.get_task(old.id) is None
    assert await backend.count_tasks() == {
        busy: {"pending": 1, "completed": limit * 4 + 1},
        quiet: {"pending": 1},
    }
