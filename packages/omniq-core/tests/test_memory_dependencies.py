"""Dependency edges on the in-memory backend: the reaper reads no edge, a purge leaves none."""

from __future__ import annotations

import time
import uuid

import msgspec

from omniq.core.memory import MemoryBackend
from omniq.core.models import TaskStatus
from omniq.core.records import Outcome, TaskRecord
from omniq.core.testing._support import make_record


def _waiting_on(*ids: str, ttl: float | None = None, now: float | None = None) -> TaskRecord:
    record = make_record(ttl=ttl, now=now)
    return msgspec.structs.replace(record, depends_on=ids, status=TaskStatus.WAITING)


def _backend() -> MemoryBackend:
    return MemoryBackend(f"deps-{uuid.uuid4().hex}")


async def _complete(backend: MemoryBackend, record: TaskRecord, now: float) -> None:
    claimed = await backend.claim(
        [record.queue], limit=1, worker_id="w", lease_token="t", lease_expires_at=now + 30, now=now
    )
    assert [r.id for r in claimed] == [record.id]
    outcome = Outcome(task_id=record.id, lease_token="t", status=TaskStatus.COMPLETED, at=now)
    assert (await backend.finish([outcome])).accepted == [record.id]


async def test_the_reaper_knows_the_finished_tasks_left_unresolved_without_reading_edges() -> None:
    backend = _backend()
    now = time.time()
    parked, dependency = make_record(queue_name="parked", run_in=86_400), make_record(queue_name="dep")
    await backend.enqueue([parked, dependency])
    await backend.enqueue([_waiting_on(parked.id) for _ in range(1_000)])
    dependent = _waiting_on(dependency.id)
    await backend.enqueue([dependent])
    assert backend._s.unresolved == set()
    await _complete(backend, dependency, now)  # ... and no resolve: a crash
    assert backend._s.unresolved == {dependency.id}
    report = await backend.reap(now + 1)
    assert [r.id for r in report.dependencies.released] == [dependent.id]
    assert backend._s.unresolved == set()
    assert set(backend._s.dependents) == {parked.id}


async def test_purging_tasks_that_stopped_waiting_forgets_their_edges() -> None:
    backend = _backend()
    now = time.time()
    parked = make_record(queue_name="parked", run_in=86_400)
    await backend.enqueue([parked])
    cancelled, expired = _waiting_on(parked.id), _waiting_on(parked.id, ttl=1, now=now)
    await backend.enqueue([cancelled, expired])
    await backend.cancel(cancelled.id, now)
    assert [r.id for r in (await backend.reap(now + 2)).expired] == [expired.id]
    assert await backend.purge_tasks(TaskStatus.CANCELLED) == 1
    assert await backend.purge_tasks(TaskStatus.EXPIRED) == 1
    assert backend._s.dependents == {} and backend._s.waiting_on == {}
