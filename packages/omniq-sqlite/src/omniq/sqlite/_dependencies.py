# ruff: noqa: S608 - the f-strings below interpolate only column lists.
"""Task dependencies: one row per dependency not yet resolved, and a countdown on the waiting task.

``omniq_dependencies`` holds an edge ``(dependency_id, task_id)`` while ``task_id`` waits for
``dependency_id``; ``omniq_tasks.waiting_on`` counts a waiting task's edges. Resolving a finished
dependency deletes its edges and counts its dependents down, so a fan-in of N tasks costs N small
updates, never a re-check of all N dependencies, and resolving twice finds nothing left to do.

``omniq_tasks.has_dependents`` marks a task that has edges, from the enqueue of its first dependent
until it is resolved: a finish reads it from the row it settles and the reaper finds finished tasks
left unresolved through a partial index of exactly those, so neither reads edges. Every edge lookup
here is by primary key. Every function here runs inside the caller's write transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite
import msgspec

from omniq.core.corrupt import readable_tasks
from omniq.core.dependency_rules import cascade, sql_status_list, start_status
from omniq.core.errors import ValidationError
from omniq.core.records import FINAL_STATUSES, DependencyReport, TaskRecord
from omniq.sqlite._database import fetch
from omniq.sqlite._rows import TASK_COLUMNS, task_from_row

__all__ = ["ANY_DEPENDENT", "attach", "delete_edges_of_purged", "link", "resolve", "unresolved_finished"]

_json = msgspec.json.Encoder()

_FINAL = sql_status_list(FINAL_STATUSES)

STATUSES = "SELECT id, status FROM omniq_tasks WHERE id IN (SELECT value FROM json_each(?))"

#: Whether anything waits on the ids in ``?``: their marks, one id lookup each.
ANY_DEPENDENT = """
SELECT 1 FROM omniq_tasks WHERE id IN (SELECT value FROM json_each(?)) AND has_dependents = 1 LIMIT 1
"""

INSERT_EDGES = """
INSERT OR IGNORE INTO omniq_dependencies (dependency_id, task_id)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)
"""

SET_WAITING_ON = "UPDATE omniq_tasks SET waiting_on = ? WHERE id = ?"

#: Mark the tasks in ``?`` as waited on, until they are resolved.
MARK_WAITED_ON = """
UPDATE omniq_tasks SET has_dependents = 1
WHERE id IN (SELECT value FROM json_each(?)) AND has_dependents = 0
"""

#: Unmark the finished tasks in ``?`` whose edges this transaction resolves; returns their ids.
#: Only a marked task has edges, so the others need no edge lookup.
UNMARK_RESOLVED = f"""
UPDATE omniq_tasks SET has_dependents = 0
WHERE id IN (SELECT value FROM json_each(?)) AND has_dependents = 1 AND status IN {_FINAL}
RETURNING id
"""

#: The unresolved edges of the finished tasks among the ids in ``?``.
FINISHED_EDGES = f"""
SELECT d.dependency_id, d.task_id, t.status
FROM omniq_dependencies AS d JOIN omniq_tasks AS t ON t.id = d.dependency_id
WHERE d.dependency_id IN (SELECT value FROM json_each(?)) AND t.status IN {_FINAL}
"""

DELETE_EDGES = "DELETE FROM omniq_dependencies WHERE dependency_id IN (SELECT value FROM json_each(?))"

COUNT_DOWN = "UPDATE omniq_tasks SET waiting_on = waiting_on - ? WHERE id = ? AND status = 'waiting'"

RELEASE = f"""
UPDATE omniq_tasks SET status = 'pending', updated_at = ?
WHERE id IN (SELECT value FROM json_each(?)) AND status = 'waiting' AND waiting_on <= 0
RETURNING {TASK_COLUMNS}
"""

CANCEL_WAITING = f"""
UPDATE omniq_tasks SET status = 'cancelled', error = ?, updated_at = ?
WHERE id = ? AND status = 'waiting'
RETURNING {TASK_COLUMNS}
"""

#: Finished tasks still marked as waited on: the partial index holds only those.
UNRESOLVED_FINISHED = f"""
SELECT id FROM omniq_tasks INDEXED BY omniq_tasks_unresolved
WHERE has_dependents = 1 AND status IN {_FINAL}
"""

#: The edges of the tasks a purge is about to delete, found by primary key from each task's
#: ``depends_on``: a task cancelled or expired while it waited keeps them until its dependencies
#: end, which may be never. Followed by the purge's conditions on ``t``, then ``)``.
DELETE_EDGES_OF_PURGED = """
DELETE FROM omniq_dependencies WHERE (dependency_id, task_id) IN (
    SELECT edge.value, t.id FROM omniq_tasks AS t, json_each(t.depends_on) AS edge
    WHERE t.depends_on != '[]' AND t.has_dependents = 0"""


def _text(value: object) -> str:
    return _json.encode(value).decode()


async def attach(
    conn: aiosqlite.Connection, records: Sequence[TaskRecord]
) -> tuple[list[TaskRecord], list[list[str]]]:
    """How each record starts, from its dependencies' statuses: ``pending`` if all completed,
    ``cancelled`` if one failed, else ``waiting``; and the ``[dependency, task]`` edges to store
    with :func:`link` once the rows are in. Refuses unknown ids."""
    wanted = sorted({task_id for record in records for task_id in record.depends_on})
    statuses: dict[str, str] = dict(await fetch(conn, STATUSES, (_text(wanted),)))
    unknown = [task_id for task_id in wanted if task_id not in statuses]
    if unknown:
        raise ValidationError("depends_on", f"unknown task ids: {', '.join(unknown)}")
    decided = []
    edges = []
    for record in records:
        started = start_status(record, statuses)
        decided.append(started.record)
        edges += [[d, record.id] for d in started.waits_for]
    return decided, edges


async def link(conn: aiosqlite.Connection, edges: Sequence[Sequence[str]]) -> None:
    """Store the edges of the waiting tasks just inserted, and their countdowns."""
    if not edges:
        return
    await conn.execute(INSERT_EDGES, (_text(edges),))
    await conn.execute(MARK_WAITED_ON, (_text(sorted({dependency_id for dependency_id, _ in edges})),))
    counts: dict[str, int] = {}
    for _, task_id in edges:
        counts[task_id] = counts.get(task_id, 0) + 1
    await conn.executemany(SET_WAITING_ON, [(count, task_id) for task_id, count in counts.items()])


async def resolve(conn: aiosqlite.Connection, task_ids: Sequence[str], now: float) -> DependencyReport:
    """Apply the final status of these tasks to the tasks waiting on them, down the graph."""
    report = DependencyReport()
    frontier = list(task_ids)
    while frontier:
        frontier = sorted(row[0] for row in await fetch(conn, UNMARK_RESOLVED, (_text(frontier),)))
        if not frontier:
            break
        edges = await fetch(conn, FINISHED_EDGES, (_text(frontier),))
        if not edges:
            break
        await conn.execute(DELETE_EDGES, (_text(sorted({row[0] for row in edges})),))
        decision = cascade(edges)
        frontier = []
        for task_id, error in decision.cancel.items():
            rows = await fetch(conn, CANCEL_WAITING, (error, now, task_id))
            report.cancelled.extend(readable_tasks(rows, task_from_row, _row_id, "the cancelled dependents"))
            frontier.extend(row[0] for row in rows)
        if decision.count_down:
            counts = list(decision.count_down.items())
            await conn.executemany(COUNT_DOWN, [(count, task_id) for task_id, count in counts])
            rows = await fetch(conn, RELEASE, (now, _text(sorted(decision.count_down))))
            report.released.extend(readable_tasks(rows, task_from_row, _row_id, "the released dependents"))
    return report


async def unresolved_finished(conn: aiosqlite.Connection) -> list[str]:
    """Finished tasks whose dependents were never resolved (their worker died in between)."""
    return [row[0] for row in await fetch(conn, UNRESOLVED_FINISHED)]


async def delete_edges_of_purged(
    conn: aiosqlite.Connection, conditions: str, parameters: Sequence[object]
) -> None:
    """Delete the edges of the tasks that match ``conditions`` (SQL on ``t``, ``AND``-ed), which
    the caller purges next in the same transaction."""
    await conn.execute(f"{DELETE_EDGES_OF_PURGED} AND {conditions})", parameters)


def _row_id(row: Sequence[Any]) -> Any:
    return row[0]
