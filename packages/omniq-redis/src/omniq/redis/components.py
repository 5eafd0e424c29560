"""Redis component classes, for the plan's component style.

``AsyncRedisTaskQueue("redis://localhost/0?prefix=shop")`` takes :class:`RedisBackend`'s arguments and
serves its task queue; ``RedisTaskQueue`` is the blocking twin. Each object has its own
connection pool; to share one, hand one ``RedisBackend`` to every role (``OmniQ.from_backend``).
"""

from __future__ import annotations

from omniq.core.components import EventStorageView, ResultStorageView, ScheduledTaskQueueView
from omniq.core.sync_components import EventStorageTwin, ResultStorageTwin, TaskQueueTwin
from omniq.redis.backend import RedisBackend

__all__ = [
    "AsyncRedisEventStorage",
    "AsyncRedisResultStorage",
    "AsyncRedisTaskQueue",
    "RedisEventStorage",
    "RedisResultStorage",
    "RedisTaskQueue",
]


class AsyncRedisTaskQueue(ScheduledTaskQueueView):
    """Task queue (and schedules) in a Redis prefix; arguments as :class:`RedisBackend`'s."""

    backend_type = RedisBackend


class AsyncRedisResultStorage(ResultStorageView):
    """Result store in a Redis prefix; arguments as :class:`RedisBackend`'s."""

    backend_type = RedisBackend


class AsyncRedisEventStorage(EventStorageView):
    """Event store in a Redis prefix; arguments as :class:`RedisBackend`'s."""

    backend_type = RedisBackend


class RedisTaskQueue(TaskQueueTwin):
    """Blocking :class:`AsyncRedisTaskQueue`."""

    async_type = AsyncRedisTaskQueue


class RedisResultStorage(ResultStorageTwin):
    """Blocking :class:`AsyncRedisResultStorage`."""

    async_type = AsyncRedisResultStorage


class RedisEventStorage(EventStorageTwin):
    """Blocking :class:`AsyncRedisEventStorage`."""

    async_type = AsyncRedisEventStorage
