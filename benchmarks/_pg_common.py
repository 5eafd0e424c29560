"""What the PostgreSQL systems share: the server to use and a throw-away schema per phase.

The server comes from ``OMNIQ_BENCH_POSTGRES_URL`` (default: the local test server). Every phase
of every system works in a schema of its own, dropped when the phase ends, so systems never see
each other's rows and a rerun starts clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator

import asyncpg

__all__ = ["SERVER_URL", "fresh_schema", "with_search_path"]

SERVER_URL = os.environ.get("OMNIQ_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections use ``schema`` for unqualified names (peers create their tables
    there)."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


async def _run(statement: str) -> None:
    conn = await asyncpg.connect(SERVER_URL)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_schema(prefix: str, *, create: bool = True) -> Iterator[str]:
    """A new schema name (created unless ``create`` is false), dropped with its contents on exit."""
    name = f"bench_{prefix}_{uuid.uuid4().hex[:10]}"
    if create:
        asyncio.run(_run(f'CREATE SCHEMA "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(_run(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
