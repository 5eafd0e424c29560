"""The component classes and ``{type: postgres, config: ...}`` sections."""

from __future__ import annotations

import pytest

from omniq.core import AsyncOmniQ, ConfigurationError, OmniQ
from omniq.core.testing import tasks
from omniq.postgres import (
    AsyncPostgresResultStorage,
    AsyncPostgresTaskQueue,
    PostgresBackend,
    PostgresTaskQueue,
)


async def test_a_config_section_builds_the_backend_in_its_schema(server_url: str, schema: str) -> None:
    app = AsyncOmniQ.from_dict(
        {"task_queue": {"type": "postgres", "config": {"url": server_url, "schema": schema}}}
    )
    async with app:
        assert isinstance(app.task_queue, PostgresBackend) and app.task_queue.schema == schema
        task_id = await app.enqueue(tasks.add, {"a": 1, "b": 2})
        assert (await app.task_queue.get_task(task_id)) is not None


def test_a_bad_option_names_the_key_and_value(server_url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"task_queue\.config\.pool_max_size='many'"):
        AsyncOmniQ.from_dict(
            {"task_queue": {"type": "postgres", "config": {"url": server_url, "pool_max_size": "many"}}}
        )


async def test_component_classes_serve_one_role_each(url: str) -> None:
    queue, results = AsyncPostgresTaskQueue(url), AsyncPostgresResultStorage(url)
    async with queue, results, AsyncOmniQ(task_queue=queue, result_store=results, event_store=False) as app:
        task_id = await app.enqueue(tasks.add, {"a": 2, "b": 3})
        await app.start_worker()
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.value == 5
        await app.stop_worker()


def test_the_blocking_twin_works_without_a_loop(url: str) -> None:
    with (
        PostgresTaskQueue(url) as queue,
        OmniQ(task_queue=queue, result_store="memory://twin", event_store=False) as oq,
    ):
        task_id = oq.enqueue(tasks.add, {"a": 1, "b": 1})
        assert queue.get_task(task_id) is not None
