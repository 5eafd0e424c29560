"""Statements that change several tasks lock them in id order, so two of them on overlapping tasks
wait for each other instead of deadlocking (a worker's heartbeat and finish overlap: a settled task
keeps its lease until its outcome is written).

Each test holds the lock of the task with the lower id from another connection, runs the statement
on both tasks, and checks that while it waits, the task with the higher id is not locked: it took
the locks in id order, not in the order its plan read the rows (here the higher id is stored first).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import pytest

from omniq.core.models import TaskStatus
from omniq.core.records import Outcome, TaskRecord
from omniq.postgres import PostgresBackend

from .conftest import TaskFactory, with_schema

LOW, HIGH = "task-a-low", "task-b-high"


async def _claimed(backend: PostgresBackend, make_task: TaskFactory) -> list[TaskRecord]:
    now = time.time()
    await backend.enqueue([make_task(id=HIGH, now=now)])  # stored first: read first by a scan
    await backend.enqueue([make_task(id=LOW, now=now)])
    return await backend.claim(
        ["default"], limit=2, worker_id="w", lease_token="t", lease_expires_at=now + 60, now=now
    )


async def _waiting_for_a_lock(admin: Any, schema: str) -> None:
    while not await admin.fetchval(
        "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND pid <> pg_backend_pid() AND strpos(query, $1) > 0",
        f'"{schema}".tasks',
    ):
        await asyncio.sleep(0.02)


async def _locked(admin: Any, schema: str, task_id: str) -> bool:
    try:
        async with admin.transaction():
            await admin.execute(f'SELECT 1 FROM "{schema}".tasks WHERE id = $1 FOR UPDATE NOWAIT', task_id)
    except asyncpg.LockNotAvailableError:
        return True
    return False


Call = Callable[[PostgresBackend, list[TaskRecord]], Coroutine[Any, Any, Any]]


async def _heartbeat(backend: PostgresBackend, running: list[TaskRecord]) -> Any:
    """The ids renewed."""
    now = time.time()
    lost = await backend.heartbeat([(r.id, "t") for r in running], lease_expires_at=now + 60, now=now)
    return [r.id for r in running if r.id not in lost]


async def _finish(backend: PostgresBackend, running: list[TaskRecord]) -> Any:
    now = time.time()
    return (
        await backend.finish(
            [Outcome(task_id=r.id, lease_token="t", status=TaskStatus.COMPLETED, at=now) for r in running]
        )
    ).accepted


@pytest.mark.parametrize("call", [_heartbeat, _finish], ids=["heartbeat", "finish"])
async def test_rows_are_locked_in_id_order(
    server_url: str, schema: str, admin: Any, make_task: TaskFactory, call: Call
) -> None:
    # One connection, so that the statement's generic plan (a bitmap scan, reading rows in
    # storage order) is the one measured after a few runs, as on a busy worker.
    async with PostgresBackend(with_schema(server_url, schema) + "&pool_max_size=1") as backend:
        running = await _claimed(backend, make_task)
        for _ in range(6):
            await _heartbeat(backend, running)
        holder = await asyncpg.connect(server_url)
        try:
            async with holder.transaction():
                await holder.execute(f'SELECT 1 FROM "{schema}".tasks WHERE id = $1 FOR UPDATE', LOW)
                statement = asyncio.create_task(call(backend, running))
                await asyncio.wait_for(_waiting_for_a_lock(admin, schema), 60)
                assert not await _locked(admin, schema, HIGH)
            done = await asyncio.wait_for(statement, 60)
        finally:
            await holder.close()
    assert sorted(done) == [LOW, HIGH]
