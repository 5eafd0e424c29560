"""Conformance tests of what operators run: purging finished tasks, opening an existing store."""

from __future__ import annotations

import asyncio

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.capabilities import Capability
from omniq.core.errors import ValidationError
from omniq.core.models import TaskStatus
from omniq.core.testing import tasks
from omniq.core.testing._support import TEST_SETTINGS, AppFactory, ConformanceFixtures, requires

__all__ = ["MaintenanceTests"]


async def _statuses(app: AsyncOmniQ) -> dict[str, TaskStatus]:
    return {task.id: task.status for task in await app.list_tasks(limit=1000)}


class MaintenanceTests(ConformanceFixtures):
    """``purge_tasks`` and ``open_existing`` through the application."""

    async def _finished_tasks(self, app: AsyncOmniQ) -> dict[TaskStatus, str]:
        """One task in each of completed, dead, cancelled and pending; the worker stopped."""
        completed = await app.enqueue(tasks.add, {"a": 1, "b": 2})
        dead = await app.enqueue(tasks.fail, {"message": "no"}, max_retries=0)
        cancelled = await app.enqueue(tasks.add, {"a": 2, "b": 2}, run_in=3600)
        pending = await app.enqueue(tasks.add, {"a": 3, "b": 3}, run_in=3600)
        await app.cancel(cancelled)
        await app.start_worker()
        await app.get_result(completed, timeout=60)
        await app.get_result(dead, timeout=60)
        await app.stop_worker()
        ids = {
            TaskStatus.COMPLETED: completed,
            TaskStatus.DEAD: dead,
            TaskStatus.CANCELLED: cancelled,
            TaskStatus.PENDING: pending,
        }
        assert {ids[status]: status for status in ids} == await _statuses(app)
        return ids

    @requires(Capability.ADMIN)
    async def test_purge_tasks_deletes_the_final_statuses_named(self, app: AsyncOmniQ) -> None:
        ids = await self._finished_tasks(app)
        assert await app.purge_tasks([TaskStatus.COMPLETED, "cancelled"]) == 2
        assert await _statuses(app) == {
            ids[TaskStatus.DEAD]: TaskStatus.DEAD,
            ids[TaskStatus.PENDING]: TaskStatus.PENDING,
        }
        assert await app.get_task(ids[TaskStatus.COMPLETED]) is None
        assert await app.purge_tasks("dead") == 1
        assert list(await _statuses(app)) == [ids[TaskStatus.PENDING]]

    @requires(Capability.ADMIN)
    async def test_purge_tasks_keeps_tasks_changed_more_recently_than_older_than(
        self, app: AsyncOmniQ
    ) -> None:
        ids = await self._finished_tasks(app)
        assert await app.purge_tasks(["completed", "dead", "cancelled"], older_than=3600) == 0
        await asyncio.sleep(0.01)  # older_than=0 means: changed before now
        assert await app.purge_tasks(["completed", "dead", "cancelled"], older_than=0) == 3
        assert list(await _statuses(app)) == [ids[TaskStatus.PENDING]]

    @requires(Capability.ADMIN)
    @pytest.mark.parametrize("status", ["pending", "waiting", "running", "failed", "finished", []])
    async def test_purge_tasks_refuses_a_status_that_is_not_final(
        self, app: AsyncOmniQ, status: str | list[str]
    ) -> None:
        await app.enqueue(tasks.add, {"a": 1, "b": 1})
        with pytest.raises(ValidationError, match="status"):
            await app.purge_tasks(status)
        with pytest.raises(ValidationError, match="older_than"):
            await app.purge_tasks("completed", older_than=-1)
        assert len(await app.list_tasks()) == 1

    async def test_open_existing_opens_a_store_that_exists(
        self, make_app: AppFactory, backend_url: str
    ) -> None:
        writer = await make_app()
        task_id = await writer.enqueue(tasks.add, {"a": 1, "b": 1})
        reader = AsyncOmniQ(backend_url, **TEST_SETTINGS)
        try:
            await reader.open_existing()
            task = await reader.get_task(task_id)
            assert task is not None and task.status is TaskStatus.PENDING
            await reader.open_existing()  # idempotent, as open is
        finally:
            await reader.close()
