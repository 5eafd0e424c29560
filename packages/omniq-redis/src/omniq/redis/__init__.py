"""OmniQ's Redis backend: task queue, results and events on one Redis server.

``AsyncOmniQ("redis://localhost:6379/0?prefix=myapp")`` finds :class:`RedisBackend` through the
``omniq.backends`` entry point (schemes ``redis``, ``rediss`` and ``unix``).
"""

from omniq.redis._errors import RedisUnavailableError, WrongKeyTypeError
from omniq.redis.backend import RedisBackend

__all__ = ["RedisBackend", "RedisUnavailableError", "WrongKeyTypeError"]
