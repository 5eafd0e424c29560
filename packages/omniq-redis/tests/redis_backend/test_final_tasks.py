"""Final tasks kept packed, and dependency edges that go with the tasks they link."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from omniq.core.models import TaskStatus
from omniq.core.records import Outcome, TaskChange, TaskRecord
from omniq.core.testing._support import make_record
from omniq.redis import RedisBackend

LEASE = 30.0


async def _run(backend: RedisBackend, record: TaskRecord, status: TaskStatus, now: float) -> TaskRecord:
    [claimed] = await backend.claim(
        [record.queue], limit=1, worker_id="w", lease_token="t", lease_expires_at=now + LEASE, now=now
    )
    error = None if status is TaskStatus.COMPLETED else '{"type":"E","message":"m","traceback":null}'
    outcome = Outcome(task_id=record.id, lease_token="t", status=status, at=now + 0.25, error=error)
    assert (await backend.finish([outcome])).accepted == [record.id]
    return claimed


async def _dependency_keys(backend: RedisBackend) -> list[str]:
    keys = [key.decode() async for key in backend.client.scan_iter(match=backend.keys.pattern, count=1000)]
    return sorted(key for key in keys if ":dep:" in key or key.endswith((":deps", ":deps:final")))


async def test_a_final_task_is_one_packed_string_that_reads_back_whole(backend: RedisBackend) -> None:
    now = 1_732_771_234.123_456_7
    record = make_record(now=now, ttl=600, dedup_key="k", args=["x" * 500])
    await backend.enqueue([record])
    claimed = await _run(backend, record, TaskStatus.COMPLETED, now + 1)
    raw: Any = backend.client
    assert await raw.exists(backend.keys.task(record.id)) == 0
    assert await raw.type(backend.keys.finished(record.id)) == b"string"
    stored = await backend.get_task(record.id)
    expected = msgspec.structs.replace(
        claimed,
        status=TaskStatus.COMPLETED,
        updated_at=now + 1.25,
        lease_token=None,
        lease_expires_at=None,
    )
    assert stored == expected
    assert [r.id for r in await backend.list_tasks(status=TaskStatus.COMPLETED)] == [record.id]
    assert await backend.enqueue([make_record(dedup_key="k")]) != [record.id]  # the key was given back


async def test_a_requeued_task_is_live_again_and_runs_with_its_payload(backend: RedisBackend) -> None:
    now = time.time()
    record = make_record(now=now, args=[1, 2, 3])
    await backend.enqueue([record])
    await _run(backend, record, TaskStatus.DEAD, now)
    change = await backend.requeue(record.id, now + 1)
    assert change is not None and change.changed
    requeued = change.task
    assert (requeued.status, requeued.attempts, requeued.error) == (
        TaskStatus.PENDING,
        0,
        None,
    )
    raw: Any = backend.client
    assert await raw.exists(backend.keys.finished(record.id)) == 0
    claimed = await _run(backend, record, TaskStatus.COMPLETED, now + 2)
    assert (claimed.data, claimed.attempts) == (record.data, 1)


async def test_cancelling_a_final_task_returns_it_unchanged(backend: RedisBackend) -> None:
    now = time.time()
    record = make_record(now=now)
    await backend.enqueue([record])
    await _run(backend, record, TaskStatus.COMPLETED, now)
    before = await backend.get_task(record.id)
    assert before is not None
    assert await backend.cancel(record.id, now + 5) == TaskChange(task=before, changed=False)


async def test_a_task_whose_worker_stopped_before_resolving_has_its_dependents_resolved_by_the_reaper(
    backend: RedisBackend,
) -> None:
    now = time.time()
    parent = make_record(now=now)
    await backend.enqueue([parent])
    child = make_record(now=now, depends_on=[parent.id])
    await backend.enqueue([child])
    await _run(backend, parent, TaskStatus.COMPLETED, now)  # and no resolve_dependencies call
    assert await backend.client.smembers(f"{backend.keys.base}:deps:final") == {parent.id.encode()}
    report = await backend.reap(now + 1)
    assert [r.id for r in report.dependencies.released] == [child.id]
    assert await _dependency_keys(backend) == []


async def test_a_final_task_is_purged_only_once_its_dependents_are_resolved(backend: RedisBackend) -> None:
    now = time.time()
    parent = make_record(now=now)
    await backend.enqueue([parent])
    child = make_record(now=now, depends_on=[parent.id])
    await backend.enqueue([child])
    await _run(backend, parent, TaskStatus.DEAD, now)
    assert await backend.purge_tasks(TaskStatus.DEAD) == 0
    report = await backend.reap(now + 1)
    assert [r.id for r in report.dependencies.cancelled] == [child.id]
    assert await backend.purge_tasks(TaskStatus.DEAD) == 1
    assert await backend.purge_tasks(TaskStatus.CANCELLED) == 1
    assert await _dependency_keys(backend) == []
    assert await backend.count_tasks() == {}


async def test_no_dependency_edge_outlives_the_graph_it_linked(backend: RedisBackend) -> None:
    now = time.time()
    roots = [make_record(now=now) for _ in range(3)]
    await backend.enqueue(roots)
    middle = [make_record(now=now, depends_on=[r.id for r in roots]) for _ in range(5)]
    await backend.enqueue(middle)
    await backend.enqueue([make_record(now=now, depends_on=[m.id for m in middle])])
    for record in [*roots, *middle]:
        await _run(backend, record, TaskStatus.COMPLETED, now)
        await backend.resolve_dependencies([record.id], now)
    assert await _dependency_keys(backend) == []


async def test_running_tasks_are_listed_and_counted_from_the_lease_index(backend: RedisBackend) -> None:
    now = time.time()
    records = [make_record(queue_name=q, now=now + i) for i, q in enumerate(("a", "b", "a"))]
    await backend.enqueue(records)
    await backend.claim(
        ["a", "b"], limit=2, worker_id="w", lease_token="t", lease_expires_at=now + 60, now=now + 5
    )
    assert await backend.count_tasks() == {"a": {"running": 2}, "b": {"pending": 1}}
    running = await backend.list_tasks(status=TaskStatus.RUNNING)
    assert [r.id for r in running] == [records[0].id, records[2].id]
    assert [r.id for r in await backend.list_tasks(queue="b")] == [records[1].id]
    assert [r.id for r in await backend.list_tasks(limit=2)] == [records[0].id, records[1].id]
    raw: Any = backend.client
    assert await raw.exists(backend.keys.status("a", "running")) == 0
