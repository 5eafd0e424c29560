"""Enqueueing records with dedup keys or dependencies: one transaction that decides their fate.

Plain records are one ``INSERT`` on the pool (see ``PostgresBackend.enqueue``); records that name
dedup keys or dependencies need reads before the insert, so they take this path. The transaction
locks the dependencies (``_dependencies``), decides how each record starts, inserts the records
whose dedup key is free, stores the edges of the waiting ones and wakes the workers of the
claimable ones, all committed together.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from omniq.core.records import EventRecord, TaskRecord, events_about
from omniq.postgres import _dependencies as dependencies
from omniq.postgres._database import Database
from omniq.postgres._dependencies import DependencyStatements
from omniq.postgres._listener import claimable_payload
from omniq.postgres._rows import events_json, tasks_json
from omniq.postgres._statements import Statements

__all__ = ["enqueue_in_transaction"]

#: How many rounds the insert retries records whose dedup key's holder finished meanwhile.
_DEDUP_ROUNDS = 5

#: Longest pause between two attempts to lock dependencies that another transaction is changing,
#: and how long to keep trying (a finish holds its rows for one short transaction).
_MAX_LOCK_PAUSE = 0.05
_LOCK_PATIENCE = 30.0


async def enqueue_in_transaction(
    db: Database,
    sql: Statements,
    deps: DependencyStatements,
    records: Sequence[TaskRecord],
    events: Sequence[EventRecord],
) -> list[str]:
    """Store ``records`` atomically, with the ``events`` of those stored; returns, per record, the
    id of the task holding its place. Records whose id is stored already (the call sent again)
    are left out.

    Raises:
        omniq.core.errors.ValidationError: a record depends on an id that is not a stored task.
    """
    pause, deadline = 0.001, time.monotonic() + _LOCK_PATIENCE
    while True:
        try:
            async with db.transaction() as conn:
                return await _enqueue(conn, sql, deps, records, events)
        except asyncpg.LockNotAvailableError:
            if time.monotonic() >= deadline:
                raise
            # Jittered, so that two enqueues that both mark one dependency do not retry in step.
            await asyncio.sleep(pause * random.uniform(0.5, 1.5))  # noqa: S311 - not cryptography
            pause = min(pause * 2, _MAX_LOCK_PAUSE)


async def _enqueue(
    conn: Any,
    sql: Statements,
    deps: DependencyStatements,
    records: Sequence[TaskRecord],
    events: Sequence[EventRecord],
) -> list[str]:
    already = {row[0] for row in await conn.fetch(sql.stored_ids, [record.id for record in records])}
    fresh = [record for record in records if record.id not in already]
    if not fresh:
        return [record.id for record in records]
    decided, waits, unmarked = await dependencies.decide(conn, deps, fresh)
    if any(record.dedup_key is not None for record in decided):
        holder_of, inserted = await _insert_deduplicated(conn, sql, decided)
    else:
        await conn.execute(sql.insert_tasks, tasks_json(decided))
        holder_of, inserted = {r.id: r.id for r in decided}, decided
    stored = {record.id for record in inserted}
    kept = {task_id: ids for task_id, ids in waits.items() if task_id in stored}
    await dependencies.link(conn, deps, kept, unmarked)
    written = events_about(events, stored)
    if written:
        await conn.execute(sql.insert_events, events_json(written).decode())
    payload = claimable_payload(inserted)
    if payload is not None:
        await conn.execute(sql.notify, sql.tasks_channel, payload)
    return [holder_of.get(record.id, record.id) for record in records]


async def _insert_deduplicated(
    conn: Any, sql: Statements, records: Sequence[TaskRecord]
) -> tuple[dict[str, str], list[TaskRecord]]:
    """Insert the records whose dedup key no live task holds (an earlier record of the batch
    counts); returns the holder of each record's place and the records inserted."""
    holder_of: dict[str, str] = {}
    inserted: list[TaskRecord] = []
    remaining = list(records)
    for _ in range(_DEDUP_ROUNDS):
        ids = {row[0] for row in await conn.fetch(sql.insert_tasks_deduplicated, tasks_json(remaining))}
        keys = [r.dedup_key for r in remaining if r.id not in ids]
        holders: dict[str, str] = dict(await conn.fetch(sql.dedup_holders, keys)) if keys else {}
        retry = []
        for record in remaining:
            if record.id in ids:
                holder_of[record.id] = record.id
                inserted.append(record)
            elif record.dedup_key in holders:
                holder_of[record.id] = holders[record.dedup_key]
            else:
                retry.append(record)  # the holder finished between the two statements
        if not retry:
            return holder_of, inserted
        remaining = retry
    raise RuntimeError(f"dedup keys kept changing holders while enqueueing {len(records)} tasks")
