"""The component classes and ``{type: redis, config: ...}`` sections."""

from __future__ import annotations

import pytest

from omniq.core import AsyncOmniQ, ConfigurationError
from omniq.core.testing import tasks
from omniq.core.testing.components import ComponentTests, ComponentTypes
from omniq.redis import AsyncRedisResultStorage, AsyncRedisTaskQueue, RedisBackend, RedisTaskQueue


async def test_a_config_section_builds_the_backend_under_its_prefix(server_url: str, prefix: str) -> None:
    app = AsyncOmniQ.from_dict(
        {"task_queue": {"type": "redis", "config": {"url": server_url, "prefix": prefix}}}
    )
    async with app:
        assert isinstance(app.task_queue, RedisBackend) and app.task_queue.prefix == prefix
        task_id = await app.enqueue(tasks.add, {"a": 1, "b": 2})
        assert (await app.task_queue.get_task(task_id)) is not None


def test_a_bad_option_names_the_key_and_value(server_url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"task_queue\.config\.events_maxlen='long'"):
        AsyncOmniQ.from_dict(
            {"task_queue": {"type": "redis", "config": {"url": server_url, "events_maxlen": "long"}}}
        )


class TestRedisComponents(ComponentTests):
    @pytest.fixture
    def backend_url(self, redis_url: str) -> str:
        return redis_url

    @pytest.fixture
    def component_types(self) -> ComponentTypes:
        return AsyncRedisTaskQueue, AsyncRedisResultStorage, RedisTaskQueue
