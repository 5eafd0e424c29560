"""Dependencies under concurrency: enqueues racing finishes, resolvers racing each other."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec

from omniq.core.models import TaskStatus
from omniq.core.records import Outcome, TaskRecord
from omniq.postgres import PostgresBackend

TaskFactory = Callable[..., TaskRecord]

HANG_GUARD = 60


def _waiting_on(make_task: TaskFactory, *ids: str) -> TaskRecord:
    return msgspec.structs.replace(make_task(), status=TaskStatus.WAITING, depends_on=ids)


async def _run(backend: PostgresBackend, record: TaskRecord, token: str = "t") -> None:
    now = time.time()
    claimed = await backend.claim(
        [record.queue], limit=1, worker_id="w", lease_token=token, lease_expires_at=now + 60, now=now
    )
    assert [r.id for r in claimed] == [record.id]


def _done(record: TaskRecord, token: str = "t") -> Outcome:
    return Outcome(task_id=record.id, lease_token=token, status=TaskStatus.COMPLETED, at=time.time())


async def test_an_enqueue_waits_for_a_dependency_being_finished_and_sees_its_outcome(
    backend: PostgresBackend, admin: Any, make_task: TaskFactory
) -> None:
    dependency = make_task(queue="dep")
    await backend.enqueue([dependency])
    await _run(backend, dependency)
    dependent = _waiting_on(make_task, dependency.id)
    async with admin.transaction():  # a finish that has not committed yet
        await admin.execute(
            f"UPDATE \"{backend.schema}\".tasks SET status = 'completed', lease_token = NULL WHERE id = $1",
            dependency.id,
        )
        enqueue = asyncio.ensure_future(backend.enqueue([dependent]))
        await asyncio.sleep(0.2)
        assert not enqueue.done()  # it cannot decide while the dependency is changing
    await asyncio.wait_for(enqueue, HANG_GUARD)
    stored = await backend.get_task(dependent.id)
    # Read before the finish committed, it would wait for an edge nobody resolves.
    assert stored is not None and stored.status is TaskStatus.PENDING
    assert (await backend.resolve_dependencies([dependency.id], time.time())).released == []


async def test_dependents_enqueued_while_their_dependency_finishes_are_never_stranded(
    url: str, make_task: TaskFactory
) -> None:
    async with PostgresBackend(url) as worker, PostgresBackend(url) as producer:
        for round_ in range(40):
            dependency = make_task(queue=f"dep{round_}")
            await worker.enqueue([dependency])
            await _run(worker, dependency)
            dependents = [_waiting_on(make_task, dependency.id) for _ in range(3)]

            async def finish_and_resolve(dependency: TaskRecord = dependency) -> list[str]:
                assert (await worker.finish([_done(dependency)])).accepted == [dependency.id]
                report = await worker.resolve_dependencies([dependency.id], time.time())
                return [r.id for r in report.released]

            async def enqueue_one_by_one(dependents: list[TaskRecord] = dependents) -> None:
                for dependent in dependents:
                    await producer.enqueue([dependent])

            released, _ = await asyncio.gather(finish_and_resolve(), enqueue_one_by_one())
            for dependent in dependents:
                stored = await worker.get_task(dependent.id)
                assert stored is not None and stored.status is TaskStatus.PENDING, round_
            assert set(released) <= {d.id for d in dependents}


async def test_concurrent_resolvers_release_each_dependent_once(url: str, make_task: TaskFactory) -> None:
    backends = [PostgresBackend(url) for _ in range(3)]
    try:
        for backend in backends:
            await backend.open()
        first, second = backends[0], backends[1]
        for round_ in range(10):
            a, b = make_task(queue=f"a{round_}"), make_task(queue=f"b{round_}")
            await first.enqueue([a, b])
            # Dependents of both, so that resolving a and b updates the same rows from two sides.
            dependents = [_waiting_on(make_task, a.id, b.id) for _ in range(20)]
            await first.enqueue(dependents)
            await _run(first, a)
            await _run(first, b)
            assert len((await first.finish([_done(a), _done(b)])).accepted) == 2
            now = time.time()
            reports = await asyncio.gather(
                first.resolve_dependencies([a.id], now),
                second.resolve_dependencies([b.id], now),
                backends[2].reap(now),
            )
            released = Counter(
                r.id for report in [reports[0], reports[1], reports[2].dependencies] for r in report.released
            )
            assert released == Counter({d.id: 1 for d in dependents})
    finally:
        for backend in backends:
            await backend.close()


async def test_a_released_dependent_wakes_the_workers_of_its_queue(
    backend: PostgresBackend, admin: Any, make_task: TaskFactory
) -> None:
    dependency = make_task(queue="dep")
    await backend.enqueue([dependency])
    dependent = msgspec.structs.replace(_waiting_on(make_task, dependency.id), queue="after")
    await backend.enqueue([dependent])
    await _run(backend, dependency)
    assert (await backend.finish([_done(dependency)])).accepted == [dependency.id]
    received: list[str] = []
    await admin.add_listener(backend._sql.tasks_channel, lambda *args: received.append(args[-1]))
    report = await backend.resolve_dependencies([dependency.id], time.time())
    assert [r.id for r in report.released] == [dependent.id]
    await admin.execute("SELECT 1")  # notifications arrive before the reply to a later query
    assert received == ["after"]


async def _edges(admin: Any, backend: PostgresBackend) -> list[tuple[str, str]]:
    rows = await admin.fetch(
        f'SELECT dependency_id, task_id FROM "{backend.schema}".dependencies ORDER BY dependency_id, task_id'
    )
    return [(row[0], row[1]) for row in rows]


async def _marked(admin: Any, backend: PostgresBackend) -> set[str]:
    rows = await admin.fetch(f'SELECT id FROM "{backend.schema}".tasks WHERE has_dependents')
    return {row[0] for row in rows}


async def test_purging_tasks_that_stopped_waiting_deletes_their_edges(
    backend: PostgresBackend, admin: Any, make_task: TaskFactory
) -> None:
    # A dependency that stays live (here: parked for a day) keeps the edges of dependents that
    # were cancelled or expired while they waited; their purge must take those edges along.
    now = time.time()
    parked = make_task(queue="parked", due_at=now + 86_400)
    await backend.enqueue([parked])
    cancelled, expired, waiting = (_waiting_on(make_task, parked.id) for _ in range(3))
    expired = msgspec.structs.replace(expired, expires_at=now + 1)
    await backend.enqueue([cancelled, expired, waiting])
    await backend.cancel(cancelled.id, now)
    assert [r.id for r in (await backend.reap(now + 2)).expired] == [expired.id]
    assert await backend.purge_tasks(TaskStatus.CANCELLED) == 1
    assert await backend.purge_tasks(TaskStatus.EXPIRED, before=now + 3) == 1
    assert await _edges(admin, backend) == [(parked.id, waiting.id)]
    assert await _marked(admin, backend) == {parked.id}


async def test_a_dependency_is_marked_while_something_waits_on_it(
    backend: PostgresBackend, admin: Any, make_task: TaskFactory
) -> None:
    dependency = make_task(queue="dep")
    await backend.enqueue([dependency])
    assert await _marked(admin, backend) == set()
    dependent = _waiting_on(make_task, dependency.id)
    await backend.enqueue([dependent])
    assert await _marked(admin, backend) == {dependency.id}
    await _run(backend, dependency)
    assert (await backend.finish([_done(dependency)])).accepted == [dependency.id]
    report = await backend.resolve_dependencies([dependency.id], time.time())
    assert [r.id for r in report.released] == [dependent.id]
    assert await _marked(admin, backend) == set()
    assert await _edges(admin, backend) == []


async def test_concurrent_first_dependents_of_one_task_are_all_stored(
    url: str, make_task: TaskFactory
) -> None:
    # Each enqueue holds a share lock on the dependency and, to mark it, must raise it: waiting
    # for that while the others hold theirs would deadlock, so each gives way and tries again.
    backends = [PostgresBackend(url) for _ in range(4)]
    try:
        for backend in backends:
            await backend.open()
        for round_ in range(5):
            dependency = make_task(queue=f"dep{round_}")
            await backends[0].enqueue([dependency])
            dependents = [[_waiting_on(make_task, dependency.id) for _ in range(5)] for _ in backends]
            await asyncio.wait_for(
                asyncio.gather(*(b.enqueue(batch) for b, batch in zip(backends, dependents, strict=True))),
                HANG_GUARD,
            )
            await _run(backends[0], dependency)
            assert (await backends[0].finish([_done(dependency)])).accepted == [dependency.id]
            report = await backends[0].resolve_dependencies([dependency.id], time.time())
            assert {r.id for r in report.released} == {d.id for batch in dependents for d in batch}
    finally:
        for backend in backends:
            await backend.close()
