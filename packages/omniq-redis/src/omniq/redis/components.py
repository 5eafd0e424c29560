"""Redis component classes, for the plan's component style.

``AsyncRedisTaskQueue("redis://localhost/0?prefix=shop")`` takes :class:`RedisBackend`'s arguments and
serves its task queue; ``RedisTaskQueue`` is the blocking twin. Each object has its own
connection pool; to share one, hand one ``RedisBackend`` to every role (``OmniQ.from_backend``).
"""

from __future__ import annotations

from omniq.core.backend import component_classes
from omniq.redis.backend import RedisBackend

__all__ = [
    "AsyncRedisEventStorage",
    "AsyncRedisResultStorage",
    "AsyncRedisTaskQueue",
    "RedisEventStorage",
    "RedisResultStorage",
    "RedisTaskQueue",
]

(
    AsyncRedisTaskQueue,
    AsyncRedisResultStorage,
    AsyncRedisEventStorage,
    RedisTaskQueue,
    RedisResultStorage,
    RedisEventStorage,
) = component_classes(RedisBackend, "Redis", module=__name__, where="in a Redis prefix")
