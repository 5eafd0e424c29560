"""Blocking waits on the server: ``BLPOP`` on short lists that scripts push a token to.

A worker waits on its queues' wake-up lists, and on its cancel list (``{p}:x:<worker id>``, where
``cancel.lua`` pushes the ids of its running tasks that were cancelled); a caller of
``wait_for_result`` on the task's notify list (``{p}:n:<id>``). For the latter, scripts push only
for tasks someone registered in the waiters index (``{p}:rw``, task id by the waiter's deadline),
so storing results costs one ``EXISTS`` per script call while nobody waits. Pub/sub is not used:
see ``tasks/redis.md``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from omniq.core.records import ResultRecord
from omniq.redis._keys import Keys

__all__ = ["RESULT_RECHECK", "blpop", "relay_cancels", "wait_for_result"]

#: The longest a result waiter blocks before it reads the result again. Only a guard: a waiter's
#: registration can be dropped early (another client's clock far ahead cleans it as expired).
RESULT_RECHECK = 5.0
#: The read timeout redis-py 8 gives connections whose URL sets none (older releases: none).
DEFAULT_SOCKET_TIMEOUT = 5.0
#: Milliseconds a notify token (or a cancel list) outlives its push (a waiter blocks within this,
#: or re-reads).
NOTIFY_TTL_MS = 60_000
#: The longest one block on a cancel list lasts (capped further by the socket timeout).
CANCELS_BLOCK = 5.0
#: How long a worker waits before blocking on its cancel list again after the server failed.
CANCELS_RETRY = 1.0


async def blpop(client: Redis, keys: Sequence[str], timeout: float) -> bool:
    """Block until one of ``keys`` holds a token (popped) or ``timeout`` passes; whether a token
    was popped. The timeout stays under half the client's socket (read) timeout, which would
    otherwise fire first; a URL that sets none leaves redis-py's default (5 s since redis-py 8)."""
    return await _blpop(client, keys, timeout) is not None


async def relay_cancels(client: Redis, key: str, on_cancel: Callable[[str], None]) -> None:
    """Pass every task id pushed to the cancel list ``key`` to ``on_cancel``, until cancelled.

    A failing server is tried again after :data:`CANCELS_RETRY` seconds: until it answers, the
    worker's heartbeats find the cancelled tasks."""
    while True:
        try:
            popped = await _blpop(client, [key], CANCELS_BLOCK)
        except RedisTimeoutError:
            continue
        except (RedisError, OSError):
            await asyncio.sleep(CANCELS_RETRY)
            continue
        if popped is not None:
            on_cancel(popped[1].decode())


async def _blpop(client: Redis, keys: Sequence[str], timeout: float) -> Any:
    socket_timeout = client.connection_pool.connection_kwargs.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT)
    if socket_timeout:
        timeout = min(timeout, socket_timeout / 2)
    # Fractional timeouts work since Redis 6 (0 would mean "forever"); redis-py's annotation says int.
    untyped: Any = client
    return await untyped.blpop(list(keys), timeout=max(timeout, 0.001))


async def wait_for_result(
    client: Redis,
    keys: Keys,
    task_id: str,
    timeout: float,
    *,
    watch: Callable[[float], Awaitable[ResultRecord | None]],
    get_result: Callable[[str], Awaitable[ResultRecord | None]],
) -> ResultRecord | None:
    """Register as a waiter and read the result in one step (``watch(deadline)``, the
    ``watch_result`` script); while there is none, block on the task's notify list and read again.
    A woken waiter passes the token on, so every waiter of the task wakes."""
    deadline = time.monotonic() + timeout
    record = await watch(time.time() + timeout)
    notify = keys.notify(task_id)
    while record is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            woken = await blpop(client, [notify], min(remaining, RESULT_RECHECK))
        except RedisTimeoutError:  # a slow reply (a busy server): read again; a dead one raises there
            woken = False
        record = await get_result(task_id)
        if woken and record is not None:  # (a stale token without a result is just used up)
            async with client.pipeline(transaction=False) as pipe:
                pipe.lpush(notify, "1")
                pipe.pexpire(notify, NOTIFY_TTL_MS)
                await pipe.execute()
    return record
