"""The shared conformance suite (``omniq.core.testing``) on the test Redis, a fresh prefix per test."""

from typing import Any

import pytest
import redis.asyncio as aioredis

from omniq.core.testing import BackendConformance
from omniq.core.testing.corruption import Corrupt
from omniq.redis._keys import Keys

#: The ``corrupt`` field that stands for the task's whole key: its hash replaced by a string.
WHOLE_KEY = "(key)"


class TestRedisConformance(BackendConformance):
    @pytest.fixture
    def backend_url(self, redis_url: str) -> str:
        return redis_url

    @pytest.fixture
    def corruptions(self) -> list[tuple[str, Any]]:
        # A hash field holds any text: text where numbers belong; or the key holds another type.
        return [
            ("priority", "high"),
            ("due_at", "soon"),
            ("attempts", "many"),
            ("created_at", "yesterday"),
            ("max_attempts", "1.5"),
            (WHOLE_KEY, "not a hash"),
        ]

    @pytest.fixture
    def corrupt(self, server_url: str, prefix: str) -> Corrupt:
        keys = Keys(prefix)

        async def write(task_id: str, field: str, value: Any) -> None:
            client = aioredis.Redis.from_url(server_url)
            try:
                if field == WHOLE_KEY:
                    await client.delete(keys.task(task_id))
                    await client.set(keys.task(task_id), value)
                else:
                    await client.hset(keys.task(task_id), field, value)
            finally:
                await client.aclose()

        return write
