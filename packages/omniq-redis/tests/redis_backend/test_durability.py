"""Server restarts with AOF and dropped connections: no task is lost; many processes run each once."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from omniq.core.app import AsyncOmniQ
from omniq.core.models import TaskStatus
from omniq.core.testing import tasks
from omniq.core.testing._support import eventually, read_runs
from omniq.core.testing.processes import worker_processes

StartServer = Callable[..., Any]


async def _completed(app: AsyncOmniQ) -> int:
    counts = await app.counts()
    return counts.get("default", {}).get(TaskStatus.COMPLETED.value, 0)


async def _safely_completed(app: AsyncOmniQ) -> int:
    try:
        return await _completed(app)
    except ConnectionError:
        return 0  # the server is restarting


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("fsync", "stop"), [("everysec", signal.SIGTERM), ("always", signal.SIGKILL)], ids=["shutdown", "crash"]
)
async def test_a_restart_with_aof_loses_no_task(
    own_server: StartServer, tmp_path: Path, fsync: str, stop: signal.Signals
) -> None:
    server = own_server("--appendonly", "yes", "--appendfsync", fsync)
    url = f"{server.url}?prefix=restart"
    log, count = tmp_path / "runs.log", 1500
    async with AsyncOmniQ(url, lease_ttl=2.0) as app:
        await app.enqueue_many(tasks.record_run, [{"path": str(log), "key": str(n)} for n in range(count)])
        with worker_processes(url, 1, lease_ttl=2.0, max_workers=8):
            await eventually(lambda: _has_runs(log, 100), within=120)
            server.stop(stop)
            server.start()
            await eventually(lambda: _all_completed(app, count), within=240)
    assert sorted(set(read_runs(log)), key=int) == [str(n) for n in range(count)]


async def _has_runs(log: Path, count: int) -> bool:
    return len(read_runs(log)) >= count


async def _all_completed(app: AsyncOmniQ, count: int) -> bool:
    return await _safely_completed(app) >= count


@pytest.mark.slow
async def test_a_worker_survives_its_connections_being_killed(own_server: StartServer) -> None:
    server = own_server()
    count = 400
    async with AsyncOmniQ(f"{server.url}?prefix=kill", lease_ttl=1.0, poll_interval=0.02) as app:
        ids = await app.enqueue_many(tasks.async_add, [{"a": n, "b": 1} for n in range(count)])
        await app.start_worker(max_workers=4)
        admin = redis.Redis(port=server.port)
        try:
            for _ in range(5):
                await asyncio.sleep(0.05)
                admin.client_kill_filter(_type="normal", skipme=True)
        finally:
            admin.close()
        await eventually(lambda: _all_completed(app, count), within=120)
        result = await app.get_result(ids[-1], timeout=60)
    assert result is not None and result.value == count


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_four_worker_processes_drain_20000_tasks_each_run_once(redis_url: str, tmp_path: Path) -> None:
    log, count = tmp_path / "runs.log", 20_000
    async with AsyncOmniQ(redis_url) as app:
        await app.enqueue_many(tasks.record_run, [{"path": str(log), "key": str(n)} for n in range(count)])
        with worker_processes(redis_url, 4, max_workers=16):
            await eventually(lambda: _all_completed(app, count), within=540)
    runs = read_runs(log)
    assert sorted(runs, key=int) == [str(n) for n in range(count)], "a task ran twice or never"
