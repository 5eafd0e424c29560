# ruff: noqa: S608 - the f-strings below interpolate only a validated schema name and column lists.
"""Schedules: the store behind core's scheduler, whose one atomic step is claiming a run.

Core computes every time; this module keeps the rows. :meth:`ScheduleStore.trigger_schedule` is a
single statement: the compare-and-set of ``next_run_at`` and the insert of the run's task are two
data-modifying parts of one ``WITH``, so they commit together or not at all, and of schedulers
racing for one run the row lock lets exactly one match (the others re-check the changed row and
find another ``next_run_at``). Times are ``double precision``, so the value a scheduler read
compares equal to the stored one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omniq.core.interfaces import BaseScheduleStore
from omniq.core.models import ScheduleStatus
from omniq.core.records import EventRecord, ScheduleChange, ScheduleRecord, ScheduleRun, TaskRecord
from omniq.postgres._database import Database
from omniq.postgres._listener import claimable_payload
from omniq.postgres._order import InFlight, reads, writes
from omniq.postgres._rows import events_json, tasks_json
from omniq.postgres._statements import append_events

__all__ = ["SCHEDULE_COLUMNS", "ScheduleStatements", "ScheduleStore", "schedule_from_row"]

#: The schedule columns in the order of ``ScheduleRecord``'s fields (a test checks that they stay so).
SCHEDULE_COLUMNS = (
    "id, func, queue, status, next_run_at, created_at, updated_at, runs, last_run_at, last_task_id, data"
)

_STATUS = {status.value: status for status in ScheduleStatus}


def schedule_from_row(row: Sequence[Any]) -> ScheduleRecord:
    """The record of a row of ``SCHEDULE_COLUMNS``."""
    return ScheduleRecord(
        id=row[0],
        func=row[1],
        queue=row[2],
        status=_STATUS[row[3]],
        next_run_at=row[4],
        created_at=row[5],
        updated_at=row[6],
        runs=row[7],
        last_run_at=row[8],
        last_task_id=row[9],
        data=row[10],
    )


class ScheduleStatements:
    """The schedule statements of one schema.

    Args:
        schema: a validated, lower-case schema name.
        insert_tasks: the statement inserting a JSON array of task records given as ``$1``.
    """

    def __init__(self, schema: str, insert_tasks: str) -> None:
        s = f'"{schema}"'
        placeholders = ", ".join(f"${n}" for n in range(1, len(SCHEDULE_COLUMNS.split(",")) + 1))
        self.insert = f"INSERT INTO {s}.schedules ({SCHEDULE_COLUMNS}) VALUES ({placeholders})"
        self.get = f"SELECT {SCHEDULE_COLUMNS} FROM {s}.schedules WHERE id = $1"
        #: Followed by an optional status filter, then ``ORDER BY created_at, id LIMIT n``.
        self.select = f"SELECT {SCHEDULE_COLUMNS} FROM {s}.schedules"
        #: Through ``schedules_due``, whose condition and order these are. Parameters: now, limit.
        self.due = f"""
            SELECT {SCHEDULE_COLUMNS} FROM {s}.schedules
            WHERE status = 'active' AND next_run_at <= $1
            ORDER BY next_run_at, id LIMIT $2
        """
        claim = f"""
            WITH claimed AS (
                UPDATE {s}.schedules
                SET next_run_at = $4, status = $5, runs = $6, last_run_at = $7, last_task_id = $8,
                    updated_at = $7
                WHERE id = $2 AND status = 'active' AND next_run_at = $3
                RETURNING id
            ),
            inserted AS ({insert_tasks} WHERE EXISTS (SELECT 1 FROM claimed)),
            logged AS ({append_events(s, 9, "EXISTS (SELECT 1 FROM claimed)")})
        """
        #: Claim a run and insert its task (``$1``: a JSON array of zero or one task records) and
        #: its events (``$9``: a JSON array) in one statement; returns one row if claimed.
        #: Parameters: task, id, expected next run, next run, status, runs, last run, last task,
        #: events.
        self.trigger = f"{claim} SELECT claimed.id FROM claimed"
        #: The same, waking the listeners of the task's queue once it commits. Parameters: as
        #: ``trigger``, then channel, payload.
        self.trigger_and_notify = f"{claim} SELECT claimed.id, pg_notify($10, $11) FROM claimed"
        #: Change the status if it is one of the allowed; returns the row as it now is, or as it
        #: was when not changed (the second part reads the snapshot from before the update).
        #: Parameters: status, next run, now, id, allowed statuses.
        self.set_status = f"""
            WITH changed AS (
                UPDATE {s}.schedules SET status = $1, next_run_at = $2, updated_at = $3
                WHERE id = $4 AND status = ANY($5::text[])
                RETURNING {SCHEDULE_COLUMNS}
            )
            SELECT *, true AS changed FROM changed
            UNION ALL
            SELECT {SCHEDULE_COLUMNS}, false FROM {s}.schedules
            WHERE id = $4 AND NOT EXISTS (SELECT 1 FROM changed)
        """


class ScheduleStore(BaseScheduleStore):
    """The schedule methods of ``PostgresBackend`` (a mixin over its pool and statements)."""

    _db: Database
    in_flight: InFlight
    _schedule_sql: ScheduleStatements
    _wake_channel: str

    @writes
    async def add_schedule(self, record: ScheduleRecord) -> None:
        """Insert a new schedule."""
        await self._db.pool.execute(
            self._schedule_sql.insert,
            record.id,
            record.func,
            record.queue,
            record.status.value,
            record.next_run_at,
            record.created_at,
            record.updated_at,
            record.runs,
            record.last_run_at,
            record.last_task_id,
            record.data,
        )

    @reads
    async def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        """One schedule by id."""
        row = await self._db.pool.fetchrow(self._schedule_sql.get, schedule_id)
        return None if row is None else schedule_from_row(row)

    @reads
    async def list_schedules(
        self, *, status: ScheduleStatus | None = None, limit: int = 100
    ) -> list[ScheduleRecord]:
        """Schedules, oldest first, optionally of one status."""
        query = self._schedule_sql.select
        parameters: list[Any] = [limit]
        if status is not None:
            query += " WHERE status = $2"
            parameters.append(ScheduleStatus(status).value)
        rows = await self._db.pool.fetch(f"{query} ORDER BY created_at, id LIMIT $1", *parameters)
        return [schedule_from_row(row) for row in rows]

    @reads
    async def due_schedules(self, now: float, *, limit: int) -> list[ScheduleRecord]:
        """Active schedules whose next run has come, earliest first: one range of the partial
        index, which is all a scheduler tick costs when nothing is due."""
        rows = await self._db.pool.fetch(self._schedule_sql.due, now, limit)
        return [schedule_from_row(row) for row in rows]

    @writes
    async def trigger_schedule(
        self,
        schedule_id: str,
        expected_next_run_at: float,
        run: ScheduleRun,
        task: TaskRecord | None,
        *,
        events: Sequence[EventRecord] = (),
    ) -> bool:
        """Claim the run and store its task and events in one statement (see the module's
        docstring)."""
        tasks = [] if task is None else [task]
        parameters: list[Any] = [
            tasks_json(tasks),
            schedule_id,
            expected_next_run_at,
            run.next_run_at,
            run.status.value,
            run.runs,
            run.last_run_at,
            run.last_task_id,
            events_json(events).decode(),
        ]
        payload = claimable_payload(tasks)
        if payload is None:
            row = await self._db.pool.fetchrow(self._schedule_sql.trigger, *parameters)
        else:
            row = await self._db.pool.fetchrow(
                self._schedule_sql.trigger_and_notify, *parameters, self._wake_channel, payload
            )
        return row is not None

    @writes
    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        *,
        next_run_at: float | None,
        now: float,
        from_statuses: Sequence[ScheduleStatus],
    ) -> ScheduleChange | None:
        """Change the status if it is one of ``from_statuses``, in one statement; return the
        schedule as it is and whether this call changed it."""
        allowed = [ScheduleStatus(s).value for s in from_statuses]
        new = ScheduleStatus(status).value
        row = await self._db.pool.fetchrow(
            self._schedule_sql.set_status, new, next_run_at, now, schedule_id, allowed
        )
        return (
            None if row is None else ScheduleChange(schedule=schedule_from_row(row), changed=row["changed"])
        )
