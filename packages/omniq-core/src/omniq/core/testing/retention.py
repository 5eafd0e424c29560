"""Conformance tests of the retention rule: workers delete finished tasks once their retention has
passed, in bounded batches, and keep dead tasks and tasks that others still wait on."""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgspec
import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.capabilities import Capability
from omniq.core.interfaces import BaseTaskQueue
from omniq.core.models import TaskStatus
from omniq.core.records import ReapReport, TaskRecord
from omniq.core.testing._support import (
    AppFactory,
    ConformanceFixtures,
    admin_of,
    ending,
    eventually,
    make_record,
    requires,
)

__all__ = ["RetentionTests"]

#: The retention the tests set: tasks settled two of them ago are due, those settled a minute ago not.
RETENTION = 3600.0


async def _settled(
    queue: BaseTaskQueue, settle: Sequence[tuple[TaskStatus, float]], *, created: float | None = None
) -> list[str]:
    """One task per ``(status, at)``, each ended with that status at that time; their ids. They
    are created and claimed at ``created``, by default at the earliest ``at``."""
    start = min(at for _, at in settle) if created is None else created
    records = [make_record(queue_name="retention", now=start) for _ in settle]
    await queue.enqueue(records)
    claimed = await queue.claim(
        ["retention"],
        limit=len(records),
        worker_id="w",
        lease_token="t",
        lease_expires_at=start + 30,
        now=start,
    )
    assert sorted(r.id for r in claimed) == sorted(r.id for r in records)
    outcomes = [ending(record.id, status, at) for record, (status, at) in zip(records, settle, strict=True)]
    assert len((await queue.finish(outcomes)).accepted) == len(records)
    return [record.id for record in records]


async def _gone(queue: BaseTaskQueue, ids: Sequence[str]) -> bool:
    return all([await queue.get_task(task_id) is None for task_id in ids])


async def _present(queue: BaseTaskQueue, ids: Sequence[str]) -> bool:
    return all([await queue.get_task(task_id) is not None for task_id in ids])


class RetentionTests(ConformanceFixtures):
    """Finished tasks do not pile up: ``task_retention``, ``dead_retention`` and batched purges."""

    pytestmark = requires(Capability.ADMIN)  # workers purge through the admin capability

    async def test_purge_tasks_deletes_at_most_limit_per_call(self, queue: BaseTaskQueue) -> None:
        now = time.time()
        ids = await _settled(queue, [(TaskStatus.CANCELLED, now - 10)] * 5)
        counts = [
            await admin_of(queue).purge_tasks(TaskStatus.CANCELLED, before=now, limit=2) for _ in range(4)
        ]
        assert counts == [2, 2, 1, 0]
        assert await _gone(queue, ids)

    async def test_a_limited_purge_passes_over_tasks_it_keeps(self, queue: BaseTaskQueue) -> None:
        # Tasks created long ago but finished recently come first in creation order; a batch must
        # still reach the older finished ones behind them.
        now = time.time()
        old = now - 2 * RETENTION
        recent = await _settled(queue, [(TaskStatus.COMPLETED, now - 60)] * 3, created=old - 10)
        due = await _settled(queue, [(TaskStatus.COMPLETED, old)] * 2)
        assert await admin_of(queue).purge_tasks(TaskStatus.COMPLETED, before=now - RETENTION, limit=2) == 2
        assert await _gone(queue, due)
        assert await _present(queue, recent)

    async def test_a_worker_deletes_finished_tasks_past_their_retention(self, make_app: AppFactory) -> None:
        # A lease of a second makes the reaper (which purges) turn every half second or so.
        app = await make_app(task_retention=RETENTION, lease_ttl=1.0)
        queue = app.task_queue
        now = time.time()
        old, young = now - 2 * RETENTION, now - 60
        due = await _settled(
            queue, [(TaskStatus.COMPLETED, old), (TaskStatus.CANCELLED, old), (TaskStatus.EXPIRED, old)]
        )
        kept = await _settled(
            queue, [(TaskStatus.COMPLETED, young), (TaskStatus.CANCELLED, young), (TaskStatus.DEAD, old)]
        )
        await app.start_worker()
        await eventually(lambda: _gone(queue, due))
        assert await _present(queue, kept)
        dead = await app.get_task(kept[2])
        assert dead is not None and dead.status is TaskStatus.DEAD

    async def test_a_worker_deletes_dead_tasks_only_with_a_dead_retention(self, make_app: AppFactory) -> None:
        # task_retention stays at its default, seven days.
        app = await make_app(dead_retention=RETENTION, lease_ttl=1.0)
        queue = app.task_queue
        now = time.time()
        old, young = now - 2 * RETENTION, now - 60
        due = await _settled(queue, [(TaskStatus.DEAD, old)])
        kept = await _settled(queue, [(TaskStatus.DEAD, young), (TaskStatus.COMPLETED, old)])
        await app.start_worker()
        await eventually(lambda: _gone(queue, due))
        assert await _present(queue, kept)

    async def test_a_worker_keeps_a_finished_task_that_others_still_wait_on(
        self, make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        app = await make_app(task_retention=RETENTION, lease_ttl=1.0)
        queue = app.task_queue
        now = time.time()
        old = now - 2 * RETENTION
        [awaited] = await _settled_with_dependent(queue, old)
        [due] = await _settled(queue, [(TaskStatus.COMPLETED, old)])

        # Its dependent stays unresolved: as after a worker died between finishing and resolving,
        # with no reap since.
        async def no_reap(now: float) -> ReapReport:
            del now
            return ReapReport()

        monkeypatch.setattr(queue, "reap", no_reap)
        await app.start_worker()
        await eventually(lambda: _gone(queue, [due]))
        assert await _present(queue, [awaited])

    async def test_requeued_task_is_not_deleted_by_its_old_retention(self, app: AsyncOmniQ) -> None:
        now = time.time()
        [task_id] = await _settled(app.task_queue, [(TaskStatus.DEAD, now - 2 * RETENTION)])
        assert await app.requeue(task_id)
        assert await admin_of(app.task_queue).purge_tasks(TaskStatus.DEAD, before=now - RETENTION) == 0
        task = await app.get_task(task_id)
        assert task is not None and task.status is TaskStatus.PENDING


async def _settled_with_dependent(queue: BaseTaskQueue, at: float) -> list[str]:
    """A task completed at ``at`` whose dependent (enqueued before it finished) is unresolved."""
    dependency = make_record(queue_name="awaited", now=at)
    await queue.enqueue([dependency])
    dependent: TaskRecord = msgspec.structs.replace(
        make_record(), depends_on=[dependency.id], status=TaskStatus.WAITING
    )
    await queue.enqueue([dependent])
    claimed = await queue.claim(
        ["awaited"], limit=1, worker_id="w", lease_token="t", lease_expires_at=at + 30, now=at
    )
    assert [r.id for r in claimed] == [dependency.id]
    assert (await queue.finish([ending(dependency.id, TaskStatus.COMPLETED, at)])).accepted == [dependency.id]
    return [dependency.id]
