"""``LISTEN``/``NOTIFY`` wake-ups: one notification per enqueue, prompt waits, polling after a drop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import msgspec
import pytest

from omniq.core.models import ResultStatus
from omniq.core.records import ResultRecord, TaskRecord
from omniq.postgres import PostgresBackend
from omniq.postgres.backend import _COPY_FROM

TaskFactory = Callable[..., TaskRecord]

HANG_GUARD = 60  # the waits below are an hour long: only a notification ends them


def _listening(backend: PostgresBackend) -> bool:
    return backend._listener.listening


async def _terminate_listener(admin: Any, backend: PostgresBackend) -> None:
    pid = backend._listener._conn.get_server_pid()
    assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)


@pytest.mark.parametrize("per_queue", [2, _COPY_FROM], ids=["one-statement", "copied"])
async def test_one_enqueue_sends_one_notification_naming_its_queues(
    backend: PostgresBackend, admin: Any, make_task: TaskFactory, per_queue: int
) -> None:
    received: list[str] = []
    await admin.add_listener(backend._sql.tasks_channel, lambda *args: received.append(args[-1]))
    await backend.enqueue([make_task(queue=q) for q in ("a", "b") * per_queue])
    later = [make_task(queue="c", due_at=time.time() + 3600) for _ in range(per_queue)]
    await backend.enqueue(later)  # nothing claimable: no notification
    await admin.execute("SELECT 1")  # notifications arrive before the reply to a later query
    assert received == ["a,b"]


async def test_a_copied_batch_that_fails_stores_nothing_and_wakes_nobody(
    backend: PostgresBackend, admin: Any, make_task: TaskFactory
) -> None:
    stored = make_task(due_at=time.time() + 3600)
    await backend.enqueue([stored])
    received: list[str] = []
    await admin.add_listener(backend._sql.tasks_channel, lambda *args: received.append(args[-1]))
    batch = [make_task() for _ in range(_COPY_FROM)]
    refused = msgspec.structs.replace(make_task(), status=None)  # NOT NULL: the server refuses it
    with pytest.raises(asyncpg.NotNullViolationError):
        await backend.enqueue([*batch, refused])
    await admin.execute("SELECT 1")
    assert received == []
    assert await backend.get_task(batch[0].id) is None
    assert await backend.get_task(stored.id) == stored


async def test_wait_for_tasks_wakes_on_another_backends_enqueue(
    backend: PostgresBackend, url: str, make_task: TaskFactory
) -> None:
    async with PostgresBackend(url) as producer:
        assert (
            await backend.claim(
                ["default"], limit=1, worker_id="w", lease_token="t", lease_expires_at=0, now=time.time()
            )
            == []
        )
        await backend.wait_for_tasks(["default"], 0.01)  # listening from now on
        waiting = asyncio.ensure_future(backend.wait_for_tasks(["default"], 3600))
        await producer.enqueue([make_task(queue="other")])
        await asyncio.sleep(0.1)
        assert not waiting.done()  # another queue's work does not wake it
        await producer.enqueue([make_task()])
        await asyncio.wait_for(waiting, HANG_GUARD)


async def test_work_that_came_during_the_claim_ends_the_next_wait_at_once(
    backend: PostgresBackend, url: str, make_task: TaskFactory
) -> None:
    await backend.wait_for_tasks(["default"], 0.01)  # listening from now on
    async with PostgresBackend(url) as producer:
        await backend.claim(["default"], limit=1, worker_id="w", lease_token="t", lease_expires_at=0, now=0)
        seen = backend._task_waiters.count
        await producer.enqueue([make_task()])
        while backend._task_waiters.count == seen:  # the notification arrives before anyone waits
            await asyncio.sleep(0.01)
        await asyncio.wait_for(backend.wait_for_tasks(["default"], 3600), HANG_GUARD)


async def test_a_dropped_listener_falls_back_to_polling_then_listens_again(
    backend: PostgresBackend, admin: Any, url: str, make_task: TaskFactory
) -> None:
    await backend.wait_for_tasks(["default"], 0.01)
    assert _listening(backend)
    waiting = asyncio.ensure_future(backend.wait_for_tasks(["default"], 3600))
    await asyncio.sleep(0.05)
    await _terminate_listener(admin, backend)
    await asyncio.wait_for(waiting, HANG_GUARD)  # the drop wakes the waiter to look again
    assert not _listening(backend)
    # While it is down, a wait is a short poll rather than an hour.
    await asyncio.wait_for(backend.wait_for_tasks(["default"], 0.05), HANG_GUARD)
    while not _listening(backend):  # made again in the background
        await asyncio.wait_for(backend.wait_for_tasks(["default"], 0.05), HANG_GUARD)
    async with PostgresBackend(url) as producer:
        waiting = asyncio.ensure_future(backend.wait_for_tasks(["default"], 3600))
        await asyncio.sleep(0.05)
        await producer.enqueue([make_task()])
        await asyncio.wait_for(waiting, HANG_GUARD)


async def test_wait_for_result_wakes_when_another_backend_stores_it(
    backend: PostgresBackend, url: str
) -> None:
    result = ResultRecord(task_id="t", status=ResultStatus.SUCCESS, finished_at=time.time(), data=b"v")
    async with PostgresBackend(url) as worker:
        waiting = asyncio.ensure_future(backend.wait_for_result("t", 3600))
        await asyncio.sleep(0.1)
        await worker.put_results(
            [ResultRecord(task_id="other", status=ResultStatus.SUCCESS, finished_at=0, data=b"")]
        )
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await worker.put_results([result])
        assert await asyncio.wait_for(waiting, HANG_GUARD) == result


async def test_wait_for_result_polls_while_the_listener_is_down(
    backend: PostgresBackend, admin: Any, url: str
) -> None:
    assert await backend.wait_for_result("t", 0.01) is None  # listening from now on
    await _terminate_listener(admin, backend)
    result = ResultRecord(task_id="t", status=ResultStatus.SUCCESS, finished_at=time.time(), data=b"v")
    async with PostgresBackend(url) as worker:
        waiting = asyncio.ensure_future(backend.wait_for_result("t", 3600))
        await asyncio.sleep(0.05)
        await worker.put_results([result])
        assert await asyncio.wait_for(waiting, HANG_GUARD) == result
