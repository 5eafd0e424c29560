"""What the server keeps per finished task, in bytes (``MEMORY USAGE`` counts bytes, not time, so the
figure is the same on a loaded machine)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import redis.asyncio as aioredis

from omniq.core import AsyncOmniQ

#: Tasks drained: enough that the 4,096 task-index hashes are mostly shared.
TASKS = 4000
#: The issue's bound: a finished task with its result, its events and every index entry.
BYTES_PER_TASK = 1500
NOOP = "omniq.core.testing.tasks:async_noop"


async def test_a_finished_task_takes_at_most_1500_bytes(
    server_url: str, short_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "worker-01")  # worker ids are stored
    url = f"{server_url}?prefix={short_prefix}"
    async with AsyncOmniQ(url) as app:
        await app.enqueue_many(NOOP, [{}] * TASKS)
        await app.start_worker("async", max_workers=100)
        worker = app._worker
        assert worker is not None
        while worker.completed_count < TASKS:
            await asyncio.sleep(0.02)
        await app.stop_worker()
    client: Any = aioredis.Redis.from_url(server_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"\\{{{short_prefix}\\}}:*", count=1000)]
        async with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.memory_usage(key, samples=0)
            sizes = await pipe.execute()
        assert await client.xlen(f"{{{short_prefix}}}:events") == 3 * TASKS
    finally:
        await client.aclose()
    assert sum(1 for key in keys if b"}:f:" in key) == TASKS
    per_task = sum(sizes) / TASKS
    assert per_task <= BYTES_PER_TASK, f"{per_task:.0f} bytes per finished task"
