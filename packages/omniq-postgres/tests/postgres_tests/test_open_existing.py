"""``open_existing``: read-only tools never create OmniQ's schema in a database."""

from __future__ import annotations

from typing import Any

import pytest

from omniq.core import AsyncOmniQ, StoreNotFoundError
from omniq.postgres import PostgresBackend


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
