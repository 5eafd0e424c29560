"""Creating and migrating the schema: the version table, concurrent starts, newer versions."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from omniq.core.errors import ConfigurationError
from omniq.core.models import TaskStatus
from omniq.core.records import ScheduleRecord, TaskRecord
from omniq.postgres import PostgresBackend
from omniq.postgres._rows import TASK_COLUMNS
from omniq.postgres._schedules import SCHEDULE_COLUMNS
from omniq.postgres._schema import SCHEMA_VERSION

TaskFactory = Callable[..., TaskRecord]

OMNIQ_TABLES = {"dependencies", "events", "results", "schedules", "schema_version", "tasks"}


async def _tables(admin: Any, schema: str) -> set[str]:
    rows = await admin.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
    return {row[0] for row in rows}


async def test_open_creates_the_schema_with_its_version(admin: Any, url: str, schema: str) -> None:
    backend = PostgresBackend(url)
    await backend.open()
    await backend.open()  # idempotent
    await backend.close()
    await backend.close()
    assert await _tables(admin, schema) == OMNIQ_TABLES
    assert await admin.fetch(f'SELECT version FROM "{schema}".schema_version') == [(SCHEMA_VERSION,)]
    async with PostgresBackend(url) as again:  # a second open finds it done
        assert await again.count_tasks() == {}


async def test_an_unopened_backend_says_how_to_open_it(url: str) -> None:
    with pytest.raises(RuntimeError, match="not open"):
        await PostgresBackend(url).get_task("x")


async def test_several_backends_create_one_fresh_schema_at_once(admin: Any, url: str, schema: str) -> None:
    backends = [PostgresBackend(url) for _ in range(8)]
    try:
        await asyncio.gather(*(backend.open() for backend in backends))
    finally:
        for backend in backends:
            await backend.close()
    assert await _tables(admin, schema) == OMNIQ_TABLES
    assert await admin.fetch(f'SELECT version FROM "{schema}".schema_version') == [(SCHEMA_VERSION,)]


def test_several_processes_create_one_fresh_schema_at_once(url: str) -> None:
    script = (
        "import asyncio, sys\n"
        "from omniq.postgres import PostgresBackend\n"
        "async def main():\n"
        "    async with PostgresBackend(sys.argv[1]) as backend:\n"
        "        await backend.count_tasks()\n"
        "asyncio.run(main())\n"
    )
    processes = [subprocess.Popen([sys.executable, "-c", script, url]) for _ in range(4)]
    assert [process.wait(timeout=60) for process in processes] == [0, 0, 0, 0]


async def test_a_version_1_schema_is_migrated_and_keeps_its_tasks(
    admin: Any, url: str, schema: str, make_task: TaskFactory
) -> None:
    record = make_task()
    async with PostgresBackend(url) as backend:
        await backend.enqueue([record])
    # Back to what version 1 created: no schedules, no dependencies.
    await admin.execute(f'DROP TABLE "{schema}".schedules, "{schema}".dependencies')
    await admin.execute(f'ALTER TABLE "{schema}".tasks DROP COLUMN waiting_on, DROP COLUMN has_dependents')
    await admin.execute(f'UPDATE "{schema}".schema_version SET version = 1')
    async with PostgresBackend(url) as backend:
        assert await backend.get_task(record.id) == record
        assert await backend.list_schedules() == []
    assert await _tables(admin, schema) == OMNIQ_TABLES
    assert await admin.fetch(f'SELECT version FROM "{schema}".schema_version') == [(SCHEMA_VERSION,)]
    assert await admin.fetchval(f'SELECT waiting_on FROM "{schema}".tasks') == 0


async def test_a_version_3_schema_is_migrated_with_its_waiting_tasks(
    admin: Any, url: str, schema: str, make_task: TaskFactory
) -> None:
    dependency = make_task(queue="dep")
    dependent = msgspec.structs.replace(make_task(), status=TaskStatus.WAITING, depends_on=(dependency.id,))
    async with PostgresBackend(url) as backend:
        await backend.enqueue([dependency])
        await backend.enqueue([dependent])
    s = f'"{schema}"'
    # Version 3: no marks. The dependency completed and its worker died before resolving it;
    # an earlier release purged a waiting task and left its edge.
    await admin.execute(f"ALTER TABLE {s}.tasks DROP COLUMN has_dependents")
    await admin.execute(f"UPDATE {s}.tasks SET status = 'completed' WHERE id = $1", dependency.id)
    await admin.execute(f"INSERT INTO {s}.dependencies VALUES ('x', 'purged')")
    await admin.execute(f"UPDATE {s}.schema_version SET version = 3")
    async with PostgresBackend(url) as backend:
        assert await admin.fetch(f"SELECT id FROM {s}.tasks WHERE has_dependents") == [(dependency.id,)]
        assert await admin.fetch(f"SELECT * FROM {s}.dependencies") == [(dependency.id, dependent.id)]
        report = await backend.reap(time.time())
        assert [r.id for r in report.dependencies.released] == [dependent.id]
    assert await admin.fetch(f"SELECT version FROM {s}.schema_version") == [(SCHEMA_VERSION,)]


async def test_a_schema_from_a_newer_release_is_refused_naming_both_versions(
    admin: Any, url: str, schema: str
) -> None:
    async with PostgresBackend(url):
        pass
    await admin.execute(f'UPDATE "{schema}".schema_version SET version = $1', SCHEMA_VERSION + 1)
    with pytest.raises(ConfigurationError) as caught:
        await PostgresBackend(url).open()
    message = str(caught.value)
    assert f"version {SCHEMA_VERSION + 1}" in message and f"({SCHEMA_VERSION})" in message
    assert "upgrade omniq-postgres" in message


async def test_queue_times_and_events_are_plain_typed_columns(admin: Any, backend: PostgresBackend) -> None:
    rows = await admin.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1",
        backend.schema,
    )
    types = {(table, column): kind for table, column, kind in rows}
    assert types["tasks", "queue"] == "text"
    assert types["tasks", "priority"] == "integer"
    assert types["tasks", "due_at"] == "double precision"
    assert types["tasks", "expires_at"] == "double precision"
    assert types["events", "details"] == "jsonb"
    assert {column for table, column in types if table == "events"} == {
        "id", "type", "task_id", "at", "queue", "worker_id", "attempt", "error", "details",
    }  # fmt: skip


def test_task_columns_follow_the_record_fields() -> None:
    assert [c.strip() for c in TASK_COLUMNS.split(",")] == list(TaskRecord.__struct_fields__)


def test_schedule_columns_follow_the_record_fields() -> None:
    assert [c.strip() for c in SCHEDULE_COLUMNS.split(",")] == list(ScheduleRecord.__struct_fields__)


async def _storage_parameters(admin: Any, schema: str, table: str) -> dict[str, str]:
    options = await admin.fetchval(
        "SELECT reloptions FROM pg_class WHERE oid = to_regclass($1)", f'"{schema}".{table}'
    )
    return dict(option.split("=", 1) for option in options or [])


async def test_the_tasks_table_is_vacuumed_after_a_fixed_number_of_dead_rows(
    admin: Any, url: str, schema: str
) -> None:
    async with PostgresBackend(url):
        pass
    # Also on a version 2 schema, created before the storage parameters existed.
    await admin.execute(f'ALTER TABLE "{schema}".tasks RESET (fillfactor, autovacuum_vacuum_scale_factor)')
    await admin.execute(f'UPDATE "{schema}".schema_version SET version = 2')
    async with PostgresBackend(url):
        pass
    tasks = await _storage_parameters(admin, schema, "tasks")
    assert tasks["autovacuum_vacuum_scale_factor"] == "0"
    assert int(tasks["autovacuum_vacuum_threshold"]) > 0
    assert int(tasks["fillfactor"]) < 100
    assert (await _storage_parameters(admin, schema, "dependencies"))["autovacuum_vacuum_scale_factor"] == "0"
