"""Fixtures for the Redis backend's tests: the shared test server, a fresh key prefix per test.

The server comes from ``OMNIQ_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``). If it is
unreachable the tests fail (they never skip). Every key a test wrote is deleted after it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
import redis

from omniq.redis import RedisBackend

DEFAULT_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(scope="session")
def server_url() -> str:
    """The test server's URL, without options."""
    return os.environ.get("OMNIQ_TEST_REDIS_URL", DEFAULT_URL)


@pytest.fixture
def prefix(server_url: str) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted after the test."""
    name = f"omniq-test-{uuid.uuid4().hex[:12]}"
    yield name
    delete_prefix(server_url, name)


def delete_prefix(url: str, name: str) -> None:
    """Delete every key of ``{name}:...`` (SCAN by pattern, then DEL)."""
    client = redis.Redis.from_url(url)
    try:
        pattern = "\\{" + name + "\\}:*"
        batch = list(client.scan_iter(match=pattern, count=1000))
        while batch:
            client.delete(*batch[:1000])
            batch = batch[1000:] or list(client.scan_iter(match=pattern, count=1000))
    finally:
        client.close()


@pytest.fixture
def redis_url(server_url: str, prefix: str) -> str:
    """The test server's URL with the test's prefix."""
    separator = "&" if "?" in server_url else "?"
    return f"{server_url}{separator}prefix={prefix}"


@pytest_asyncio.fixture
async def backend(redis_url: str) -> AsyncIterator[RedisBackend]:
    """An open backend under the test's prefix."""
    async with RedisBackend(redis_url) as opened:
        yield opened
