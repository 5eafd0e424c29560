"""Dependency edges on SQLite: nothing of them stays behind the tasks they belong to."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from omniq.core.models import TaskStatus
from omniq.core.records import Outcome, TaskRecord
from omniq.sqlite import SQLiteBackend, _schema
from omniq.sqlite import _statements as sql
from omniq.sqlite._rows import task_row

TaskFactory = Callable[..., TaskRecord]  # the make_task fixture


def _waiting_on(make_task: TaskFactory, *ids: str) -> TaskRecord:
    return msgspec.structs.replace(make_task(), status=TaskStatus.WAITING, depends_on=ids)


def _rows(path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(query).fetchall()


def _edges(path: Path) -> list[tuple[object, ...]]:
    return _rows(path, "SELECT dependency_id, task_id FROM omniq_dependencies ORDER BY task_id")


def _marked(path: Path) -> set[object]:
    return {task_id for (task_id,) in _rows(path, "SELECT id FROM omniq_tasks WHERE has_dependents = 1")}


async def _complete(backend: SQLiteBackend, record: TaskRecord, now: float) -> None:
    claimed = await backend.claim(
        [record.queue], limit=1, worker_id="w", lease_token="t", lease_expires_at=now + 30, now=now
    )
    assert [r.id for r in claimed] == [record.id]
    outcome = Outcome(task_id=record.id, lease_token="t", status=TaskStatus.COMPLETED, at=now)
    assert (await backend.finish([outcome])).accepted == [record.id]


async def test_purging_tasks_that_stopped_waiting_deletes_their_edges(
    backend: SQLiteBackend, db_path: Path, make_task: TaskFactory
) -> None:
    # A dependency that stays live (here: parked for a day) keeps the edges of dependents that
    # were cancelled or expired while they waited; their purge must take those edges along.
    now = time.time()
    parked = make_task(queue="parked", due_at=now + 86_400)
    await backend.enqueue([parked])
    cancelled, expired, waiting = (_waiting_on(make_task, parked.id) for _ in range(3))
    expired = msgspec.structs.replace(expired, expires_at=now + 1)
    await backend.enqueue([cancelled, expired, waiting])
    await backend.cancel(cancelled.id, now)
    assert [r.id for r in (await backend.reap(now + 2)).expired] == [expired.id]
    assert await backend.purge_tasks(TaskStatus.CANCELLED) == 1
    assert await backend.purge_tasks(TaskStatus.EXPIRED) == 1
    assert _edges(db_path) == [(parked.id, waiting.id)]
    assert _marked(db_path) == {parked.id}


async def test_a_dependency_is_marked_while_something_waits_on_it(
    backend: SQLiteBackend, db_path: Path, make_task: TaskFactory
) -> None:
    dependency = make_task(queue="dep")
    await backend.enqueue([dependency])
    assert _marked(db_path) == set()
    dependent = _waiting_on(make_task, dependency.id)
    await backend.enqueue([dependent])
    assert _marked(db_path) == {dependency.id}
    now = time.time()
    await _complete(backend, dependency, now)
    report = await backend.resolve_dependencies([dependency.id], now)
    assert [r.id for r in report.released] == [dependent.id]
    assert _marked(db_path) == set()
    assert _edges(db_path) == []


async def test_a_version_3_file_is_migrated_with_its_waiting_tasks(
    db_path: Path, make_task: TaskFactory
) -> None:
    # A version 3 file: a dependency that completed without being resolved (its worker died), its
    # waiting dependent, and the edge of a task an earlier release purged.
    dependency = make_task(status=TaskStatus.COMPLETED)
    dependent = _waiting_on(make_task, dependency.id)
    with sqlite3.connect(db_path) as conn:
        for statement in (*_schema._V1, *_schema._V2, *_schema._V3):
            conn.execute(statement)
        conn.execute("CREATE TABLE omniq_schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO omniq_schema_version (version) VALUES (3)")
        for record in (dependency, dependent):
            conn.execute(sql.insert_tasks(1), task_row(record))
        conn.execute("UPDATE omniq_tasks SET waiting_on = 1 WHERE id = ?", (dependent.id,))
        conn.executemany(
            "INSERT INTO omniq_dependencies VALUES (?, ?)", [(dependency.id, dependent.id), ("x", "purged")]
        )
    async with SQLiteBackend(db_path) as backend:
        assert _marked(db_path) == {dependency.id}
        assert _edges(db_path) == [(dependency.id, dependent.id)]
        report = await backend.reap(time.time())
        assert [r.id for r in report.dependencies.released] == [dependent.id]
    assert _rows(db_path, "SELECT version FROM omniq_schema_version") == [(_schema.SCHEMA_VERSION,)]
