"""``{type: postgres, config: {host, port, username, password, database}}``: the plan's shape,
from a dict and from YAML, with credentials that hold every URI delimiter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg
import pytest
import pytest_asyncio
import yaml

from omniq.core import AsyncOmniQ, ConfigurationError
from omniq.core.testing import tasks
from omniq.core.testing._support import server_section
from omniq.postgres import PostgresBackend

#: A password a URI cannot hold unescaped: every delimiter, a percent sign, an escape look-alike.
PASSWORD = "p@ss:w/o?r#d%41 x&y=z"


@pytest_asyncio.fixture
async def role(server_url: str) -> AsyncIterator[str]:
    """A login role whose name holds URI delimiters too, dropped after the test."""
    name = f"omniq user@{uuid.uuid4().hex[:8]}:/?#%"
    conn = await asyncpg.connect(server_url)
    database = await conn.fetchval("SELECT current_database()")
    quoted = name.replace('"', '""')
    try:
        await conn.execute(f"CREATE ROLE \"{quoted}\" LOGIN PASSWORD '{PASSWORD}'")
        await conn.execute(f'GRANT CREATE ON DATABASE "{database}" TO "{quoted}"')
        yield name
    finally:
        await conn.execute(f'DROP OWNED BY "{quoted}" CASCADE')
        await conn.execute(f'DROP ROLE IF EXISTS "{quoted}"')
        await conn.close()


def _section(server_url: str, username: str, schema: str) -> dict[str, Any]:
    return server_section(
        "postgres", server_url, database_key="database", username=username, password=PASSWORD, schema=schema
    )


async def _connects_as(app: AsyncOmniQ, username: str) -> None:
    async with app:
        backend = app.task_queue
        assert isinstance(backend, PostgresBackend)
        dsn = urlsplit(backend.target.dsn)
        assert (unquote(dsn.username or ""), unquote(dsn.password or "")) == (username, PASSWORD)
        assert PASSWORD not in repr(backend) and PASSWORD not in backend.target.shown
        task_id = await app.enqueue(tasks.add, {"a": 1, "b": 2})
        assert (await backend.get_task(task_id)) is not None
        async with backend._db.pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_user") == username


async def test_a_section_of_server_parts_connects_with_escaped_credentials(
    server_url: str, role: str, schema: str
) -> None:
    await _connects_as(AsyncOmniQ.from_dict({"task_queue": _section(server_url, role, schema)}), role)


async def test_the_same_section_works_from_yaml(
    server_url: str, role: str, schema: str, tmp_path: Path
) -> None:
    path = tmp_path / "omniq.yaml"
    path.write_text(yaml.safe_dump({"task_queue": _section(server_url, role, schema)}), encoding="utf-8")
    await _connects_as(AsyncOmniQ.from_config_file(path), role)


def test_url_and_server_parts_together_are_refused_naming_both() -> None:
    section = {"type": "postgres", "config": {"url": "postgresql://db/app", "host": "db", "password": "x"}}
    with pytest.raises(
        ConfigurationError, match=r"task_queue\.config: give url or host, .*got url and host, password"
    ):
        AsyncOmniQ.from_dict({"task_queue": section})


def test_an_unknown_key_is_named_with_the_known_ones() -> None:
    with pytest.raises(
        ConfigurationError, match=r"unknown key 'user' in task_queue\.config; expected one of: url, host"
    ):
        AsyncOmniQ.from_dict({"task_queue": {"type": "postgres", "config": {"user": "app"}}})


def test_an_unknown_type_is_named() -> None:
    with pytest.raises(
        ConfigurationError, match=r"task_queue\.type='postgress' is invalid: .*installed schemes"
    ):
        AsyncOmniQ.from_dict({"task_queue": {"type": "postgress", "config": {"host": "db"}}})
