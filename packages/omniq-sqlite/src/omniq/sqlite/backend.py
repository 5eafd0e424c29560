"""``SQLiteBackend``: the task queue, result store and event store in one SQLite file.

Any number of worker processes on one host may share the file. Each state change is atomic, and
each operation on a worker's hot path is a single statement, so one round trip: a claim is one
``UPDATE ... RETURNING`` over all its queues, a batch of outcomes, results or events one statement
with a multi-row ``VALUES`` list. Idle workers wake when this process changes the queue, or within
a few milliseconds when another process commits (``PRAGMA data_version``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Container, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import msgspec

from omniq.core.backend_options import convert_options
from omniq.core.corrupt import read_one_task, readable_tasks, split_readable, unreadable_error
from omniq.core.interfaces import (
    BaseEventStorage,
    BaseResultStorage,
    BaseScheduleStore,
    BaseTaskQueue,
    TaskAdmin,
)
from omniq.core.models import EventType, ScheduleStatus, TaskStatus
from omniq.core.records import (
    LEASE_EXPIRED_ERROR,
    DependencyReport,
    EventRecord,
    FinishReport,
    Outcome,
    ReapReport,
    ResultRecord,
    ScheduleChange,
    ScheduleRecord,
    ScheduleRun,
    TaskChange,
    TaskRecord,
    events_about,
    live_result,
)
from omniq.core.settings import Settings
from omniq.sqlite import _dependencies as dependencies
from omniq.sqlite import _statements as sql
from omniq.sqlite._cancels import CancelChannel, receive
from omniq.sqlite._database import Database, Row, execute_values, fetch, run_to_end
from omniq.sqlite._rows import (
    claimed_task_from_row,
    event_from_row,
    event_row,
    result_from_row,
    result_row,
    schedule_from_row,
    schedule_row,
    task_from_row,
    task_row,
)
from omniq.sqlite._url import DEFAULT_BUSY_TIMEOUT_MS, SQLiteConfig, parse_url

__all__ = ["SQLiteBackend"]

_json = msgspec.json.Encoder()


#: Position of ``seq`` in rows returned by the reaper (after the task columns).
_SEQ = len(TaskRecord.__struct_fields__)
#: Positions of the claim order's columns in rows returned by a claim (``CLAIMED_COLUMNS``, seq).
logger = logging.getLogger("omniq.sqlite")

_CLAIMED_QUEUE, _CLAIMED_PRIORITY, _CLAIMED_DUE_AT, _CLAIMED_ATTEMPTS, _CLAIMED_SEQ = 1, 3, 4, 7, 14
_EXECUTING = EventType.EXECUTING.value


#: The purge's condition on ``t``: its id is in the JSON array ``?``.
_PURGED = "t.id IN (SELECT value FROM json_each(?))"


def _json_text(value: object) -> str:
    # json_each() reads text; a blob would be refused by older SQLite releases.
    return _json.encode(value).decode()


class SQLiteBackend(BaseTaskQueue, TaskAdmin, BaseResultStorage, BaseEventStorage, BaseScheduleStore):
    """Task queue, result store and event store in one SQLite database file.

    Args:
        path: the database file; its parent directories are created on open. Defaults to
            ``<base_dir>/<project_name>.db``, as OmniQ's settings do.
        base_dir: the directory of the default file.
        project_name: the name of the default file.
        busy_timeout: milliseconds a write waits for another process's write lock.

    One object serves every role over one connection; use it from one event loop at a time.
    """

    shared_across_processes: ClassVar[bool] = True

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        base_dir: str | os.PathLike[str] = ".",
        project_name: str = "omniq",
        busy_timeout: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> None:
        self.path = Path(path) if path is not None else Path(base_dir, f"{project_name}.db")
        self._db = Database(self.path, busy_timeout)
        self._cancels = CancelChannel(self.path)
        # The in-process signal current when the last claim began: set means work came since.
        self._signal_at_claim: asyncio.Event | None = None
        # The data version seen when the last wait for tasks ended.
        self._tasks_version: int | None = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """``sqlite:///relative.db`` or ``sqlite:////absolute.db``, optionally ``?busy_timeout=ms``.

        Raises:
            omniq.core.errors.ConfigurationError: naming ``url`` if it is malformed, in-memory or
                sets an unknown option.
        """
        path, parsed = parse_url(url, options)
        return cls(path, busy_timeout=parsed.busy_timeout)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], settings: Settings, *, where: str = "config") -> Self:
        """``{type: sqlite, config: {path | base_dir, project_name, busy_timeout}}``; ``base_dir``
        and ``project_name`` default to the settings', as the default database file does."""
        parsed = convert_options(options, SQLiteConfig, where)
        return cls(
            parsed.path,
            base_dir=settings.base_dir if parsed.base_dir is None else parsed.base_dir,
            project_name=settings.project_name if parsed.project_name is None else parsed.project_name,
            busy_timeout=parsed.busy_timeout,
        )

    def __repr__(self) -> str:
        return f"SQLiteBackend({str(self.path)!r})"

    async def open(self) -> None:
        """Connect and create the schema if needed (idempotent)."""
        await self._db.open()

    async def open_existing(self) -> None:
        """Connect to the database file if it exists and holds OmniQ's tables; create nothing.

        Raises:
            omniq.core.errors.StoreNotFoundError: naming the path otherwise.
        """
        await self._db.open(existing=True)

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        await self._db.close()

    # -- task queue -------------------------------------------------------------------------

    async def enqueue(
        self, records: Sequence[TaskRecord], *, events: Sequence[EventRecord] = ()
    ) -> list[str]:
        """Insert the records in one statement; a live task holding a record's dedup key (also an
        earlier record of the same batch) stands in for it, and a record whose id is stored
        already (the call sent again) is not stored twice. Records with dependencies start as
        their dependencies' statuses decide (see ``_dependencies``)."""
        if not records:
            return []
        keys = [record.dedup_key for record in records if record.dedup_key is not None]
        if not keys and not events and not any(record.depends_on for record in records):
            await self._db.execute_values(sql.insert_tasks, [task_row(record) for record in records])
            self._db.tasks_changed.notify()
            return [record.id for record in records]
        async with self._db.transaction() as conn:
            stored = {
                row[0] for row in await fetch(conn, sql.STORED_IDS, (_json_text([r.id for r in records]),))
            }
            holders: dict[str, str] = (
                dict(await fetch(conn, sql.DEDUP_HOLDERS, (_json_text(keys),))) if keys else {}
            )
            ids, kept = _deduplicated(records, holders, stored)
            kept, edges = await dependencies.attach(conn, kept)
            await execute_values(conn, sql.insert_tasks, [task_row(record) for record in kept])
            await dependencies.link(conn, edges)
            written = events_about(events, {record.id for record in kept})
            if written:
                await execute_values(conn, sql.insert_events, [event_row(event) for event in written])
        self._db.tasks_changed.notify()
        return ids

    async def resolve_dependencies(self, task_ids: Sequence[str], now: float) -> DependencyReport:
        """Release or cancel what waits on these tasks; one read when nothing does."""
        if not task_ids:
            return DependencyReport()
        if not await self._db.execute(dependencies.ANY_DEPENDENT, (_json_text(list(task_ids)),)):
            return DependencyReport()
        async with self._db.transaction() as conn:
            report = await dependencies.resolve(conn, task_ids, now)
        if report.released:
            self._db.tasks_changed.notify()
        return report

    async def claim(
        self,
        queues: Sequence[str],
        *,
        limit: int,
        worker_id: str,
        lease_token: str,
        lease_expires_at: float,
        now: float,
        write_events: bool = False,
    ) -> list[TaskRecord]:
        """Lease up to ``limit`` tasks of ``queues``, earlier queues first, in one statement (and
        their ``executing`` events in the same transaction).

        If the caller is cancelled while the statement runs, the claim still completes and its
        tasks are given back at once: nobody would run them, and they would wait for their lease
        to expire.
        """
        self._signal_at_claim = self._db.tasks_changed.event
        order = {queue: rank for rank, queue in enumerate(dict.fromkeys(queues))}
        if limit <= 0 or not order:
            return []
        parameters: list[Any] = [lease_token, lease_expires_at, worker_id, now]
        for queue in order:
            parameters += (queue, now, now, limit)
        if len(order) > 1:
            parameters.append(limit)
        started = (worker_id, now) if write_events else None
        statement = asyncio.ensure_future(self._claim_rows(sql.claim(len(order)), parameters, started))
        try:
            rows = await asyncio.shield(statement)
        except asyncio.CancelledError:
            await run_to_end(self._give_back(statement, lease_token, now))
            raise

        def record(row: Row) -> TaskRecord:
            return claimed_task_from_row(row, lease_token, lease_expires_at, worker_id, now)

        try:
            # RETURNING gives no order; the statement chose the right rows.
            rows.sort(
                key=lambda row: (
                    order[row[_CLAIMED_QUEUE]],
                    -row[_CLAIMED_PRIORITY],
                    row[_CLAIMED_DUE_AT],
                    row[_CLAIMED_SEQ],
                )
            )
            return [record(row) for row in rows]
        except Exception:  # noqa: BLE001 - a corrupt row: read them one by one
            return await self._claimed_readable(rows, order, record, lease_token=lease_token, now=now)

    async def _claim_rows(
        self, statement: str, parameters: list[Any], started: tuple[str, float] | None
    ) -> list[Row]:
        """Run the claim; with ``started`` (worker, time), store each claimed task's ``executing``
        event in the same transaction."""
        if started is None:
            return await self._db.execute(statement, parameters)
        worker_id, now = started
        async with self._db.transaction() as conn:
            rows = await fetch(conn, statement, parameters)
            if rows:
                events = [
                    (
                        _EXECUTING,
                        row[0],
                        now,
                        row[_CLAIMED_QUEUE],
                        worker_id,
                        row[_CLAIMED_ATTEMPTS],
                        None,
                        "{}",
                    )
                    for row in rows
                ]
                await execute_values(conn, sql.insert_events, events)
        return rows

    async def _claimed_readable(
        self,
        rows: list[Row],
        order: dict[str, int],
        record: Callable[[Row], TaskRecord],
        *,
        lease_token: str,
        now: float,
    ) -> list[TaskRecord]:
        """The readable tasks of a claim, in claim order; the unreadable ones it leased go to
        ``dead`` with the reason (see :mod:`omniq.core.corrupt`)."""
        rows.sort(key=lambda row: row[_CLAIMED_SEQ])
        readable, unreadable = split_readable(rows, record, lambda row: row[0])
        if unreadable:
            async with self._db.transaction() as conn:
                for item in unreadable:
                    await fetch(conn, sql.BURY, (unreadable_error(item), now, item.task_id, lease_token))
            for item in unreadable:
                logger.error("task %s cannot be read and goes to dead: %s", item.task_id, item.reason)
        readable.sort(key=lambda r: (order.get(r.queue, len(order)), -r.priority, r.due_at))
        return readable

    async def _give_back(self, claim: asyncio.Future[list[Row]], lease_token: str, now: float) -> None:
        """Undo a claim nobody received: its tasks become pending, the attempt not counted."""
        try:
            rows = await claim
        except Exception:  # noqa: BLE001 - a claim that failed leased nothing
            return
        if rows:
            await self._db.execute(sql.UNCLAIM, (now, _json_text([row[0] for row in rows]), lease_token))
            self._db.tasks_changed.notify()

    async def release_claim(self, lease_token: str, now: float) -> int:
        """Give back the tasks still leased under ``lease_token``, in one statement."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(sql.RELEASE_CLAIM, (now, lease_token))
            released = cursor.rowcount
        if released:
            self._db.tasks_changed.notify()
        return released

    async def heartbeat(
        self, leases: Sequence[tuple[str, str]], *, lease_expires_at: float, now: float
    ) -> list[str]:
        """Renew every lease still held in one statement; return the ids of the others."""
        if not leases:
            return []
        pairs = _json_text([[task_id, token] for task_id, token in leases])
        renewed = set(await self._db.execute(sql.HEARTBEAT, (lease_expires_at, now, pairs)))
        return [task_id for task_id, token in leases if (task_id, token) not in renewed]

    async def finish(
        self, outcomes: Sequence[Outcome], *, events: Sequence[EventRecord] = ()
    ) -> FinishReport:
        """Settle the outcomes whose token is the current lease: one statement per group of
        outcomes that change their tasks alike (usually one group: the successes of one claim),
        and the events of those settled, in one transaction.

        A group's tasks all get the group's latest ``at`` as their update time.
        """
        if not outcomes:
            return FinishReport()
        statements = _finish_statements(outcomes)
        if len(statements) == 1 and not events:
            return self._settled(outcomes, await self._db.execute(sql.FINISH, statements[0]))
        async with self._db.transaction() as conn:
            return await self._settle(conn, outcomes, statements, events)

    async def _settle(
        self,
        conn: Any,
        outcomes: Sequence[Outcome],
        statements: Sequence[Sequence[Any]],
        events: Sequence[EventRecord],
    ) -> FinishReport:
        """Settle ``outcomes`` (as ``statements``) and store the events of those accepted, in
        the caller's transaction."""
        rows = [row for parameters in statements for row in await fetch(conn, sql.FINISH, parameters)]
        report = self._settled(outcomes, rows)
        written = events_about(events, set(report.accepted))
        if written:
            await execute_values(conn, sql.insert_events, [event_row(event) for event in written])
        return report

    async def finish_with_results(
        self,
        outcomes: Sequence[Outcome],
        results: Sequence[ResultRecord],
        *,
        events: Sequence[EventRecord] = (),
    ) -> FinishReport:
        """:meth:`finish` and the results of the accepted outcomes, in one transaction."""
        if not outcomes:
            return FinishReport()
        async with self._db.transaction() as conn:
            report = await self._settle(conn, outcomes, _finish_statements(outcomes), events)
            held = set(report.accepted)
            kept = [result_row(result) for result in results if result.task_id in held]
            if kept:
                await execute_values(conn, sql.put_results, kept)
        if kept:
            self._db.results_changed.notify()
        return report

    def _settled(self, outcomes: Sequence[Outcome], rows: Sequence[Row]) -> FinishReport:
        report = FinishReport.settled(outcomes, (row[0] for row in rows), {row[0] for row in rows if row[1]})
        if report.accepted:
            self._db.tasks_changed.notify()
        return report

    async def reap(self, now: float) -> ReapReport:
        """Recover expired leases, expire tasks past their TTL and resolve the dependents of
        finished tasks left unresolved, in one transaction.

        The transaction holds the file's write lock, so reapers in other processes see the rows
        already changed and report nothing twice.
        """
        async with self._db.transaction() as conn:
            recovered = await fetch(conn, sql.RECOVER_LEASES, (LEASE_EXPIRED_ERROR, now, now, now))
            expired = await fetch(conn, sql.EXPIRE, (now, now))
            unresolved = await dependencies.unresolved_finished(conn)
            resolved = await dependencies.resolve(conn, unresolved, now) if unresolved else DependencyReport()
        report = ReapReport(expired=_readable(sorted(expired, key=_by_seq), "expired"), dependencies=resolved)
        for record in _readable(sorted(recovered, key=_by_seq), "recovered"):
            (report.dead if record.status is TaskStatus.DEAD else report.requeued).append(record)
        if report.requeued or resolved.released:
            self._db.tasks_changed.notify()
        return report

    async def get_task(self, task_id: str) -> TaskRecord | None:
        """One task by id."""
        rows = await self._db.execute(sql.GET_TASK, (task_id,))
        return _one_task(rows, task_id)

    async def list_tasks(
        self,
        *,
        queue: str | None = None,
        status: TaskStatus | None = None,
        limit: int = 100,
    ) -> list[TaskRecord]:
        """Tasks filtered by queue and status, oldest first.

        The status is written into the SQL as a literal (it is a ``TaskStatus`` value, never user
        text) because SQLite picks a partial index, such as the one on dead tasks, only when the
        query's condition is known when the statement is prepared.
        """
        where, params = _where({"queue = ?": queue})
        if status is not None:
            condition = f"status = '{TaskStatus(status).value}'"
            where = f"{where} AND {condition}" if where else f" WHERE {condition}"
        query = f"{sql.SELECT_TASKS}{where} ORDER BY created_at, seq LIMIT ?"
        rows = await self._db.execute(query, (*params, limit))
        return _readable(rows, "the listing")

    async def count_tasks(self) -> dict[str, dict[str, int]]:
        """Task counts per queue and status."""
        counts: dict[str, dict[str, int]] = {}
        for queue, status, count in await self._db.execute(sql.COUNT_TASKS):
            counts.setdefault(queue, {})[status] = count
        return counts

    async def cancel(self, task_id: str, now: float) -> TaskChange | None:
        """Cancel a task not yet final; a running one loses its lease, and its worker is told
        at once if it listens on this machine (see :meth:`watch_cancellations`)."""
        async with self._db.transaction() as conn:
            holder = await fetch(conn, sql.RUNNING_ON, (task_id,))
            rows = await fetch(conn, sql.CANCEL, (now, task_id))
            cancelled = bool(rows)
            if not cancelled:
                rows = await fetch(conn, sql.GET_TASK, (task_id,))
        if cancelled and holder and holder[0][0] is not None:
            self._cancels.send(holder[0][0], task_id)
        record = _one_task(rows, task_id)
        return None if record is None else TaskChange(task=record, changed=cancelled)

    async def requeue(
        self, task_id: str, now: float, *, events: Sequence[EventRecord] = ()
    ) -> TaskChange | None:
        """Make a dead, cancelled or expired task pending again with fresh attempts."""
        async with self._db.transaction() as conn:
            rows = await fetch(conn, sql.REQUEUE, (now, now, task_id))
            requeued = bool(rows)
            if not requeued:
                rows = await fetch(conn, sql.GET_TASK, (task_id,))
            elif events:
                await execute_values(conn, sql.insert_events, [event_row(event) for event in events])
        if requeued:
            self._db.tasks_changed.notify()
        record = _one_task(rows, task_id)
        return None if record is None else TaskChange(task=record, changed=requeued)

    async def purge_tasks(
        self, status: TaskStatus, *, before: float | None = None, limit: int | None = None
    ) -> int:
        """Delete up to ``limit`` tasks in ``status`` last changed before ``before``, and the
        dependency edges they kept as waiting tasks, in one transaction. A finished task whose
        dependents are not resolved yet is kept until they are (by the next reap at the latest)."""
        changed_before = math.inf if before is None else before
        params = (TaskStatus(status).value, changed_before, -1 if limit is None else limit)
        async with self._db.transaction() as conn:
            ids = [row[0] for row in await fetch(conn, sql.PURGEABLE, params)]
            if not ids:
                return 0
            purged = [_json_text(ids)]
            await dependencies.delete_edges_of_purged(conn, _PURGED, purged)
            cursor = await conn.execute(f"{sql.DELETE_TASKS} AND {_PURGED}", purged)
        return cursor.rowcount

    async def wait_for_tasks(self, queues: Sequence[str], timeout: float) -> None:
        """Return when this process or another may have made tasks claimable, or after ``timeout``."""
        del queues
        signal = self._db.tasks_changed.event
        seen, self._signal_at_claim = self._signal_at_claim, None
        if seen is not None and seen.is_set():
            return  # work arrived while the last claim ran
        self._tasks_version = await self._db.wait_for_change(
            signal, timeout, since=self._tasks_version, tasks=True
        )

    @contextlib.asynccontextmanager
    async def watch_cancellations(
        self, worker_id: str, on_cancel: Callable[[str], None]
    ) -> AsyncIterator[bool]:
        """Call ``on_cancel`` when a process on this machine cancels a task leased to
        ``worker_id``: the worker's own Unix datagram socket, read in this loop. ``False`` where
        there are no such sockets (the worker then learns at its next heartbeat)."""
        with self._cancels.listening(worker_id) as sock:
            if sock is None:
                yield False
                return
            loop = asyncio.get_running_loop()
            loop.add_reader(sock.fileno(), receive, sock, on_cancel)
            try:
                yield True
            finally:
                if not loop.is_closed():
                    loop.remove_reader(sock.fileno())

    # -- results ----------------------------------------------------------------------------

    async def put_results(self, records: Sequence[ResultRecord]) -> None:
        """Store or replace results in one statement."""
        if not records:
            return
        await self._db.execute_values(sql.put_results, [result_row(record) for record in records])
        self._db.results_changed.notify()

    async def get_result(self, task_id: str) -> ResultRecord | None:
        """The task's result unless it has expired (rows past expiry wait for the purge)."""
        rows = await self._db.execute(sql.GET_RESULT, (task_id,))
        if not rows:
            return None
        return live_result(result_from_row(rows[0]), time.time())

    async def delete_results(self, task_ids: Sequence[str]) -> None:
        """Delete these tasks' results in one statement."""
        if task_ids:
            await self._db.execute(sql.DELETE_RESULTS_OF, (_json_text(list(task_ids)),))

    async def purge_results(self, now: float) -> int:
        """Delete results whose expiry has passed."""
        return await self._db.changes(sql.DELETE_RESULTS, (now,))

    async def wait_for_result(self, task_id: str, timeout: float) -> ResultRecord | None:
        """The result once stored: looks again whenever this process stores results or another
        process commits, so it returns within milliseconds of the result's commit."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            signal = self._db.results_changed.event
            version = self._db.data_version()  # before the read, so no commit slips between
            record = await self.get_result(task_id)
            remaining = deadline - loop.time()
            if record is not None or remaining <= 0:
                return record
            await self._db.wait_for_change(signal, remaining, since=version)

    # -- schedules --------------------------------------------------------------------------

    async def add_schedule(self, record: ScheduleRecord) -> None:
        """Insert a new schedule."""
        await self._db.execute(sql.INSERT_SCHEDULE, schedule_row(record))

    async def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        """One schedule by id."""
        rows = await self._db.execute(sql.GET_SCHEDULE, (schedule_id,))
        return schedule_from_row(rows[0]) if rows else None

    async def list_schedules(
        self, *, status: ScheduleStatus | None = None, limit: int = 100
    ) -> list[ScheduleRecord]:
        """Schedules, oldest first."""
        where, params = _where({"status = ?": None if status is None else ScheduleStatus(status).value})
        query = f"{sql.SELECT_SCHEDULES}{where} ORDER BY created_at, id LIMIT ?"
        return [schedule_from_row(row) for row in await self._db.execute(query, (*params, limit))]

    async def due_schedules(self, now: float, *, limit: int) -> list[ScheduleRecord]:
        """Active schedules whose next run has come, through the partial index on due runs."""
        return [schedule_from_row(row) for row in await self._db.execute(sql.DUE_SCHEDULES, (now, limit))]

    async def trigger_schedule(
        self,
        schedule_id: str,
        expected_next_run_at: float,
        run: ScheduleRun,
        task: TaskRecord | None,
        *,
        events: Sequence[EventRecord] = (),
    ) -> bool:
        """Move the schedule past the run and insert its task in one transaction; the file's
        write lock makes the check-and-move of ``next_run_at`` atomic across processes."""
        parameters = (
            run.next_run_at,
            run.status.value,
            run.runs,
            run.last_run_at,
            run.last_task_id,
            run.last_run_at,
            schedule_id,
            expected_next_run_at,
        )
        async with self._db.transaction() as conn:
            cursor = await conn.execute(sql.TRIGGER_SCHEDULE, parameters)
            claimed = cursor.rowcount == 1
            if claimed and task is not None:
                await conn.execute(sql.insert_tasks(1), task_row(task))
            if claimed and events:
                await execute_values(conn, sql.insert_events, [event_row(event) for event in events])
        if claimed and task is not None:
            self._db.tasks_changed.notify()
        return claimed

    async def set_schedule_status(
        self,
        schedule_id: str,
        status: ScheduleStatus,
        *,
        next_run_at: float | None,
        now: float,
        from_statuses: Sequence[ScheduleStatus],
    ) -> ScheduleChange | None:
        """Change the status if it is one of ``from_statuses``; return the schedule as it is."""
        allowed = _json_text([ScheduleStatus(s).value for s in from_statuses])
        async with self._db.transaction() as conn:
            rows = await fetch(
                conn, sql.SET_SCHEDULE_STATUS, (status.value, next_run_at, now, schedule_id, allowed)
            )
            changed = bool(rows)
            if not changed:
                rows = await fetch(conn, sql.GET_SCHEDULE, (schedule_id,))
        return ScheduleChange(schedule=schedule_from_row(rows[0]), changed=changed) if rows else None

    # -- events -----------------------------------------------------------------------------

    async def append_events(self, records: Sequence[EventRecord]) -> None:
        """Store events in one statement."""
        if not records:
            return
        await self._db.execute_values(sql.insert_events, [event_row(record) for record in records])

    async def query_events(
        self,
        *,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[EventRecord]:
        """Events matching every given filter, oldest first."""
        filters = {
            "task_id = ?": task_id,
            "type IN (SELECT value FROM json_each(?))": None if types is None else _json_text(list(types)),
            "at >= ?": since,
            "at < ?": until,
        }
        where, params = _where(filters)
        query = f"{sql.SELECT_EVENTS}{where} ORDER BY at, id LIMIT ?"
        rows = await self._db.execute(query, (*params, -1 if limit is None else limit))
        return [event_from_row(row) for row in rows]

    async def purge_events(self, before: float) -> int:
        """Delete events older than ``before``."""
        return await self._db.changes(sql.DELETE_EVENTS, (before,))


def _readable(rows: Sequence[Row], where: str) -> list[TaskRecord]:
    return readable_tasks(rows, task_from_row, lambda row: row[0], where)


def _one_task(rows: Sequence[Row], task_id: str) -> TaskRecord | None:
    return read_one_task(rows[0] if rows else None, task_from_row, task_id)


def _finish_statements(outcomes: Sequence[Outcome]) -> list[tuple[Any, ...]]:
    """``FINISH`` parameters, one set per group of outcomes that change their tasks alike."""
    groups: dict[tuple[str, str, float | None, str | None], list[Outcome]] = {}
    for outcome in outcomes:
        key = (outcome.lease_token, outcome.status.value, outcome.due_at, outcome.error)
        groups.setdefault(key, []).append(outcome)
    return [
        (
            status,
            due_at,
            error,
            max(o.at for o in group),
            int(status == TaskStatus.PENDING.value),  # released: the attempt is given back
            _json_text([o.task_id for o in group]),
            token,
        )
        for (token, status, due_at, error), group in groups.items()
    ]


def _deduplicated(
    records: Sequence[TaskRecord], holders: dict[str, str], stored: Container[str]
) -> tuple[list[str], list[TaskRecord]]:
    """The id holding each record's place, and the records to insert (those not ``stored``
    already, whose key is free)."""
    ids = []
    kept = []
    for record in records:
        holder = record.id
        if record.id in stored:
            ids.append(holder)
            continue
        if record.dedup_key is not None:
            holder = holders.setdefault(record.dedup_key, record.id)
        if holder == record.id:
            kept.append(record)
        ids.append(holder)
    return ids, kept


def _by_seq(row: Sequence[Any]) -> int:
    seq: int = row[_SEQ]
    return seq


def _where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """A WHERE clause of the conditions (fixed SQL with one ``?`` each) whose value is given."""
    given = {condition: value for condition, value in filters.items() if value is not None}
    if not given:
        return "", []
    return " WHERE " + " AND ".join(given), list(given.values())
