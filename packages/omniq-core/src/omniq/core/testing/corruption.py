"""Conformance tests for records that anything writing to the store may have corrupted.

A backend overrides ``corruptions`` (the fields it can hold a wrong value in, and such a value)
and ``corrupt`` (write that value into a stored task behind the backend's back). A corrupt record
must go to ``dead`` with the reason when a worker claims it, without taking the tasks claimed with
it along, and inspection must show the readable records and name the unreadable one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.capabilities import Capability
from omniq.core.errors import PayloadError
from omniq.core.models import TaskStatus
from omniq.core.testing import tasks
from omniq.core.testing._support import ConformanceFixtures, eventually, requires

__all__ = ["Corrupt", "CorruptRecordTests"]

#: ``corrupt(task_id, field, raw_value)``: write a raw value into a stored task's field.
Corrupt = Callable[[str, str, Any], Awaitable[None]]


class CorruptRecordTests(ConformanceFixtures):
    """Stored tasks that cannot be read."""

    @pytest.fixture
    def corruptions(self) -> list[tuple[str, Any]]:
        """Fields this store can hold a wrong value in, each with such a value. Override."""
        raise NotImplementedError("override the corruptions fixture in the backend's test class")

    @pytest.fixture
    def corrupt(self, backend_url: str) -> Corrupt:
        """A function writing a raw value into a stored task's field. Override."""
        raise NotImplementedError("override the corrupt fixture in the backend's test class")

    @requires(Capability.ADMIN)
    async def test_a_corrupt_task_goes_dead_and_the_tasks_claimed_with_it_run(
        self, app: AsyncOmniQ, corrupt: Corrupt, corruptions: list[tuple[str, Any]]
    ) -> None:
        victims = []
        healthy = []
        for field, value in corruptions:
            healthy += await app.enqueue_many(tasks.add, [{"a": n, "b": 1} for n in range(5)])
            victim = await app.enqueue(tasks.add, {"a": 0, "b": 0})
            await corrupt(victim, field, value)
            victims.append(victim)
            healthy += await app.enqueue_many(tasks.add, [{"a": n, "b": 2} for n in range(5)])
        await app.start_worker(max_workers=100)
        for task_id in healthy:
            result = await app.get_result(task_id, timeout=60)
            assert result is not None and result.attempts == 1, task_id

        async def victims_dead() -> bool:
            counts = await app.counts()
            return counts.get("default", {}).get(TaskStatus.DEAD.value, 0) == len(victims)

        await eventually(victims_dead)
        after = await app.enqueue(tasks.add, {"a": 2, "b": 2})
        result = await app.get_result(after, timeout=60)
        assert result is not None and result.value == 4  # the worker goes on

    @requires(Capability.ADMIN)
    async def test_inspection_shows_the_readable_tasks_and_names_the_corrupt_one(
        self, app: AsyncOmniQ, corrupt: Corrupt, corruptions: list[tuple[str, Any]]
    ) -> None:
        for number, (field, value) in enumerate(corruptions):
            queue = f"q{number}"
            pair = [{"a": 1, "b": 1}, {"a": 2, "b": 2}]
            readable = await app.enqueue_many(tasks.add, pair, queue_name=queue)
            victim = await app.enqueue(tasks.add, {"a": 0, "b": 0}, queue_name=queue)
            await corrupt(victim, field, value)
            listed = await app.list_tasks(queue_name=queue, status=TaskStatus.PENDING)
            assert sorted(task.id for task in listed) == sorted(readable), field
            with pytest.raises(PayloadError, match=victim):
                await app.get_task(victim)
