"""The component classes and ``{type: redis, config: ...}`` sections."""

from __future__ import annotations

import pytest

from omniq.core import AsyncOmniQ, ConfigurationError, OmniQ
from omniq.core.testing import tasks
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


async def test_component_classes_serve_one_role_each(redis_url: str) -> None:
    queue, results = AsyncRedisTaskQueue(redis_url), AsyncRedisResultStorage(redis_url)
    async with queue, results, AsyncOmniQ(task_queue=queue, result_store=results, event_store=False) as app:
        task_id = await app.enqueue(tasks.add, {"a": 2, "b": 3})
        await app.start_worker()
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.value == 5
        await app.stop_worker()


def test_the_blocking_twin_works_without_a_loop(redis_url: str) -> None:
    with (
        RedisTaskQueue(redis_url) as queue,
        OmniQ(task_queue=queue, result_store="memory://twin", event_store=False) as oq,
    ):
        task_id = oq.enqueue(tasks.add, {"a": 1, "b": 1})
        assert queue.get_task(task_id) is not None
