"""Real workers on PostgreSQL: several processes on one queue, and a worker whose connections die.

Every task appends one line to a log when it runs, so the tests count runs exactly: each task must
run once (none lost, none twice).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.testing import tasks
from omniq.core.testing._support import read_runs
from omniq.core.testing.processes import worker_processes

HANG_GUARD = 600.0


async def _completed(admin: Any, schema: str) -> int:
    count: int = await admin.fetchval(f"SELECT count(*) FROM \"{schema}\".tasks WHERE status = 'completed'")
    return count


async def _wait_until_completed(admin: Any, schema: str, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + HANG_GUARD
    while await _completed(admin, schema) < count:
        assert asyncio.get_running_loop().time() < deadline, "the tasks did not complete"
        await asyncio.sleep(0.5)


def _assert_each_ran_once(log: Path, count: int) -> None:
    runs = Counter(read_runs(log))
    assert sorted(runs, key=int) == [str(n) for n in range(count)], "a task never ran"
    assert [key for key, times in runs.items() if times > 1] == [], "a task ran twice"


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_four_worker_processes_drain_twenty_thousand_tasks(
    url: str, schema: str, admin: Any, tmp_path: Path
) -> None:
    log, count = tmp_path / "runs.log", 20_000
    async with AsyncOmniQ(url, event_store=False) as app:
        await app.enqueue_many(tasks.record_run, [{"path": str(log), "key": str(n)} for n in range(count)])
    with worker_processes(url, 4, max_workers=50):
        await _wait_until_completed(admin, schema, count)
    _assert_each_ran_once(log, count)
    statuses = await admin.fetch(f'SELECT status, count(*) FROM "{schema}".tasks GROUP BY status')
    assert [tuple(row) for row in statuses] == [("completed", count)]


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_a_worker_whose_connections_are_killed_loses_no_task(
    url: str, schema: str, admin: Any, tmp_path: Path
) -> None:
    log, count = tmp_path / "runs.log", 3_000
    name = f"omniq-{schema}"
    async with AsyncOmniQ(f"{url}&application_name={name}", poll_interval=0.05) as app:
        await app.enqueue_many(tasks.record_run, [{"path": str(log), "key": str(n)} for n in range(count)])
        await app.start_worker("async", max_workers=20)
        kills = 0
        while kills < 6 and await _completed(admin, schema) < count:
            await asyncio.sleep(0.2)
            # Every connection of the worker at once: the pool's and the LISTEN connection.
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                name,
            )
            kills += killed > 0
        await _wait_until_completed(admin, schema, count)
        await app.stop_worker()
    assert kills >= 3, "the worker finished before its connections were killed a few times"
    _assert_each_ran_once(log, count)
    results = await admin.fetchval(f'SELECT count(*) FROM "{schema}".results')
    assert results == count  # the result of every completed task was written
