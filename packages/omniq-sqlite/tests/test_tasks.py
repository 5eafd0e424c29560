"""The task queue on SQLite: what only this backend can get wrong (storage, SQL, transactions)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from omniq.core.models import TaskStatus
from omniq.core.records import LEASE_EXPIRED_ERROR, Outcome, TaskChange, TaskRecord
from omniq.sqlite import SQLiteBackend

TaskFactory = Callable[..., TaskRecord]  # the make_task fixture

LEASE = 30.0


async def _claim(
    backend: SQLiteBackend,
    now: float,
    *,
    queues: tuple[str, ...] = ("default",),
    limit: int = 10,
    token: str = "token-a",
) -> list[str]:
    records = await backend.claim(
        queues, limit=limit, worker_id="w", lease_token=token, lease_expires_at=now + LEASE, now=now
    )
    return [record.id for record in records]


async def test_a_claimed_record_is_the_stored_row(backend: SQLiteBackend, make_task: TaskFactory) -> None:
    # The claim returns only the columns it did not set itself; the record it builds must still
    # equal the row as stored, for one queue and for several.
    now = time.time()
    first = make_task(
        queue="a", data=bytes(range(256)), dedup_key="k", schedule_id="s", expires_at=now + 600, now=now - 1
    )
    second = make_task(queue="b", priority=3, now=now - 1)
    retried = make_task(queue="a", status=TaskStatus.FAILED, attempts=1, error='{"type":"E"}', now=now - 2)
    await backend.enqueue([first, second, retried])
    for queues in (("a",), ("a", "b")):
        claimed = await backend.claim(
            queues,
            limit=10,
            worker_id="worker-1",
            lease_token="tok",
            lease_expires_at=now + 0.1 + 0.2,
            now=now,
        )
        assert claimed
        for record in claimed:
            assert record == await backend.get_task(record.id)


async def test_ten_thousand_records_enqueue_in_one_call(
    backend: SQLiteBackend, make_task: TaskFactory
) -> None:
    records = [make_task(queue=f"q{n % 3}") for n in range(10_000)]
    assert await backend.enqueue(records) == [record.id for record in records]
    counts = await backend.count_tasks()
    assert sum(per_status["pending"] for per_status in counts.values()) == 10_000


async def test_a_failing_batch_stores_nothing(backend: SQLiteBackend, make_task: TaskFactory) -> None:
    first, second = make_task(), make_task()
    refused = msgspec.structs.replace(make_task(), queue=None)  # NOT NULL: the store refuses it
    with pytest.raises(sqlite3.IntegrityError):
        await backend.enqueue([first, second, refused])
    assert await backend.count_tasks() == {}
    assert await backend.enqueue([first]) == [first.id]  # the connection is usable again


async def test_requeue_gives_up_a_dedup_key_that_a_live_task_took_meanwhile(
    backend: SQLiteBackend, make_task: TaskFactory
) -> None:
    old, new = make_task(dedup_key="k"), make_task(dedup_key="k")
    await backend.enqueue([old])
    await backend.cancel(old.id, time.time())
    await backend.enqueue([new])
    requeued = await backend.requeue(old.id, time.time())
    assert requeued is not None and requeued.changed
    assert (requeued.task.status, requeued.task.dedup_key) == (TaskStatus.PENDING, None)
    assert await backend.enqueue([make_task(dedup_key="k")]) == [new.id]


async def test_one_claim_fills_its_limit_from_queues_in_order(
    backend: SQLiteBackend, make_task: TaskFactory
) -> None:
    now = time.time()
    low = [make_task(queue="low", priority=9, now=now) for _ in range(3)]
    high = [make_task(queue="high", priority=p, now=now) for p in (0, 2, 1)]
    await backend.enqueue([*low, *high])
    taken = await _claim(backend, now + 1, queues=("high", "low", "high"), limit=5)
    assert taken == [high[1].id, high[2].id, high[0].id, low[0].id, low[1].id]


async def test_claim_orders_by_priority_due_time_then_insertion(
    backend: SQLiteBackend, make_task: TaskFactory
) -> None:
    now = time.time()
    later_due = make_task(now=now, due_at=now + 1)
    fifo = [make_task(now=now) for _ in range(3)]
    urgent = make_task(now=now, priority=1, due_at=now + 1)
    await backend.enqueue([later_due, *fifo, urgent])
    assert await _claim(backend, now + 2) == [urgent.id, *(r.id for r in fifo), later_due.id]


async def test_delayed_and_expired_tasks_are_not_claimed(
    backend: SQLiteBackend, make_task: TaskFactory
) -> None:
    now = time.time()
    delayed = make_task(now=now, due_at=now + 60)
    expiring = make_task(now=now, expires_at=now + 5)
    await backend.enqueue([delayed, expiring])
    assert await _claim(backend, now + 10) == []
    report = await backend.reap(now + 10)
    assert [r.id for r in report.expired] == [expiring.id]
    assert (report.requeued, report.dead) == ([], [])
    assert await _claim(backend, now + 60) == [delayed.id]


async def test_waiting_tasks_expire_but_are_never_claimed(
    backend: SQLiteBackend, make_task: TaskFactory
) -> None:
    now = time.time()
    waiting = make_task(now=now, status=TaskStatus.WAITING, expires_at=now + 1)
    await backend.enqueue([waiting])
    assert await _claim(backend, now) == []
    assert [r.id for r in (await backend.reap(now + 1)).expired] == [waiting.id]


async def test_heartbeat_and_finish_check_the_lease_token(
    backend: SQLiteBackend, make_task: TaskFactory
) -> None:
    kept, lost = make_task(), make_task()
    await backend.enqueue([kept, lost])
    now = time.time()
    await _claim(backend, now)
    lost_after = await backend.heartbeat(
        [(kept.id, "token-a"), (lost.id, "wrong"), ("unknown", "token-a")], lease_expires_at=now + 99, now=now
    )
    assert lost_after == [lost.id, "unknown"]
    renewed = await backend.get_task(kept.id)
    assert renewed is not None and renewed.lease_expires_at == now + 99
    stale = await backend.get_task(lost.id)
    assert stale is not None and stale.lease_expires_at == now + LEASE
    outcome = Outcome(task_id=kept.id, lease_token="token-a", status=TaskStatus.COMPLETED, at=now + 1)
    wrong = Outcome(task_id=lost.id, lease_token="wrong", status=TaskStatus.COMPLETED, at=now + 1)
    assert (await backend.finish([outcome, wrong, outcome])).accepted == [
        kept.id
    ]  # the repeat finds it settled
    assert await backend.heartbeat([(kept.id, "token-a")], lease_expires_at=now + 99, now=now) == [kept.id]
    done = await backend.get_task(kept.id)
    assert done is not None
    assert (done.status, done.lease_token, done.lease_expires_at, done.updated_at) == (
        TaskStatus.COMPLETED,
        None,
        None,
        now + 1,
    )


async def test_a_failed_attempt_keeps_its_error_and_new_due_time(
    backend: SQLiteBackend, make_task: TaskFactory
) -> None:
    record = make_task(max_attempts=3)
    await backend.enqueue([record])
    now = time.time()
    await _claim(backend, now)
    error = '{"type":"ValueError","message":"x","traceback":null}'
    retry = Outcome(
        task_id=record.id,
        lease_token="token-a",
        status=TaskStatus.FAILED,
        at=now,
        due_at=now + 5,
        error=error,
    )
    assert (await backend.finish([retry])).accepted == [record.id]
    stored = await backend.get_task(record.id)
    assert stored is not None
    assert (stored.status, stored.due_at, stored.error, stored.attempts) == (
        TaskStatus.FAILED,
        now + 5,
        error,
        1,
    )


async def test_reap_sends_expired_leases_back_or_to_dead(
    backend: SQLiteBackend, make_task: TaskFactory
) -> None:
    retry, last = make_task(max_attempts=2), make_task(max_attempts=1)
    await backend.enqueue([retry, last])
    now = time.time()
    await backend.claim(
        ["default"], limit=2, worker_id="w", lease_token="t", lease_expires_at=now + 1, now=now
    )
    report = await backend.reap(now + 2)
    [requeued], [dead] = report.requeued, report.dead
    assert (requeued.id, requeued.status, requeued.due_at, requeued.attempts) == (
        retry.id,
        TaskStatus.PENDING,
        now + 2,
        1,
    )
    assert (dead.id, dead.status, dead.error, dead.due_at) == (
        last.id,
        TaskStatus.DEAD,
        LEASE_EXPIRED_ERROR,
        last.due_at,
    )
    assert requeued.lease_token is None and dead.lease_token is None
    assert await backend.get_task(dead.id) == dead
    assert await backend.reap(now + 3) == type(report)()


async def test_two_connections_reaping_at_once_report_each_change_once(
    db_path: Path, make_task: TaskFactory
) -> None:
    reapers = [SQLiteBackend(db_path) for _ in range(3)]
    for reaper in reapers:
        await reaper.open()
    try:
        now = time.time()
        records = [make_task(now=now, max_attempts=2) for _ in range(30)]
        expiring = [make_task(now=now, expires_at=now + 1) for _ in range(30)]
        await reapers[0].enqueue([*records, *expiring])
        await reapers[0].claim(
            ["default"], limit=30, worker_id="w", lease_token="t", lease_expires_at=now + 1, now=now
        )
        reports = await asyncio.gather(*(reaper.reap(now + 2) for reaper in reapers))
    finally:
        for reaper in reapers:
            await reaper.close()
    requeued = [r.id for report in reports for r in report.requeued]
    expired = [r.id for report in reports for r in report.expired]
    assert sorted(requeued) == sorted(r.id for r in records)
    assert sorted(expired) == sorted(r.id for r in expiring)


async def test_a_cancelled_claim_leaves_no_task_leased(
    backend: SQLiteBackend, make_task: TaskFactory
) -> None:
    # Cancel claims at many points of their transaction; whatever the point, a task is either
    # returned to the caller or left claimable with its attempts as they were.
    for step in range(40):
        records = [make_task(queue=f"q{step}") for _ in range(3)]
        await backend.enqueue(records)
        claim = asyncio.ensure_future(_claim(backend, time.time() + 1, queues=(f"q{step}", "other")))
        await asyncio.sleep(step * 0.00005)
        claim.cancel()
        try:
            taken = await claim
        except asyncio.CancelledError:
            taken = []
        for record in records:
            stored = await backend.get_task(record.id)
            assert stored is not None
            if record.id in taken:
                assert (stored.status, stored.attempts) == (TaskStatus.RUNNING, 1)
            else:
                assert (stored.status, stored.attempts, stored.lease_token) == (TaskStatus.PENDING, 0, None)


async def test_cancel_requeue_and_purge(backend: SQLiteBackend, make_task: TaskFactory) -> None:
    done, gone = make_task(), make_task()
    await backend.enqueue([done, gone])
    now = time.time()
    cancelled = await backend.cancel(gone.id, now)
    assert cancelled is not None and cancelled.changed and cancelled.task.status is TaskStatus.CANCELLED
    assert await backend.purge_tasks(TaskStatus.CANCELLED, before=now) == 0
    unchanged = await backend.requeue(done.id, now)  # not final: unchanged
    assert unchanged is not None and unchanged == TaskChange(task=unchanged.task, changed=False)
    assert unchanged.task == await backend.get_task(done.id)
    assert await backend.requeue("unknown", now) is None
    assert await backend.purge_tasks(TaskStatus.CANCELLED, before=now + 1) == 1
    assert await backend.get_task(gone.id) is None


async def test_list_tasks_oldest_first_with_filters(backend: SQLiteBackend, make_task: TaskFactory) -> None:
    now = time.time()
    newer = make_task(now=now + 1, queue="a")
    older = [make_task(now=now, queue=q) for q in ("a", "b", "a")]
    await backend.enqueue([newer, *older])
    assert [r.id for r in await backend.list_tasks()] == [older[0].id, older[1].id, older[2].id, newer.id]
    assert [r.id for r in await backend.list_tasks(queue="a", limit=2)] == [older[0].id, older[2].id]
    await _claim(backend, now + 2, queues=("b",))
    assert [r.id for r in await backend.list_tasks(queue="b", status=TaskStatus.RUNNING)] == [older[1].id]
    assert await backend.count_tasks() == {"a": {"pending": 3}, "b": {"running": 1}}


async def test_wait_for_tasks_wakes_on_another_connections_enqueue(
    backend: SQLiteBackend, db_path: Path, make_task: TaskFactory
) -> None:
    async with SQLiteBackend(db_path) as producer:
        assert await _claim(backend, time.time()) == []
        waiting = asyncio.ensure_future(backend.wait_for_tasks(["default"], 3600))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        record = make_task()
        await producer.enqueue([record])
        await asyncio.wait_for(waiting, 60)  # a hang guard: the wait itself is an hour
    assert await _claim(backend, time.time()) == [record.id]


async def test_wait_for_tasks_wakes_on_this_process_enqueue(
    backend: SQLiteBackend, make_task: TaskFactory
) -> None:
    waiting = asyncio.ensure_future(backend.wait_for_tasks(["default"], 3600))
    await asyncio.sleep(0.05)
    await backend.enqueue([make_task()])
    await asyncio.wait_for(waiting, 60)


async def test_wait_for_tasks_returns_at_once_when_work_came_during_the_claim(
    backend: SQLiteBackend, make_task: TaskFactory
) -> None:
    claim = asyncio.ensure_future(_claim(backend, time.time() - 10))
    await asyncio.sleep(0)  # the claim has started and waits for the database
    await backend.enqueue([make_task()])
    assert await claim == []
    await asyncio.wait_for(backend.wait_for_tasks(["default"], 3600), 60)


async def test_batches_larger_than_one_statement_are_split_in_one_transaction(
    backend: SQLiteBackend, make_task: TaskFactory
) -> None:
    records = [make_task() for _ in range(1_234)]
    await backend.enqueue(records)
    now = time.time() + 1
    claimed = await backend.claim(
        ["default"], limit=2_000, worker_id="w", lease_token="t", lease_expires_at=now + LEASE, now=now
    )
    assert [r.id for r in claimed] == [r.id for r in records]
    outcomes = [Outcome(task_id=r.id, lease_token="t", status=TaskStatus.COMPLETED, at=now) for r in records]
    assert (await backend.finish(outcomes)).accepted == [r.id for r in records]
    assert await backend.count_tasks() == {"default": {"completed": 1_234}}


async def test_use_from_a_second_running_loop_is_refused_clearly(db_path: Path) -> None:
    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()
    backend = SQLiteBackend(db_path)
    try:
        asyncio.run_coroutine_threadsafe(backend.open(), other).result(timeout=60)
        with pytest.raises(RuntimeError, match="another running event loop"):
            await backend.get_task("anything")
    finally:
        asyncio.run_coroutine_threadsafe(backend.close(), other).result(timeout=60)
        other.call_soon_threadsafe(other.stop)
        thread.join()
        other.close()
