# ruff: noqa: S608 - the f-strings below interpolate only a validated schema name and column lists.
"""Task dependencies: one edge row per dependency not yet resolved, and a countdown on the waiter.

``dependencies`` holds ``(dependency_id, task_id)`` while ``task_id`` waits for ``dependency_id``;
``tasks.waiting_on`` counts a waiting task's edges. Resolving finished dependencies deletes their
edges and counts their dependents down, so a fan-in of N costs N small updates and resolving twice
finds nothing left to do. The edges are taken with ``DELETE ... RETURNING``: of two resolvers (a
worker and a reaper) racing for one edge, exactly one gets it, so each change is reported once.

``tasks.has_dependents`` marks a task that has edges, from the enqueue of its first dependent until
it is resolved, so that the reaper finds the finished tasks left unresolved through a partial index
of exactly those (``tasks_unresolved``) instead of joining every edge with its dependency's row.

**No dependent is stranded.** The enqueue transaction reads its dependencies' statuses with
``FOR SHARE`` before inserting its edges. A finish, cancel or expiry of one of them updates the row,
so either it committed first (the enqueue, reading the latest version, sees the final status and
decides the task itself) or it waits until the enqueue commits (and the resolve that follows it, a
new statement, sees the edges). The lock is taken ``NOWAIT`` and the transaction retried: a finish
batch locks its rows in no fixed order, so an enqueue that waited while holding some of its locks
could deadlock with it. The first dependent of a task also marks it: the lock is then raised to
``FOR NO KEY UPDATE``, also ``NOWAIT`` (two enqueues holding the share lock and waiting to raise it
would deadlock).

Every function here runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec

from omniq.core.corrupt import readable_tasks
from omniq.core.dependency_rules import cascade, sql_status_list, start_status
from omniq.core.errors import ValidationError
from omniq.core.models import TaskStatus
from omniq.core.records import FINAL_STATUSES, DependencyReport, TaskRecord
from omniq.postgres._rows import TASK_COLUMNS, task_from_row

_encode_json = msgspec.json.Encoder().encode

__all__ = ["Decision", "DependencyStatements", "decide", "link", "resolve", "unresolved_finished"]

_FINAL = sql_status_list(FINAL_STATUSES)
_SEQ = len(TaskRecord.__struct_fields__)


class DependencyStatements:
    """The dependency statements of one schema (a validated, lower-case name)."""

    def __init__(self, schema: str) -> None:
        s = f'"{schema}"'
        t = ", ".join(f"t.{column.strip()}" for column in TASK_COLUMNS.split(","))
        #: The statuses of the given tasks and whether they are marked as waited on, locked
        #: against changes until the enqueue commits (``NOWAIT``: see the module's docstring).
        #: Parameters: ids.
        self.lock_statuses = (
            f"SELECT id, status, has_dependents FROM {s}.tasks WHERE id = ANY($1::text[]) "
            "ORDER BY id FOR SHARE NOWAIT"
        )
        #: Mark the given tasks as waited on (until they are resolved). Parameters: ids.
        self.mark_waited_on = f"""
            WITH locked AS MATERIALIZED (
                SELECT id FROM {s}.tasks WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE NOWAIT
            )
            UPDATE {s}.tasks SET has_dependents = true
            WHERE id = ANY(ARRAY(SELECT id FROM locked)) AND NOT has_dependents
        """
        #: Whether anything waits on the given ids, the only cost of a worker's resolve when
        #: nothing does: the mark of each, read through the primary key of ``tasks`` (as the
        #: finish that just settled them did). The edges are not probed: with statistics of a
        #: few tasks with many dependents each, the planner expects half the edges to match any
        #: id and reads the edge table until one does, all of it for the ids a worker resolves,
        #: which nothing waits on. Parameters: ids.
        self.any_dependent = f"""
            SELECT EXISTS (SELECT 1 FROM {s}.tasks WHERE id = ANY($1::text[]) AND has_dependents)
        """
        # The statements below that change tasks of a batch reach them by primary key, and take
        # each task's own value from a JSON object keyed by id, as finish does (see
        # ``_statements``): a join with the batch could be planned as a scan of the table.
        #: Store edges and the countdowns of the waiting tasks just inserted.
        #: Parameters: dependency ids, task ids (parallel), ``{waiting task id: edge count}``.
        self.link = f"""
            WITH edge AS (
                INSERT INTO {s}.dependencies (dependency_id, task_id)
                SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING
            )
            UPDATE {s}.tasks AS t SET waiting_on = ($3::jsonb ->> t.id)::int
            WHERE t.id = ANY(ARRAY(SELECT jsonb_object_keys($3::jsonb)))
        """
        #: Take (delete and return) the edges of the finished tasks among the ids, with the
        #: dependency's status; the edges are locked in key order, so that resolvers of
        #: overlapping ids wait for each other instead of deadlocking. Parameters: ids.
        self.take_edges = f"""
            WITH doomed AS MATERIALIZED (
                SELECT d.dependency_id, d.task_id, t.status
                FROM {s}.dependencies AS d JOIN {s}.tasks AS t ON t.id = d.dependency_id
                WHERE d.dependency_id = ANY($1::text[]) AND t.status IN {_FINAL}
                ORDER BY d.dependency_id, d.task_id
                FOR UPDATE OF d
            )
            DELETE FROM {s}.dependencies AS d USING doomed
            WHERE d.dependency_id = doomed.dependency_id AND d.task_id = doomed.task_id
            RETURNING d.dependency_id, d.task_id, doomed.status
        """
        # Waiting rows are locked in id order first, for the same reason.
        locked = f"""
            WITH locked AS MATERIALIZED (
                SELECT id FROM {s}.tasks WHERE id = ANY($2::text[]) AND status = 'waiting'
                ORDER BY id FOR UPDATE
            )
        """
        #: Cancel waiting tasks, each with its error. Parameters: now, ids, ``{id: error}``.
        self.cancel_waiting = f"""
            {locked}
            UPDATE {s}.tasks AS t SET status = 'cancelled', error = $3::jsonb ->> t.id, updated_at = $1
            WHERE t.id = ANY(ARRAY(SELECT id FROM locked)) AND t.status = 'waiting'
            RETURNING {t}, t.seq
        """
        #: Count waiting tasks down by their completed edges; those reaching zero become pending.
        #: Returns every task counted down (the caller keeps the pending ones).
        #: Parameters: now, ids, ``{id: completed edges}``.
        self.count_down = f"""
            {locked}
            UPDATE {s}.tasks AS t SET waiting_on = t.waiting_on - ($3::jsonb ->> t.id)::int,
                status = CASE WHEN t.waiting_on <= ($3::jsonb ->> t.id)::int THEN 'pending' ELSE t.status END,
                updated_at = CASE WHEN t.waiting_on <= ($3::jsonb ->> t.id)::int THEN $1 ELSE t.updated_at END
            WHERE t.id = ANY(ARRAY(SELECT id FROM locked)) AND t.status = 'waiting'
            RETURNING {t}, t.seq
        """
        #: Unmark the finished tasks among the ids, whose edges this round takes, and return their
        #: ids: only a marked task has edges, so the others need no edge lookup (nor do tasks
        #: another resolver unmarked first). Rows are locked in id order, as the waiting ones, and
        #: changed by primary key (``= ANY``, not a join a generic plan could turn into a scan).
        #: Parameters: ids.
        self.unmark_resolved = f"""
            WITH locked AS MATERIALIZED (
                SELECT id FROM {s}.tasks WHERE id = ANY($1::text[]) AND has_dependents AND status IN {_FINAL}
                ORDER BY id FOR UPDATE
            )
            UPDATE {s}.tasks SET has_dependents = false WHERE id = ANY(ARRAY(SELECT id FROM locked))
            RETURNING id
        """
        #: Finished tasks still marked as waited on (their worker died before resolving them, or
        #: they ended in the reaper): the partial index ``tasks_unresolved`` holds only those.
        self.unresolved_finished = f"SELECT id FROM {s}.tasks WHERE has_dependents AND status IN {_FINAL}"
        #: Delete the tasks in a status last changed before a time (``NULL``: any time), and the
        #: edges they kept as waiting tasks (cancelled or expired while they waited, they keep them
        #: until their dependencies end, which may be never), found by primary key from each
        #: task's ``depends_on``. A task still waited on is kept: deleted, it would leave its
        #: dependents waiting for ever; the next reap resolves it. Returns how many tasks went.
        #: Parameters: status, time or NULL.
        self.purge = f"""
            WITH doomed AS (
                SELECT id FROM {s}.tasks
                WHERE status IN ('completed', 'dead', 'cancelled', 'expired')
                  AND status = $1 AND ($2::float8 IS NULL OR updated_at < $2) AND NOT has_dependents
                LIMIT $3
                FOR UPDATE SKIP LOCKED
            ), purged AS (
                DELETE FROM {s}.tasks AS t USING doomed
                WHERE t.id = doomed.id AND NOT t.has_dependents
                RETURNING t.id, t.depends_on
            ), edges AS (
                DELETE FROM {s}.dependencies AS d
                USING purged, jsonb_array_elements_text(purged.depends_on) AS dependency(id)
                WHERE d.dependency_id = dependency.id AND d.task_id = purged.id
            )
            SELECT count(*) FROM purged
        """


class Decision(NamedTuple):
    """How a batch of records starts (see :func:`decide`)."""

    #: The records, each with the status it starts with.
    records: list[TaskRecord]
    #: Per waiting record, the dependencies it waits for.
    waits: dict[str, list[str]]
    #: The dependencies not marked as waited on yet.
    unmarked: frozenset[str]


async def decide(conn: Any, sql: DependencyStatements, records: Sequence[TaskRecord]) -> Decision:
    """How each record starts, from its dependencies' statuses (locked until commit): ``pending``
    if all completed, ``cancelled`` if one failed, else ``waiting``. Refuses unknown ids, naming
    them.

    Raises:
        ValidationError: field ``depends_on``, naming the ids that are not stored tasks.
        asyncpg.LockNotAvailableError: another transaction is changing a dependency; retry.
    """
    wanted = sorted({task_id for record in records for task_id in record.depends_on})
    if not wanted:
        return Decision(list(records), {}, frozenset())
    rows = await conn.fetch(sql.lock_statuses, wanted)
    statuses: dict[str, str] = {row[0]: row[1] for row in rows}
    unmarked = frozenset(row[0] for row in rows if not row[2])
    unknown = [task_id for task_id in wanted if task_id not in statuses]
    if unknown:
        raise ValidationError("depends_on", f"unknown task ids: {', '.join(unknown)}")
    decided = []
    waits: dict[str, list[str]] = {}
    for record in records:
        started = start_status(record, statuses)
        decided.append(started.record)
        if started.waits_for:
            waits[record.id] = started.waits_for
    return Decision(decided, waits, unmarked)


async def link(
    conn: Any, sql: DependencyStatements, waits: dict[str, list[str]], unmarked: frozenset[str]
) -> None:
    """Store the edges and countdowns of the waiting tasks just inserted, in one statement, and
    mark their dependencies as waited on if they are not yet.

    Raises:
        asyncpg.LockNotAvailableError: another enqueue holds a dependency to mark; retry.
    """
    if not waits:
        return
    edges = [(dependency_id, task_id) for task_id, ids in waits.items() for dependency_id in ids]
    to_mark = sorted(unmarked.intersection(dependency_id for dependency_id, _ in edges))
    if to_mark:
        await conn.execute(sql.mark_waited_on, to_mark)
    await conn.execute(
        sql.link,
        [dependency_id for dependency_id, _ in edges],
        [task_id for _, task_id in edges],
        _encode_json({task_id: len(ids) for task_id, ids in waits.items()}).decode(),
    )


async def resolve(
    conn: Any, sql: DependencyStatements, task_ids: Sequence[str], now: float
) -> DependencyReport:
    """Apply the final status of these tasks to the tasks waiting on them, down the graph: a
    round per generation, each a few statements whatever the number of edges."""
    report = DependencyReport()
    frontier = sorted(set(task_ids))
    while frontier:
        frontier = sorted(row[0] for row in await conn.fetch(sql.unmark_resolved, frontier))
        if not frontier:
            break
        edges = await conn.fetch(sql.take_edges, frontier)
        if not edges:
            break
        completed, errors = cascade(edges)
        frontier = []
        if errors:
            rows = await conn.fetch(sql.cancel_waiting, now, list(errors), _encode_json(errors).decode())
            cancelled = readable_tasks(
                sorted(rows, key=_by_seq), task_from_row, _row_id, "the cancelled dependents"
            )
            report.cancelled.extend(cancelled)
            frontier = sorted(record.id for record in cancelled)
        if completed:
            rows = await conn.fetch(sql.count_down, now, list(completed), _encode_json(completed).decode())
            released = readable_tasks(
                sorted(rows, key=_by_seq), task_from_row, _row_id, "the released dependents"
            )
            report.released.extend(r for r in released if r.status is TaskStatus.PENDING)
    return report


async def unresolved_finished(conn: Any, sql: DependencyStatements) -> list[str]:
    """Finished tasks whose dependents were never resolved (their worker died in between)."""
    return [row[0] for row in await conn.fetch(sql.unresolved_finished)]


def _by_seq(row: Sequence[Any]) -> int:
    seq: int = row[_SEQ]
    return seq


def _row_id(row: Sequence[Any]) -> Any:
    return row[0]
