"""Fixtures of the chaos tests: a fresh store on each backend, and servers of the test's own.

The shared servers come from ``OMNIQ_TEST_POSTGRES_URL`` and ``OMNIQ_TEST_REDIS_URL`` (defaults:
the addresses CI uses). A server that cannot be reached fails the test; nothing here skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
import redis

from ._servers import PostgresCluster, RedisServer

POSTGRES_URL = os.environ.get("OMNIQ_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("OMNIQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

StoreFactory = Callable[[str], str]


def with_option(url: str, option: str) -> str:
    """``url`` with ``option`` (``name=value``) added to its query string."""
    return f"{url}{'&' if '?' in url else '?'}{option}"


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """``store(backend)``: the URL of a new, empty store on ``sqlite``, ``postgres`` or ``redis``
    (a file of the test's own, a fresh schema on the shared server, a fresh key prefix in its
    database); each is deleted after the test."""
    schemas: list[str] = []
    prefixes: list[str] = []

    def make(backend: str) -> str:
        name = f"chaos_{uuid.uuid4().hex[:12]}"
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / name}.db"
        if backend == "postgres":
            schemas.append(name)
            return with_option(POSTGRES_URL, f"schema={name}")
        if backend == "redis":
            prefixes.append(name)
            return with_option(REDIS_URL, f"prefix={name}")
        raise ValueError(f"unknown backend {backend!r}")

    yield make
    if schemas:
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            for schema in schemas:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()
    for prefix in prefixes:
        _delete_prefix(REDIS_URL, prefix)


def _delete_prefix(url: str, name: str) -> None:
    """Delete every key of ``{name}:...`` (SCAN by pattern, then DEL); never a FLUSHALL."""
    client: Any = redis.Redis.from_url(url)
    try:
        pattern = "\\{" + name + "\\}:*"
        batch = list(client.scan_iter(match=pattern, count=1000))
        while batch:
            client.delete(*batch[:1000])
            batch = batch[1000:] or list(client.scan_iter(match=pattern, count=1000))
    finally:
        client.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A running ``redis-server`` of the test's own (append-only file, fsync always); killed after."""
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_postgres() -> Iterator[PostgresCluster]:
    """A running PostgreSQL cluster of the test's own; stopped and deleted after."""
    cluster = PostgresCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
