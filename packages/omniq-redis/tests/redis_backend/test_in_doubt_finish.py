"""A finish whose reply was lost: the same call sent again is accepted again and changes nothing;
a new call with the settled token is still refused (the contract)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from omniq.core import AsyncOmniQ
from omniq.core.models import ResultStatus, TaskStatus
from omniq.core.records import Outcome, ResultRecord
from omniq.core.testing import tasks
from omniq.core.testing._support import TEST_SETTINGS, make_record
from omniq.redis import RedisBackend
from omniq.redis import backend as backend_module
from omniq.redis._codec import number, pack
from omniq.redis._scripts import Arg, load_script

FINISH_SHA = load_script("finish").sha
#: The finish script's last arguments for a call without events: no events, the stream's maxlen.
NO_EVENTS: list[Arg] = ["", 1000]


async def _claimed(backend: RedisBackend, now: float, token: str = "token-a") -> str:
    record = make_record(now=now)
    await backend.enqueue([record])
    [claimed] = await backend.claim(
        ["default"], limit=1, worker_id="w", lease_token=token, lease_expires_at=now + 30, now=now
    )
    return claimed.id


def _lose_first_finish_reply(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch, *, unreachable_for: int = 0
) -> list[int]:
    """Make the server apply the first finish script but its reply never arrive (the connection
    drops), then refuse the next ``unreachable_for`` sends (the server is down); returns a list
    counting the finish calls sent."""
    real: Any = backend.client.evalsha  # annotated differently across redis-py releases
    sent: list[int] = []

    async def evalsha(sha: str, *args: Any) -> Any:
        if sha == FINISH_SHA:
            sent.append(1)
            if 1 < len(sent) <= 1 + unreachable_for:
                raise RedisConnectionError("connection refused")
        reply = await real(sha, *args)
        if sha == FINISH_SHA and len(sent) == 1:
            raise RedisConnectionError("connection lost before the reply was read")
        return reply

    monkeypatch.setattr(backend.client, "evalsha", evalsha)
    return sent


async def test_a_finish_whose_reply_was_lost_is_accepted_when_sent_again(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    task_id = await _claimed(backend, now)
    sent = _lose_first_finish_reply(backend, monkeypatch)
    done = Outcome(task_id=task_id, lease_token="token-a", status=TaskStatus.COMPLETED, at=now)
    result = ResultRecord(task_id=task_id, status=ResultStatus.SUCCESS, finished_at=now, data=b"v")
    assert (await backend.finish_with_results([done], [result])).accepted == [task_id]
    assert len(sent) == 2  # applied once, its reply lost, sent again
    assert await backend.get_result(task_id) == result
    assert await backend.count_tasks() == {"default": {"completed": 1}}


async def test_a_finish_in_doubt_outlasts_a_server_down_for_seconds(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    task_id = await _claimed(backend, now)
    sent = _lose_first_finish_reply(backend, monkeypatch, unreachable_for=3)  # about 3 s down
    done = Outcome(task_id=task_id, lease_token="token-a", status=TaskStatus.COMPLETED, at=now)
    assert (await backend.finish([done])).accepted == [task_id]
    assert len(sent) == 5


async def test_the_same_call_again_changes_nothing_and_a_new_call_is_refused(backend: RedisBackend) -> None:
    now = time.time()
    task_id = await _claimed(backend, now)
    items = pack([(task_id, "token-a", "completed", number(now), "", "")])
    call: list[Arg] = ["call-1", items, pack([]), *NO_EVENTS]
    assert (await backend._script("finish", call))[0] == [task_id.encode()]
    raw: Any = aioredis.Redis.from_url(backend._client_url)
    try:
        before = await raw.get(backend.keys.finished(task_id))
        assert before is not None
        assert (await backend._script("finish", call))[0] == [task_id.encode()]
        assert await raw.get(backend.keys.finished(task_id)) == before
    finally:
        await raw.aclose()
    other: list[Arg] = ["call-2", items, pack([]), *NO_EVENTS]
    assert (await backend._script("finish", other))[0] == []
    done = Outcome(task_id=task_id, lease_token="token-a", status=TaskStatus.COMPLETED, at=now)
    assert (await backend.finish([done])).accepted == []


async def test_a_call_sent_again_after_the_task_was_claimed_anew_is_refused(backend: RedisBackend) -> None:
    now = time.time()
    task_id = await _claimed(backend, now)
    retry = pack([(task_id, "token-a", "failed", number(now), number(now), '{"type":"E"}')])
    call: list[Arg] = ["call-1", retry, pack([]), *NO_EVENTS]
    assert (await backend._script("finish", call))[0] == [task_id.encode()]
    [again] = await backend.claim(
        ["default"], limit=1, worker_id="w2", lease_token="token-b", lease_expires_at=now + 30, now=now + 1
    )
    assert again.id == task_id
    assert (await backend._script("finish", call))[0] == []
    stored = await backend.get_task(task_id)
    assert stored is not None and (stored.status, stored.lease_token) == (TaskStatus.RUNNING, "token-b")


async def test_a_different_status_under_the_same_call_is_refused(backend: RedisBackend) -> None:
    now = time.time()
    task_id = await _claimed(backend, now)
    completed = pack([(task_id, "token-a", "completed", number(now), "", "")])
    first: list[Arg] = ["call-1", completed, pack([]), *NO_EVENTS]
    assert (await backend._script("finish", first))[0] == [task_id.encode()]
    dead: list[Arg] = [
        "call-1",
        pack([(task_id, "token-a", "dead", number(now), "", '{"type":"E"}')]),
        pack([]),
        *NO_EVENTS,
    ]
    assert (await backend._script("finish", dead))[0] == []
    stored = await backend.get_task(task_id)
    assert stored is not None and stored.status is TaskStatus.COMPLETED


async def test_a_finish_in_doubt_is_sent_again_at_short_intervals_while_the_server_is_down(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sent again on a short cadence rather than a growing backoff, so it lands as soon as the
    # server answers again instead of up to several seconds later.
    now = time.time()
    task_id = await _claimed(backend, now)
    sent = _lose_first_finish_reply(backend, monkeypatch, unreachable_for=12)
    pauses: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        pauses.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    done = Outcome(task_id=task_id, lease_token="token-a", status=TaskStatus.COMPLETED, at=now)
    assert (await backend.finish([done])).accepted == [task_id]
    assert len(sent) == 14 and len(pauses) == 13
    assert max(pauses) <= backend_module.IN_DOUBT_RESEND_INTERVAL


async def test_a_worker_gives_back_the_tasks_of_a_claim_whose_reply_was_lost(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The claim script runs and the connection drops before its reply is read: the worker never
    # sees those tasks. Given back, they run once with their only attempt; else they would wait
    # out the lease and go dead without having run.
    claim_sha = load_script("claim").sha
    lost: list[int] = []
    async with AsyncOmniQ(redis_url, **{**TEST_SETTINGS, "lease_ttl": 3600.0}) as app:
        queue: Any = app.task_queue
        real: Any = queue.client.evalsha

        async def evalsha(sha: str, *args: Any) -> Any:
            reply = await real(sha, *args)
            if sha == claim_sha and reply and len(lost) < 2:
                lost.append(1)
                raise RedisConnectionError("connection lost before the reply was read")
            return reply

        monkeypatch.setattr(queue.client, "evalsha", evalsha)
        ids = await app.enqueue_many(tasks.add, [{"a": n, "b": 1} for n in range(10)], max_retries=0)
        await app.start_worker("async", max_workers=4)
        for task_id in ids:
            result = await app.get_result(task_id, timeout=30)
            assert result is not None and (result.status, result.attempts) == (ResultStatus.SUCCESS, 1)
        assert len(lost) == 2
