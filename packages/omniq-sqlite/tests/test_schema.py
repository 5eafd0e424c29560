"""Opening a database: pragmas, schema creation by several connections and processes, versions."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest

from omniq.core.errors import ConfigurationError
from omniq.core.records import TaskRecord
from omniq.sqlite import SQLiteBackend, _schema
from omniq.sqlite._rows import TASK_COLUMNS
from omniq.sqlite._schema import SCHEMA_VERSION

OMNIQ_TABLES = {
    "omniq_dependencies",
    "omniq_events",
    "omniq_results",
    "omniq_schedules",
    "omniq_schema_version",
    "omniq_tasks",
}


def _inspect(path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(query).fetchall()


def _tables(path: Path) -> set[str]:
    rows = _inspect(path, "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'omniq%'")
    return {str(name) for (name,) in rows}


async def test_open_sets_wal_and_the_busy_timeout(db_path: Path) -> None:
    async with SQLiteBackend.from_url(f"sqlite:///{db_path}?busy_timeout=1234") as backend:
        assert await backend._db.execute("PRAGMA journal_mode") == [("wal",)]
        assert await backend._db.execute("PRAGMA busy_timeout") == [(1234,)]
        assert await backend._db.execute("PRAGMA synchronous") == [(1,)]  # NORMAL
        assert await backend._db.execute("PRAGMA foreign_keys") == [(0,)]


async def test_default_busy_timeout_is_thirty_seconds(backend: SQLiteBackend) -> None:
    assert await backend._db.execute("PRAGMA busy_timeout") == [(30_000,)]


async def test_open_and_close_are_idempotent(db_path: Path) -> None:
    backend = SQLiteBackend(db_path)
    await backend.open()
    await backend.open()
    await backend.close()
    await backend.close()
    async with SQLiteBackend(db_path) as again:
        assert await again.count_tasks() == {}
    assert _tables(db_path) == OMNIQ_TABLES
    assert _inspect(db_path, "SELECT version FROM omniq_schema_version") == [(SCHEMA_VERSION,)]


async def test_an_unopened_backend_says_how_to_open_it(db_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not open"):
        await SQLiteBackend(db_path).get_task("x")


async def test_several_connections_create_the_schema_at_once(db_path: Path) -> None:
    backends = [SQLiteBackend(db_path) for _ in range(6)]
    await asyncio.gather(*(backend.open() for backend in backends))
    try:
        assert _inspect(db_path, "SELECT version FROM omniq_schema_version") == [(SCHEMA_VERSION,)]
    finally:
        for backend in backends:
            await backend.close()


async def test_several_processes_create_the_schema_at_once(db_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from omniq.sqlite import SQLiteBackend\n"
        "async def main():\n"
        "    async with SQLiteBackend(sys.argv[1]) as backend:\n"
        "        await backend.count_tasks()\n"
        "asyncio.run(main())\n"
    )
    processes = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(db_path)) for _ in range(4)
    ]
    assert [await process.wait() for process in processes] == [0, 0, 0, 0]
    assert _tables(db_path) == OMNIQ_TABLES
    assert _inspect(db_path, "SELECT version FROM omniq_schema_version") == [(SCHEMA_VERSION,)]


async def test_a_file_from_a_newer_release_is_refused(db_path: Path) -> None:
    async with SQLiteBackend(db_path):
        pass
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE omniq_schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(ConfigurationError, match="upgrade omniq-sqlite"):
        await SQLiteBackend(db_path).open()


def test_task_columns_follow_the_record_fields() -> None:
    assert [c.strip() for c in TASK_COLUMNS.split(",")] == list(TaskRecord.__struct_fields__)


async def test_a_version_1_file_is_migrated_and_keeps_its_tasks(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        for statement in _schema._V1:
            conn.execute(statement)
        conn.execute("CREATE TABLE omniq_schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO omniq_schema_version (version) VALUES (1)")
    async with SQLiteBackend(db_path) as backend:
        assert await backend.list_schedules() == []
    assert _inspect(db_path, "SELECT version FROM omniq_schema_version") == [(SCHEMA_VERSION,)]
    assert _tables(db_path) == OMNIQ_TABLES
