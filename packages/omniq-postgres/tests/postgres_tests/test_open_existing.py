"""``open_existing``: read-only tools never create OmniQ's schema in a database."""

from __future__ import annotations

from typing import Any

import pytest

from omniq.core import AsyncOmniQ, StoreNotFoundError
from omniq.core.errors import ConfigurationError
from omniq.postgres import PostgresBackend
from omniq.postgres._schema import SCHEMA_VERSION


async def _schema_exists(admin: Any, schema: str) -> bool:
    found: bool = await admin.fetchval("SELECT to_regnamespace($1) IS NOT NULL", f'"{schema}"')
    return found


async def test_a_database_without_the_schema_is_refused_and_left_alone(
    url: str, schema: str, admin: Any
) -> None:
    with pytest.raises(StoreNotFoundError, match=f"there is no OmniQ schema '{schema}' in database"):
        await PostgresBackend(url).open_existing()
    assert not await _schema_exists(admin, schema)


async def test_a_schema_holding_other_tables_is_refused(url: str, schema: str, admin: Any) -> None:
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    await admin.execute(f'CREATE TABLE "{schema}".notes (body text)')
    with pytest.raises(StoreNotFoundError, match=schema):
        await PostgresBackend(url).open_existing()
    tables = await admin.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
    assert [row["tablename"] for row in tables] == ["notes"]


async def test_an_existing_schema_opens(url: str) -> None:
    async with AsyncOmniQ(url) as writer:
        task_id = await writer.enqueue("jobs:double", {"x": 1})
    reader = AsyncOmniQ(url)
    try:
        await reader.open_existing()
        assert await reader.get_task(task_id) is not None
    finally:
        await reader.close()


async def _stored(admin: Any, schema: str) -> tuple[int, list[str]]:
    version: int = await admin.fetchval(f'SELECT version FROM "{schema}".schema_version')
    rows = await admin.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY 1", schema)
    return version, [row["indexname"] for row in rows]


@pytest.mark.parametrize(
    ("offset", "words"), [(-1, "older than .*start a worker .*omniq worker"), (1, "newer than .* upgrade")]
)
async def test_a_schema_of_another_version_is_refused_and_not_migrated(
    url: str, schema: str, admin: Any, offset: int, words: str
) -> None:
    async with PostgresBackend(url):
        pass
    version = SCHEMA_VERSION + offset
    await admin.execute(f'UPDATE "{schema}".schema_version SET version = $1', version)
    before = await _stored(admin, schema)
    with pytest.raises(ConfigurationError, match=f"schema version {version}, {words}"):
        await PostgresBackend(url).open_existing()
    assert await _stored(admin, schema) == before == (version, before[1])  # no DDL ran


async def test_a_schema_a_writer_migrated_opens_for_reading(url: str, schema: str, admin: Any) -> None:
    async with PostgresBackend(url):
        pass
    await admin.execute(f'UPDATE "{schema}".schema_version SET version = $1', SCHEMA_VERSION - 1)
    async with PostgresBackend(url):  # a worker or an enqueue of this release migrates it
        pass
    reader = PostgresBackend(url)
    await reader.open_existing()
    await reader.close()
    assert (await _stored(admin, schema))[0] == SCHEMA_VERSION
