"""What only a Redis server shows: its eviction policy, foreign keys under the prefix, blocking
wake-ups of workers and of result waiters, and a socket path instead of a port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from omniq.core.app import AsyncOmniQ
from omniq.core.models import ResultStatus, TaskStatus
from omniq.core.records import Outcome, ResultRecord
from omniq.core.testing import tasks
from omniq.core.testing._support import make_record
from omniq.redis import RedisBackend, WrongKeyTypeError
from omniq.redis._waits import blpop as blpop_helper

StartServer = Callable[..., Any]


@pytest.mark.parametrize(("policy", "warned"), [("allkeys-lru", True), ("noeviction", False)])
async def test_open_warns_when_the_server_may_evict_keys(
    own_server: StartServer, caplog: pytest.LogCaptureFixture, policy: str, warned: bool
) -> None:
    server = own_server("--maxmemory-policy", policy)
    async with RedisBackend(server.url):
        pass
    warnings = [r for r in caplog.records if r.name == "omniq.redis" and "maxmemory-policy" in r.message]
    assert bool(warnings) is warned
    if warned:
        assert "noeviction" in warnings[0].message and policy in warnings[0].message


async def test_a_key_of_another_type_under_the_prefix_is_a_clear_error(
    backend: RedisBackend, server_url: str
) -> None:
    client = redis.Redis.from_url(server_url)
    try:
        client.set(backend.keys.leases, "not a sorted set")
        client.set(backend.keys.queues, "not a set")
    finally:
        client.close()
    with pytest.raises(WrongKeyTypeError, match="WRONGTYPE") as caught:
        await backend.reap(time.time())
    assert backend.prefix in str(caught.value)
    with pytest.raises(WrongKeyTypeError):
        await backend.count_tasks()


async def test_an_idle_wait_blocks_on_the_server_and_wakes_on_enqueue(own_server: StartServer) -> None:
    server = own_server()
    async with RedisBackend(server.url) as waiter, RedisBackend(server.url) as producer:
        stats: Any = redis.Redis(port=server.port)
        try:
            stats.config_resetstat()
            waiting = asyncio.ensure_future(waiter.wait_for_tasks(["default"], 60))
            while not any(c.get("cmd") == "blpop" for c in stats.client_list()):
                await asyncio.sleep(0.01)
            await producer.enqueue([make_record()])
            await asyncio.wait_for(waiting, 30)  # a hang guard: the wake-up ends the 60 s wait
            calls = {name: info["calls"] for name, info in stats.info("commandstats").items()}
        finally:
            stats.close()
    # One blocking pop while idle, not a loop of claims or polls.
    assert calls.get("cmdstat_blpop") == 1
    assert "cmdstat_evalsha" in calls  # the enqueue


async def test_an_idle_wait_ends_when_a_delayed_task_falls_due(backend: RedisBackend) -> None:
    await backend.enqueue([make_record(run_in=0.2)])
    await asyncio.wait_for(backend.wait_for_tasks(["default"], 60), 30)  # a hang guard
    assert len(await backend.claim(["default"], limit=1, worker_id="w", lease_token="t",
                                   lease_expires_at=time.time() + 30, now=time.time())) == 1  # fmt: skip


async def test_a_unix_socket_url_serves_the_application(own_server: StartServer, tmp_path: Path) -> None:
    socket_path = tmp_path / "redis.sock"
    own_server("--unixsocket", str(socket_path))
    async with AsyncOmniQ(f"unix://{socket_path}?db=0&prefix=unix-test", poll_interval=0.02) as app:
        task_id = await app.enqueue(tasks.add, {"a": 2, "b": 3})
        await app.start_worker()
        result = await app.get_result(task_id, timeout=60)
    assert result is not None and result.value == 5


async def _blocked_on(stats: Any, command: str, count: int = 1) -> None:
    """Wait until ``count`` clients are blocked in ``command`` (a hang guard bounds the callers)."""
    while sum(c.get("cmd") == command for c in stats.client_list()) < count:
        await asyncio.sleep(0.01)


async def _complete(backend: RedisBackend, value: bytes) -> str:
    """Enqueue, claim and finish one task with a result; its id."""
    record = make_record()
    await backend.enqueue([record])
    now = time.time()
    await backend.claim(
        ["default"], limit=1, worker_id="w", lease_token="t", lease_expires_at=now + 30, now=now
    )
    done = Outcome(task_id=record.id, lease_token="t", status=TaskStatus.COMPLETED, at=now)
    result = ResultRecord(task_id=record.id, status=ResultStatus.SUCCESS, finished_at=now, data=value)
    assert (await backend.finish_with_results([done], [result])).accepted == [record.id]
    return record.id


async def test_result_waiters_block_on_the_server_and_wake_when_the_result_is_stored(
    own_server: StartServer,
) -> None:
    server = own_server()
    record = make_record()
    async with RedisBackend(server.url) as waiter, RedisBackend(server.url) as producer:
        stats: Any = redis.Redis(port=server.port)
        try:
            await producer.enqueue([record])
            stats.config_resetstat()
            waiting = [asyncio.ensure_future(waiter.wait_for_result(record.id, 60)) for _ in range(2)]
            await asyncio.wait_for(_blocked_on(stats, "blpop", 2), 30)
            now = time.time()
            await producer.claim(
                ["default"], limit=1, worker_id="w", lease_token="t", lease_expires_at=now + 30, now=now
            )
            done = Outcome(task_id=record.id, lease_token="t", status=TaskStatus.COMPLETED, at=now)
            result = ResultRecord(task_id=record.id, status=ResultStatus.SUCCESS, finished_at=now, data=b"v")
            await producer.finish_with_results([done], [result])
            # A hang guard: only the store ends the 60 s waits (each blocks up to RESULT_RECHECK).
            got = await asyncio.wait_for(asyncio.gather(*waiting), 30)
            calls = {name: info["calls"] for name, info in stats.info("commandstats").items()}
        finally:
            stats.close()
    assert got == [result, result]
    # Each waiter: one read before blocking, one blocking pop, one read once woken; the first woken
    # passes the token on to the second (a chain), so no waiter polls.
    assert calls["cmdstat_blpop"] == 2
    assert calls["cmdstat_get"] == 4


async def test_a_result_stored_before_the_wait_returns_without_blocking(own_server: StartServer) -> None:
    server = own_server()
    async with RedisBackend(server.url) as backend:
        task_id = await _complete(backend, b"early")
        stats: Any = redis.Redis(port=server.port)
        try:
            stats.config_resetstat()
            result = await backend.wait_for_result(task_id, 60)
            calls = {name: info["calls"] for name, info in stats.info("commandstats").items()}
        finally:
            stats.close()
    assert result is not None and result.data == b"early"
    assert "cmdstat_blpop" not in calls


async def test_a_stale_notify_token_without_a_result_is_used_up_not_spun_on(
    own_server: StartServer,
) -> None:
    server = own_server()
    async with RedisBackend(server.url) as backend:
        stats: Any = redis.Redis(port=server.port)
        try:
            stats.lpush(backend.keys.notify("nothing-yet"), "1", "1")
            stats.config_resetstat()
            assert await backend.wait_for_result("nothing-yet", 0.3) is None
            calls = {name: info["calls"] for name, info in stats.info("commandstats").items()}
            left = stats.llen(backend.keys.notify("nothing-yet"))
        finally:
            stats.close()
    # Both tokens used up, never pushed back; then one wait until the timeout (a spinning waiter
    # would pop its own tokens for the whole 0.3 s: hundreds of pops).
    assert left == 0
    assert 3 <= calls["cmdstat_blpop"] < 10


async def test_results_are_stored_without_notifying_while_nobody_waits(backend: RedisBackend) -> None:
    task_id = await _complete(backend, b"v")
    raw: Any = redis.Redis.from_url(backend._client_url)
    try:
        assert raw.exists(backend.keys.notify(task_id), backend.keys.result_waiters) == 0
    finally:
        raw.close()


@pytest.mark.parametrize(
    ("option", "longest"), [("", None), ("&socket_timeout=30", 15.0), ("&socket_timeout=1", 0.5)]
)
async def test_a_blocking_pop_stays_under_the_read_timeout(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, option: str, longest: float | None
) -> None:
    """A BLPOP longer than the connection's read timeout would fail as a timeout. Without a
    ``socket_timeout`` in the URL, redis-py 8 reads with 5 s (its pool options then lack the key);
    redis-py 5 stores ``None`` there and never times a read out."""
    asked: list[float] = []

    async def blpop(keys: list[str], timeout: float) -> None:
        asked.append(timeout)

    async with RedisBackend(redis_url + option) as backend:
        if longest is None:
            longest = 60.0 if "socket_timeout" in backend.client.connection_pool.connection_kwargs else 2.5
        monkeypatch.setattr(backend.client, "blpop", blpop)
        await blpop_helper(backend.client, ["k"], 60)
    assert asked == [longest]
