"""OmniQ's Redis backend: task queue, results, events and schedules on one Redis server.

``AsyncOmniQ("redis://localhost:6379/0?prefix=myapp")`` finds :class:`RedisBackend` through the
``omniq.backends`` entry point (schemes ``redis``, ``rediss`` and ``unix``). The component classes
(``RedisTaskQueue``, ``AsyncRedisResultStorage``, ...) serve one role each.
"""

from omniq.redis._errors import RedisUnavailableError, WrongKeyTypeError
from omniq.redis.backend import RedisBackend
from omniq.redis.components import (
    AsyncRedisEventStorage,
    AsyncRedisResultStorage,
    AsyncRedisTaskQueue,
    RedisEventStorage,
    RedisResultStorage,
    RedisTaskQueue,
)

__all__ = [
    "AsyncRedisEventStorage",
    "AsyncRedisResultStorage",
    "AsyncRedisTaskQueue",
    "RedisBackend",
    "RedisEventStorage",
    "RedisResultStorage",
    "RedisTaskQueue",
    "RedisUnavailableError",
    "WrongKeyTypeError",
]
