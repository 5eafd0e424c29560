"""The redis-py client: how it is made, checked at open, and how its errors read to a user.

One ``redis.asyncio.Redis`` (a connection pool) per backend object. Connection errors and
``WRONGTYPE`` replies become OmniQ errors that name the server (password masked) or the prefix.
redis-py reconnects by itself on the next command after a dropped connection or a server restart.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Iterator
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from omniq.core.errors import ConfigurationError
from omniq.redis._errors import RedisUnavailableError, WrongKeyTypeError

__all__ = ["check_server", "make_client", "translated_errors"]

logger = logging.getLogger("omniq.redis")


def make_client(client_url: str, shown: str) -> Redis:
    """A client for ``client_url`` (not yet connected); ``shown`` is the masked URL for errors."""
    try:
        client: Redis = Redis.from_url(client_url)
        return client
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"invalid Redis URI {shown!r}: {exc}") from None


@contextlib.contextmanager
def translated_errors(shown: str, prefix: str) -> Iterator[None]:
    """Re-raise redis-py's connection errors and ``WRONGTYPE`` replies as OmniQ errors."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise RedisUnavailableError(f"cannot reach Redis at {shown}: {exc}") from exc
    except ResponseError as exc:
        if "WRONGTYPE" in str(exc):
            raise WrongKeyTypeError(
                f"a key under prefix {prefix!r} on Redis at {shown} holds another type of value than "
                f"OmniQ stores there (WRONGTYPE): another program writes under this prefix; "
                f"choose another with '?prefix=...' ({exc})"
            ) from exc
        raise


async def check_server(client: Redis, shown: str) -> None:
    """Connect (``PING``) and warn if the server may evict OmniQ's keys when memory runs out.

    Raises:
        RedisUnavailableError: naming ``shown`` when the server cannot be reached or refuses the
            credentials.
    """
    try:
        await cast(Awaitable[Any], client.ping())
    except TypeError as exc:  # redis-py makes its connections (and checks their options) only now
        raise ConfigurationError(f"invalid option in Redis URI {shown!r}: {exc}") from None
    except (RedisConnectionError, RedisTimeoutError, OSError, ResponseError) as exc:
        raise RedisUnavailableError(f"cannot connect to Redis at {shown}: {exc}") from exc
    try:
        config = await cast(Awaitable[dict[Any, Any]], client.config_get("maxmemory-policy"))
    except ResponseError:  # CONFIG is disabled on some managed servers: nothing to check
        logger.debug("Redis at %s does not allow CONFIG GET; eviction policy not checked", shown)
        return
    # redis-py decodes CONFIG GET replies itself in some versions and not in others.
    policy = next(iter(config.values()), "")
    if isinstance(policy, bytes):
        policy = policy.decode()
    if policy and policy != "noeviction":
        logger.warning(
            "Redis at %s has maxmemory-policy %r: it may evict OmniQ's tasks when memory runs out; "
            "set 'maxmemory-policy noeviction' on this server",
            shown,
            policy,
        )
