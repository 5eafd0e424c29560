"""Fixtures for the PostgreSQL backend's tests: a schema of its own per test, dropped after it.

The server comes from ``OMNIQ_TEST_POSTGRES_URL`` (CI sets it). Without it, a Docker engine that
answers starts one through testcontainers; otherwise the local default below is used. A server
that cannot be reached fails the tests: it never skips them.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from omniq.core.models import TaskStatus
from omniq.core.records import TaskRecord
from omniq.postgres import PostgresBackend

TaskFactory = Callable[..., TaskRecord]

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"

_clock = itertools.count()


def _docker_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """The PostgreSQL server of this test run, as a URL without query string."""
    configured = os.environ.get("OMNIQ_TEST_POSTGRES_URL")
    if configured or not _docker_answers():
        yield configured or DEFAULT_URL
        return
    from testcontainers.postgres import PostgresContainer  # type: ignore[import-not-found]  # noqa: PLC0415

    with PostgresContainer("postgres:15") as container:
        yield str(container.get_connection_url(driver=None))


def with_schema(url: str, schema: str) -> str:
    """``url`` with ``schema=`` added to its query string."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


@pytest_asyncio.fixture
async def admin(server_url: str) -> AsyncIterator[Any]:
    """A plain asyncpg connection for looking at the database behind the backend's back."""
    conn = await asyncpg.connect(server_url)
    yield conn
    await conn.close()


@pytest_asyncio.fixture
async def schema(server_url: str) -> AsyncIterator[str]:
    """A fresh schema name, dropped (with everything in it) after the test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
def url(server_url: str, schema: str) -> str:
    """The URL of the test's schema."""
    return with_schema(server_url, schema)


@pytest_asyncio.fixture
async def backend(url: str) -> AsyncIterator[PostgresBackend]:
    """An open backend on the test's schema."""
    async with PostgresBackend(url) as opened:
        yield opened


@pytest.fixture
def make_task() -> TaskFactory:
    """Build task records: pending, due now, in queue ``default`` unless told otherwise."""

    def factory(**fields: Any) -> TaskRecord:
        now = fields.pop("now", time.time())
        values: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "queue": "default",
            "func": "tests:noop",
            "priority": 0,
            "status": TaskStatus.PENDING,
            "due_at": now,
            "created_at": now,
            "updated_at": now,
            "data": f"payload-{next(_clock)}".encode(),
        }
        values.update(fields)
        return TaskRecord(**values)

    return factory
