"""The task queue on PostgreSQL: what only this backend can get wrong (storage, SQL, lost replies)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import msgspec
import pytest

from omniq.core.models import TaskStatus
from omniq.core.records import Outcome, TaskRecord
from omniq.postgres import PostgresBackend
from omniq.postgres._rows import TASK_COLUMN_NAMES, task_rows
from omniq.postgres.backend import _COPY_FROM

TaskFactory = Callable[..., TaskRecord]

LEASE = 30.0


async def _claim(backend: PostgresBackend, now: float, *, token: str = "t", limit: int = 10) -> list[str]:
    records = await backend.claim(
        ["default"], limit=limit, worker_id="w", lease_token=token, lease_expires_at=now + LEASE, now=now
    )
    return [record.id for record in records]


async def test_concurrent_enqueues_of_one_key_agree_on_one_holder(url: str, make_task: TaskFactory) -> None:
    producers = [PostgresBackend(url) for _ in range(4)]
    try:
        for producer in producers:
            await producer.open()
        records = [make_task(dedup_key="same") for _ in producers]
        ids = await asyncio.gather(*(p.enqueue([r]) for p, r in zip(producers, records, strict=True)))
        counts = await producers[0].count_tasks()
    finally:
        for producer in producers:
            await producer.close()
    assert len({task_id for [task_id] in ids}) == 1
    assert counts == {"default": {"pending": 1}}


@pytest.mark.parametrize("size", [3, _COPY_FROM], ids=["one-statement", "copied"])
async def test_a_refused_record_fails_the_whole_batch(
    backend: PostgresBackend, make_task: TaskFactory, size: int
) -> None:
    records = [make_task() for _ in range(size - 1)]
    refused = msgspec.structs.replace(make_task(), status=None)  # NOT NULL: the server refuses it
    with pytest.raises(asyncpg.NotNullViolationError):
        await backend.enqueue([*records, refused])
    assert await backend.count_tasks() == {}


@pytest.mark.parametrize("size", [3, _COPY_FROM], ids=["one-statement", "copied"])
async def test_a_batch_sent_again_stores_each_task_once(
    backend: PostgresBackend, make_task: TaskFactory, size: int
) -> None:
    records = [make_task() for _ in range(size)]
    await backend.enqueue(records[:1])
    assert await backend.enqueue(records) == [record.id for record in records]
    assert await backend.enqueue(records) == [record.id for record in records]
    assert await backend.count_tasks() == {"default": {"pending": size}}


async def test_a_copied_batch_keeps_every_field_and_its_order(
    backend: PostgresBackend, url: str, make_task: TaskFactory
) -> None:
    now = 1_700_000_000.123456789
    varied = make_task(
        now=now,
        priority=-7,
        status=TaskStatus.FAILED,
        expires_at=now + 1e9,
        attempts=2,
        max_attempts=5,
        data=bytes(range(256)),
        schedule_id="s1",
        lease_token="t",
        lease_expires_at=0.1 + 0.2,
        worker_id="w",
        error='{"type":"E","message":"\u00e9","traceback":null}',
    )
    records = [varied, *(make_task(now=now, data=b"") for _ in range(_COPY_FROM))]
    assert await backend.enqueue(records) == [r.id for r in records]
    async with PostgresBackend(url) as other:
        assert [await other.get_task(r.id) for r in records] == records
    claimed = await _claim(backend, now + 1, limit=len(records))
    # Equal priority and due time: in batch order; the failed one (priority -7) is retried last.
    assert claimed == [r.id for r in records[1:]] + [varied.id]


def test_copied_rows_carry_dependencies_as_json(make_task: TaskFactory) -> None:
    [plain, dependent] = task_rows([make_task(), make_task(depends_on=("a", "b"))])
    depends_on = TASK_COLUMN_NAMES.index("depends_on")
    assert (plain[depends_on], dependent[depends_on]) == ("[]", '["a","b"]')
    assert len(plain) == len(TASK_COLUMN_NAMES)


async def test_a_claim_cut_off_by_a_dropped_connection_raises_and_its_release_takes_nothing(
    url: str, admin: Any, schema: str, make_task: TaskFactory
) -> None:
    name = f"omniq-{schema}"
    async with PostgresBackend(f"{url}&application_name={name}") as backend:
        record = make_task()
        await backend.enqueue([record])
        # Hold the table so that the claim waits on the server, then end its connection there.
        async with admin.transaction():
            await admin.execute(f'LOCK TABLE "{schema}".tasks IN ACCESS EXCLUSIVE MODE')
            claim = asyncio.ensure_future(_claim(backend, time.time() + 1, token="cut"))
            pid = None
            while pid is None:
                pid = await admin.fetchval(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE application_name = $1 AND wait_event_type = 'Lock'",
                    name,
                )
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
                await claim
        assert await backend.release_claim("cut", time.time()) == 0  # it never committed
        assert await _claim(backend, time.time() + 1, token="again") == [record.id]  # on a new connection


async def test_a_finish_whose_reply_was_lost_is_confirmed_by_its_retry(
    backend: PostgresBackend, make_task: TaskFactory
) -> None:
    done, other = make_task(), make_task()
    await backend.enqueue([done, other])
    now = time.time() + 1
    await _claim(backend, now, token="t")
    outcome = Outcome(task_id=done.id, lease_token="t", status=TaskStatus.COMPLETED, at=now)
    assert (await backend.finish([outcome])).accepted == [done.id]
    # The reply is lost: the worker retries the same batch, with an outcome settled since.
    backend._doubtful_finishes.add((done.id, "t"))
    later = Outcome(task_id=other.id, lease_token="t", status=TaskStatus.COMPLETED, at=now)
    assert (await backend.finish([outcome, later])).accepted == [done.id, other.id]
    assert backend._doubtful_finishes == set()
    # Without doubt, a repeated finish is refused (the lease is settled), as the contract says.
    assert (await backend.finish([outcome])).accepted == []
    stranger = Outcome(task_id=done.id, lease_token="someone-else", status=TaskStatus.DEAD, at=now)
    backend._doubtful_finishes.add((done.id, "someone-else"))
    assert (await backend.finish([stranger])).accepted == []  # only the lease that settled it is confirmed


async def test_a_cancelled_claim_leaves_no_task_leased(
    backend: PostgresBackend, make_task: TaskFactory
) -> None:
    for step in range(20):
        records = [make_task(queue=f"q{step}") for _ in range(3)]
        await backend.enqueue(records)
        claim = asyncio.ensure_future(
            backend.claim(
                [f"q{step}"], limit=3, worker_id="w", lease_token="t", lease_expires_at=0, now=time.time()
            )
        )
        await asyncio.sleep(step * 0.0002)
        claim.cancel()
        try:
            taken = [r.id for r in await claim]
        except asyncio.CancelledError:
            taken = []
        for record in records:
            stored = await backend.get_task(record.id)
            assert stored is not None
            expected = (TaskStatus.RUNNING, 1) if record.id in taken else (TaskStatus.PENDING, 0)
            assert (stored.status, stored.attempts) == expected


async def test_reapers_of_several_backends_report_each_change_once(url: str, make_task: TaskFactory) -> None:
    reapers = [PostgresBackend(url) for _ in range(3)]
    try:
        for reaper in reapers:
            await reaper.open()
        now = time.time()
        leased = [make_task(now=now, max_attempts=2) for _ in range(40)]
        expiring = [make_task(now=now, expires_at=now + 1) for _ in range(40)]
        await reapers[0].enqueue([*leased, *expiring])
        await reapers[0].claim(
            ["default"], limit=40, worker_id="w", lease_token="t", lease_expires_at=now + 1, now=now
        )
        reports = await asyncio.gather(*(reaper.reap(now + 2) for reaper in reapers))
    finally:
        for reaper in reapers:
            await reaper.close()
    assert sorted(r.id for report in reports for r in report.requeued) == sorted(r.id for r in leased)
    assert sorted(r.id for report in reports for r in report.expired) == sorted(r.id for r in expiring)


async def test_heartbeat_reports_lost_leases_in_large_batches(
    backend: PostgresBackend, make_task: TaskFactory
) -> None:
    records = [make_task() for _ in range(600)]
    await backend.enqueue(records)
    now = time.time() + 1
    await _claim(backend, now, limit=600)
    leases = [(r.id, "t") for r in records[:-1]] + [(records[-1].id, "wrong")]
    assert await backend.heartbeat(leases, lease_expires_at=now + 99, now=now) == [records[-1].id]


async def test_events_details_are_queryable_json(backend: PostgresBackend, admin: Any) -> None:
    from omniq.core.records import EventRecord  # noqa: PLC0415

    at = time.time()
    await backend.append_events(
        [
            EventRecord(type="retry", task_id="a", at=at, details='{"reason": "lease expired"}'),
            EventRecord(type="enqueued", task_id="b", at=at),
        ]
    )
    rows = await admin.fetch(
        f"SELECT task_id FROM \"{backend.schema}\".events WHERE details->>'reason' = 'lease expired'"
    )
    assert [row[0] for row in rows] == ["a"]
    assert [e.details for e in await backend.query_events()] == ['{"reason": "lease expired"}', "{}"]
