"""The component classes and ``{type: postgres, config: ...}`` sections."""

from __future__ import annotations

import pytest

from omniq.core import AsyncOmniQ, ConfigurationError
from omniq.core.testing import tasks
from omniq.core.testing.components import ComponentTests, ComponentTypes
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


class TestPostgresComponents(ComponentTests):
    @pytest.fixture
    def backend_url(self, url: str) -> str:
        return url

    @pytest.fixture
    def component_types(self) -> ComponentTypes:
        return AsyncPostgresTaskQueue, AsyncPostgresResultStorage, PostgresTaskQueue
