"""The Lua scripts' atomicity and ordering, on the test server, with explicit clocks."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest
import redis.asyncio as aioredis

from omniq.core.dependency_rules import DEPENDENT_FATE
from omniq.core.errors import ValidationError
from omniq.core.models import TaskStatus
from omniq.core.records import Outcome
from omniq.core.testing._support import make_record
from omniq.redis import RedisBackend
from omniq.redis._scripts import load_script
from omniq.redis.backend import CHUNK

LEASE = 30.0


async def _claim(
    backend: RedisBackend, now: float, *queues: str, limit: int = 10, token: str = "t"
) -> list[str]:
    records = await backend.claim(
        queues or ("default",),
        limit=limit,
        worker_id="w",
        lease_token=token,
        lease_expires_at=now + LEASE,
        now=now,
    )
    return [record.id for record in records]


async def test_one_claim_takes_a_batch_across_queues_in_queue_order(backend: RedisBackend) -> None:
    now = time.time()
    low = [make_record(queue_name="low", priority=9, now=now) for _ in range(3)]
    high = [make_record(queue_name="high", now=now) for _ in range(2)]
    await backend.enqueue([*low, *high])
    taken = await _claim(backend, now + 1, "high", "low", limit=4)
    assert taken == [high[0].id, high[1].id, low[0].id, low[1].id]


async def test_a_task_not_yet_due_is_kept_and_claimed_once_due(backend: RedisBackend) -> None:
    now = time.time()
    later = make_record(now=now, run_in=50)
    ready = make_record(now=now)
    await backend.enqueue([later, ready])
    assert await _claim(backend, now + 1, limit=5) == [ready.id]
    stored = await backend.get_task(later.id)
    assert stored is not None and stored.status is TaskStatus.PENDING
    assert await _claim(backend, now + 51, limit=5) == [later.id]


async def test_a_task_past_its_ttl_is_skipped_by_claim_and_expired_by_reap(backend: RedisBackend) -> None:
    now = time.time()
    stale = make_record(now=now, ttl=5)
    await backend.enqueue([stale])
    assert await _claim(backend, now + 10) == []
    report = await backend.reap(now + 10)
    assert [r.id for r in report.expired] == [stale.id]


async def test_an_expired_lease_is_reported_by_only_one_of_many_reapers(
    backend: RedisBackend, redis_url: str
) -> None:
    now = time.time()
    records = [make_record(max_retries=3) for _ in range(50)]
    await backend.enqueue(records)
    await backend.claim(
        ["default"], limit=50, worker_id="w", lease_token="a", lease_expires_at=now + 1, now=now
    )
    others = [RedisBackend(redis_url) for _ in range(3)]
    for other in others:
        await other.open()
    try:
        reports = await asyncio.gather(*(b.reap(now + 5) for b in [backend, *others] for _ in range(3)))
    finally:
        for other in others:
            await other.close()
    requeued = [r.id for report in reports for r in report.requeued]
    assert sorted(requeued) == sorted(r.id for r in records)


async def test_claims_from_many_connections_never_share_a_task(backend: RedisBackend, redis_url: str) -> None:
    records = [make_record() for _ in range(400)]
    await backend.enqueue(records)
    claimers = [RedisBackend(redis_url) for _ in range(8)]
    for claimer in claimers:
        await claimer.open()
    now = time.time() + 1

    async def drain(claimer: RedisBackend, token: str) -> list[str]:
        taken: list[str] = []
        while batch := await _claim(claimer, now, limit=7, token=token):
            taken += batch
        return taken

    try:
        batches = await asyncio.gather(*(drain(c, f"t{i}") for i, c in enumerate(claimers)))
    finally:
        for claimer in claimers:
            await claimer.close()
    taken = [task_id for batch in batches for task_id in batch]
    assert sorted(taken) == sorted(r.id for r in records)


async def test_enqueue_sent_twice_stores_each_task_once(backend: RedisBackend) -> None:
    records = [make_record() for _ in range(3)]
    await backend.enqueue(records)
    assert await backend.enqueue(records) == [r.id for r in records]
    assert await backend.count_tasks() == {"default": {"pending": 3}}
    assert len(await _claim(backend, time.time() + 1, limit=10)) == 3


async def test_a_dedup_key_is_shared_within_one_batch(backend: RedisBackend) -> None:
    first, second = make_record(dedup_key="k"), make_record(dedup_key="k")
    assert await backend.enqueue([first, second]) == [first.id, first.id]
    assert await backend.get_task(second.id) is None


async def test_a_late_finish_after_a_reclaim_changes_nothing(backend: RedisBackend) -> None:
    record = make_record(max_retries=2)
    await backend.enqueue([record])
    now = time.time()
    await backend.claim(
        ["default"], limit=1, worker_id="w", lease_token="old", lease_expires_at=now + 1, now=now
    )
    await backend.reap(now + 2)
    await _claim(backend, now + 2, token="new")
    late = Outcome(task_id=record.id, lease_token="old", status=TaskStatus.COMPLETED, at=now + 3)
    assert (await backend.finish([late])).accepted == []
    stored = await backend.get_task(record.id)
    assert stored is not None and (stored.status, stored.lease_token) == (TaskStatus.RUNNING, "new")


async def test_a_cancelled_pending_task_leaves_the_ready_set(backend: RedisBackend) -> None:
    record = make_record()
    await backend.enqueue([record])
    await backend.cancel(record.id, time.time())
    client = backend.client
    assert await client.zcard(backend.keys.ready("default")) == 0
    assert await _claim(backend, time.time() + 1) == []


async def test_requeue_leaves_a_dedup_key_taken_meanwhile_to_its_holder(backend: RedisBackend) -> None:
    first = make_record(dedup_key="k")
    await backend.enqueue([first])
    await backend.cancel(first.id, time.time())
    second = make_record(dedup_key="k")
    assert await backend.enqueue([second]) == [second.id]
    requeued = await backend.requeue(first.id, time.time())
    assert requeued is not None and requeued.changed and requeued.task.dedup_key is None
    assert await backend.enqueue([make_record(dedup_key="k")]) == [second.id]


async def test_float_times_come_back_exactly(backend: RedisBackend) -> None:
    now = 1_732_771_234.123_456_7
    record = make_record(now=now, run_in=0.000_001_3)
    await backend.enqueue([record])
    stored = await backend.get_task(record.id)
    assert stored is not None and (stored.created_at, stored.due_at) == (record.created_at, record.due_at)


async def test_every_key_shares_the_project_hash_tag(
    backend: RedisBackend, server_url: str, prefix: str
) -> None:
    records = [make_record(queue_name=q, dedup_key=q, ttl=60) for q in ("a", "b")]
    await backend.enqueue([*records, make_record(run_in=60)])
    now = time.time() + 1
    await _claim(backend, now, "a")
    client = aioredis.Redis.from_url(server_url)
    try:
        keys = [key.decode() async for key in client.scan_iter(match=f"*{prefix}*")]
    finally:
        await client.aclose()
    assert keys and all(key.startswith(f"{{{prefix}}}:") for key in keys)


async def test_an_unknown_dependency_in_a_later_chunk_stores_nothing_of_the_batch(
    backend: RedisBackend,
) -> None:
    records = [make_record() for _ in range(CHUNK + 5)]
    records[-1] = msgspec.structs.replace(
        records[-1], depends_on=("no-such-task",), status=TaskStatus.WAITING
    )
    with pytest.raises(ValidationError, match="no-such-task"):
        await backend.enqueue(records)
    assert await backend.count_tasks() == {}


async def test_resolving_tasks_nobody_waits_on_changes_nothing(backend: RedisBackend) -> None:
    record = make_record()
    await backend.enqueue([record])
    report = await backend.resolve_dependencies([record.id, "unknown"], time.time())
    assert (report.released, report.cancelled) == ([], [])


async def test_a_finish_reports_the_finished_tasks_something_waits_on(backend: RedisBackend) -> None:
    now = time.time()
    alone, awaited = make_record(now=now), make_record(now=now)
    dependent = make_record(now=now, depends_on=[awaited.id])
    await backend.enqueue([alone, awaited])
    await backend.enqueue([dependent])
    claimed = await backend.claim(
        ["default"], limit=2, worker_id="w", lease_token="t", lease_expires_at=now + LEASE, now=now
    )
    outcomes = [Outcome(task_id=r.id, lease_token="t", status=TaskStatus.COMPLETED, at=now) for r in claimed]
    report = await backend.finish(outcomes)
    assert sorted(report.accepted) == sorted([alone.id, awaited.id])
    assert report.waited_on == [awaited.id]
    released = await backend.resolve_dependencies(report.waited_on, now)
    assert [r.id for r in released.released] == [dependent.id]


def test_the_scripts_take_the_dependency_rule_from_core() -> None:
    # The rule lives inside the scripts (applied atomically there) but is defined by core.
    source = load_script("resolve_dependencies").source
    for status, fate in DEPENDENT_FATE.items():
        assert f"['{status.value}'] = '{fate.value}'" in source
    assert "s == 'dead'" not in source and "ds == 'completed'" not in source
