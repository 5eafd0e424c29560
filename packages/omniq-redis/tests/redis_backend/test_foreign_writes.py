"""Keys that something other than OmniQ wrote to: a task hash without its ``id`` field, a task key
holding a string, a result that is not one. Each affects only its own task."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from omniq.core.errors import PayloadError
from omniq.core.models import TaskStatus
from omniq.core.records import Outcome
from omniq.core.testing._support import make_record
from omniq.redis import RedisBackend

LEASE = 30.0


@pytest_asyncio.fixture
async def raw(backend: RedisBackend) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(backend._client_url)
    yield client
    await client.aclose()


async def _claim(backend: RedisBackend, now: float, token: str = "t", limit: int = 10) -> list[str]:
    claimed = await backend.claim(
        ["default"], limit=limit, worker_id="w", lease_token=token, lease_expires_at=now + LEASE, now=now
    )
    return [record.id for record in claimed]


async def test_a_task_hash_without_its_id_field_is_claimed_renewed_and_finished(
    backend: RedisBackend, raw: aioredis.Redis
) -> None:
    now = time.time()
    records = [make_record(now=now) for _ in range(3)]
    await backend.enqueue(records)
    await raw.hdel(backend.keys.task(records[1].id), "id")
    assert await _claim(backend, now) == [record.id for record in records]
    leases = [(record.id, "t") for record in records]
    assert await backend.heartbeat(leases, lease_expires_at=now + 2 * LEASE, now=now) == []
    stored = await backend.get_task(records[1].id)
    assert stored is not None and stored.id == records[1].id and stored.status is TaskStatus.RUNNING
    done = [Outcome(task_id=r.id, lease_token="t", status=TaskStatus.COMPLETED, at=now) for r in records]
    assert (await backend.finish(done)).accepted == [record.id for record in records]
    assert await backend.count_tasks() == {"default": {"completed": 3}}


async def test_a_running_task_whose_key_became_a_string_is_lost_alone(
    backend: RedisBackend, raw: aioredis.Redis
) -> None:
    now = time.time()
    records = [make_record(now=now) for _ in range(3)]
    await backend.enqueue(records)
    await _claim(backend, now)
    victim = records[1].id
    await raw.delete(backend.keys.task(victim))
    await raw.set(backend.keys.task(victim), "garbage")
    leases = [(record.id, "t") for record in records]
    assert await backend.heartbeat(leases, lease_expires_at=now + 2 * LEASE, now=now) == [victim]
    done = [Outcome(task_id=r.id, lease_token="t", status=TaskStatus.COMPLETED, at=now) for r in records]
    assert (await backend.finish(done)).accepted == [records[0].id, records[2].id]
    report = await backend.reap(now + 3 * LEASE)  # its lease index entry goes; nothing else changes
    assert (report.requeued, report.dead) == ([], [])
    with pytest.raises(PayloadError, match=f"{victim}.*holds a string"):
        await backend.get_task(victim)


async def test_a_pending_task_whose_key_became_a_string_goes_dead_with_its_key_kept(
    backend: RedisBackend, raw: aioredis.Redis
) -> None:
    now = time.time()
    records = [make_record(now=now) for _ in range(3)]
    await backend.enqueue(records)
    victim = records[0].id
    await raw.delete(backend.keys.task(victim))
    await raw.set(backend.keys.task(victim), "garbage")
    assert await _claim(backend, now) == [records[1].id, records[2].id]
    buried = await backend.get_task(victim)
    assert buried is not None and buried.status is TaskStatus.DEAD and buried.queue == "default"
    assert buried.error is not None and "holds a string" in buried.error and "PayloadError" in buried.error
    assert await raw.get(f"{backend.keys.base}:corrupt:{victim}") == b"garbage"
    assert [task.id for task in await backend.list_tasks(status=TaskStatus.DEAD)] == [victim]


async def test_a_result_that_is_not_one_is_a_payload_error_naming_the_task(
    backend: RedisBackend, raw: aioredis.Redis
) -> None:
    await raw.set(backend.keys.result("some-task"), b"\xc1 not msgpack")
    with pytest.raises(PayloadError, match="some-task"):
        await backend.get_result("some-task")


@pytest.mark.parametrize("field", ["queue", "status"])
async def test_a_task_hash_missing_a_field_the_state_machine_needs_is_not_lost(
    backend: RedisBackend, raw: aioredis.Redis, field: str
) -> None:
    # Without its queue the task is repaired from the ready set it sits in and runs; without its
    # status it goes to dead with the reason. Either way the claim and the tasks beside it go on.
    now = time.time()
    records = [make_record(now=now) for _ in range(3)]
    await backend.enqueue(records)
    victim = records[1].id
    await raw.hdel(backend.keys.task(victim), field)
    claimed = await _claim(backend, now)
    done = [Outcome(task_id=i, lease_token="t", status=TaskStatus.COMPLETED, at=now) for i in claimed]
    assert sorted((await backend.finish(done)).accepted) == sorted(claimed)
    stored = await backend.get_task(victim)
    assert stored is not None
    if field == "queue":
        assert victim in claimed and (stored.status, stored.queue) == (TaskStatus.COMPLETED, "default")
    else:
        assert victim not in claimed and stored.status is TaskStatus.DEAD
        assert stored.error is not None and "no status field" in stored.error
    assert await backend.count_tasks() == {
        "default": {"completed": len(claimed), **({"dead": 1} if field == "status" else {})}
    }
