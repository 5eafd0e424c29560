"""``PostgresBackend``: the task queue, results, events and schedules in one PostgreSQL schema.

Any number of worker processes on any number of hosts may share the schema. Each operation on a
worker's hot path is one statement, so one round trip: a claim is one ``FOR UPDATE SKIP LOCKED``
walk plus ``UPDATE ... RETURNING`` over all its queues; heartbeats, outcomes, results and events
travel as one JSON array or a few ``unnest`` arrays per batch. Idle workers wait for ``NOTIFY``.

A call that meets a dropped connection fails once; the worker's retry runs on a new connection.
The calls whose reply was lost after the server may have committed are made safe here: a claim
whose reply was lost is given back by the next claim, and a finish whose reply was lost is
confirmed by its retry (see :meth:`PostgresBackend.finish`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Self

from omniq.core.backend_options import convert_options
from omniq.core.corrupt import read_one_task, readable_tasks, split_readable, unreadable_error
from omniq.core.interfaces import BaseEventStorage, BaseResultStorage, BaseTaskQueue, TaskAdmin
from omniq.core.models import TaskStatus
from omniq.core.records import (
    LEASE_EXPIRED_ERROR,
    DependencyReport,
    EventRecord,
    FinishReport,
    Outcome,
    ReapReport,
    ResultRecord,
    TaskChange,
    TaskRecord,
    events_about,
    live_result,
)
from omniq.core.settings import Settings
from omniq.postgres import _dependencies as dependencies
from omniq.postgres._database import Database, run_to_end
from omniq.postgres._dependencies import DependencyStatements
from omniq.postgres._enqueue import enqueue_in_transaction
from omniq.postgres._listener import Listener, Waiters, claimable_payload, wake_payload
from omniq.postgres._order import InFlight, reads, writes
from omniq.postgres._rows import (
    TASK_COLUMN_NAMES,
    event_from_row,
    events_json,
    result_from_row,
    results_json,
    task_from_row,
    task_rows,
    tasks_json,
)
from omniq.postgres._schedules import ScheduleStatements, ScheduleStore
from omniq.postgres._settle import lease_parameters, outcome_parameters
from omniq.postgres._statements import Statements
from omniq.postgres._url import DEFAULT_URL, PostgresConfig, parse_url

__all__ = ["DEFAULT_URL", "PostgresBackend"]

logger = logging.getLogger("omniq.postgres")

#: The position of ``seq`` after the task columns in rows of the claim and of the reaper.
_SEQ = len(TaskRecord.__struct_fields__)

#: From how many plain records on ``enqueue`` copies the batch instead of sending it as JSON: below
#: this the three extra round trips of a transaction (begin, notify, commit) cost more than the
#: JSON parsing saved (measured: JSON ahead at 10 records, COPY ahead from about 50).
_COPY_FROM = 32


class PostgresBackend(BaseTaskQueue, TaskAdmin, BaseResultStorage, BaseEventStorage, ScheduleStore):
    """Task queue, result store, event store and schedule store in one PostgreSQL schema.

    Args:
        url: ``postgresql://user:password@host:port/database``; query parameters other than
            OmniQ's options go to asyncpg (``sslmode``, server settings).
        **options: ``schema`` (default ``omniq``), ``pool_min_size`` (1), ``pool_max_size`` (10),
            ``connect_timeout`` (10 seconds); the same names work in the query string.

    One object serves every role over one connection pool, plus one connection for ``LISTEN``
    once something waits for tasks or results.
    """

    shared_across_processes: ClassVar[bool] = True

    def __init__(self, url: str = DEFAULT_URL, **options: Any) -> None:
        self.target, self.options = parse_url(url, options)
        self.schema = self.options.schema
        self._db = Database(self.target, self.options)
        self.in_flight = InFlight()
        self._sql = Statements(self.schema)
        self._deps = DependencyStatements(self.schema)
        self._schedule_sql = ScheduleStatements(self.schema, self._sql.insert_rows)
        self._wake_channel = self._sql.tasks_channel
        self._task_waiters = Waiters()
        self._result_waiters = Waiters()
        #: The callbacks of the workers watching for cancellations (``watch_cancellations``).
        self._cancel_watchers: list[Callable[[str], None]] = []
        self._listener = Listener(
            self._db.connect,
            {
                self._sql.tasks_channel: self._task_waiters.notify,
                self._sql.results_channel: self._result_waiters.notify,
                self._sql.cancels_channel: self._cancel_pushed,
            },
            self._listener_changed,
        )
        # Notifications counted when the last claim began: a change means work may have come since.
        self._notes_at_claim: int | None = None
        # Tokens of claims whose reply was lost: their tasks (if the claim committed) go back.
        # (task, token) of outcomes whose finish lost its reply: the retry confirms them.
        self._doubtful_finishes: set[tuple[str, str]] = set()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """``postgresql://...`` or ``postgres://...``, optionally ``?schema=name`` and pool options.

        Raises:
            omniq.core.errors.ConfigurationError: naming ``url`` (password masked) if it is malformed
                or sets an invalid option.
        """
        return cls(url, **options)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], settings: Settings, *, where: str = "config") -> Self:
        """``{type: postgres, config: {...}}``: the server as ``url`` or as ``host``, ``port``,
        ``username``, ``password``, ``database``; and ``schema``, ``pool_min_size``,
        ``pool_max_size``, ``connect_timeout``."""
        del settings  # nothing here defaults to a setting
        parsed = convert_options(options, PostgresConfig, where)
        return cls(parsed.server_url(where), **parsed.options())

    def __repr__(self) -> str:
        return f"PostgresBackend({self.target.shown!r}, schema={self.schema!r})"

    async def open(self) -> None:
        """Connect and create or migrate the schema (idempotent).

        Raises:
            omniq.core.errors.ConfigurationError: the server cannot be reached or refuses the login
                (the message names host, port and database), or the schema is from a newer release.
        """
        await self._db.open()

    async def open_existing(self) -> None:
        """Connect if the database holds OmniQ's schema; create nothing.

        Raises:
            omniq.core.errors.StoreNotFoundError: naming the schema and the database otherwise.
            omniq.core.errors.ConfigurationError: as :meth:`open`.
        """
        await self._db.open(existing=True)

    async def close(self) -> None:
        """Close the listener and the pool (idempotent)."""
        await self._listener.close()
        await self._db.close()

    # -- task queue -------------------------------------------------------------------------

    @writes
    async def enqueue(
        self, records: Sequence[TaskRecord], *, events: Sequence[EventRecord] = ()
    ) -> list[str]:
        """Insert the records (and the events of those stored) and wake idle workers of their
        queues once, at commit. A record whose id is stored already (the call sent again after
        its reply was lost) is not stored twice.

        A small batch is one statement (a JSON array); from :data:`_COPY_FROM` records on, the
        batch is a binary ``COPY`` of the records not stored yet, followed by the ``NOTIFY`` in
        one transaction, which the server stores about twice as fast as it parses the JSON array.

        Records with dedup keys or dependencies take a transaction (``_enqueue``): a live task
        holding a record's key (also an earlier record of the same batch) stands in for it, and
        a record's dependencies decide whether it starts waiting, pending or cancelled.
        """
        if not records:
            return []
        if any(record.dedup_key is not None or record.depends_on for record in records):
            return await enqueue_in_transaction(self._db, self._sql, self._deps, records, events)
        payload = claimable_payload(records)
        if len(records) >= _COPY_FROM:
            await self._copy(records, events, payload)
        elif events:
            await self._db.pool.execute(
                self._sql.insert_tasks_with_events,
                tasks_json(records),
                events_json(events).decode(),
                self._sql.tasks_channel,
                payload,
            )
        elif payload is None:
            await self._db.pool.execute(self._sql.insert_tasks, tasks_json(records))
        else:
            await self._db.pool.execute(
                self._sql.insert_tasks_and_notify, tasks_json(records), self._sql.tasks_channel, payload
            )
        return [record.id for record in records]

    async def _copy(
        self, records: Sequence[TaskRecord], events: Sequence[EventRecord], payload: str | None
    ) -> None:
        """Store a large batch by ``COPY`` with the events of the records it stores, in one
        transaction. ``COPY`` cannot skip a conflicting row, so the ids already stored (the batch
        sent again) are read first and left out."""
        async with self._db.transaction() as conn:
            stored = {row[0] for row in await conn.fetch(self._sql.stored_ids, [r.id for r in records])}
            fresh = [record for record in records if record.id not in stored] if stored else records
            if fresh:
                await conn.copy_records_to_table(
                    "tasks", schema_name=self.schema, columns=TASK_COLUMN_NAMES, records=task_rows(fresh)
                )
            written = events_about(events, {record.id for record in fresh})
            if written:
                await conn.execute(self._sql.insert_events, events_json(written).decode())
            if payload is not None:
                await conn.execute(self._sql.notify, self._sql.tasks_channel, payload)

    @writes
    async def resolve_dependencies(self, task_ids: Sequence[str], now: float) -> DependencyReport:
        """Release or cancel what waits on these tasks in one transaction; when nothing does (a
        worker calls this after every batch of outcomes), one primary-key read and no transaction."""
        ids = sorted(set(task_ids))
        if not ids or not await self._db.pool.fetchval(self._deps.any_dependent, ids):
            return DependencyReport()
        return await self._resolve(ids, now)

    async def _resolve(self, task_ids: Sequence[str], now: float) -> DependencyReport:
        async with self._db.transaction() as conn:
            report = await dependencies.resolve(conn, self._deps, task_ids, now)
            payload = wake_payload(record.queue for record in report.released)
            if payload is not None:
                await conn.execute(self._sql.notify, self._sql.tasks_channel, payload)
        return report

    @writes
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
        """Lease up to ``limit`` tasks of ``queues``, earlier queues first, in one statement
        (which also stores their ``executing`` events, with ``write_events``).

        If the caller is cancelled, the statement still completes and its tasks are given back at
        once. (If it fails, it may have committed with only its reply lost: the worker then calls
        :meth:`release_claim` with its token.)
        """
        self._notes_at_claim = self._task_waiters.count
        ordered = list(dict.fromkeys(queues))
        if limit <= 0 or not ordered:
            return []
        statement = asyncio.ensure_future(
            self._db.pool.fetch(
                self._sql.claim_with_events if write_events else self._sql.claim,
                ordered,
                now,
                limit,
                lease_token,
                lease_expires_at,
                worker_id,
            )
        )
        try:
            rows = await asyncio.shield(statement)
        except asyncio.CancelledError:
            await run_to_end(self._give_back(statement, lease_token, now))
            raise
        # RETURNING gives no order; the statement chose the right rows.
        rank = {queue: position for position, queue in enumerate(ordered)}
        try:
            rows.sort(key=lambda row: (rank[row[1]], -row[3], row[5], row[_SEQ]))
            return [task_from_row(row) for row in rows]
        except Exception:  # noqa: BLE001 - a corrupt row: read them one by one
            return await self._claimed_readable(rows, rank, lease_token, now)

    async def _claimed_readable(
        self, rows: list[Any], rank: dict[str, int], lease_token: str, now: float
    ) -> list[TaskRecord]:
        """The readable tasks of a claim, in claim order; the unreadable ones it leased go to
        ``dead`` with the reason (see :mod:`omniq.core.corrupt`)."""
        rows.sort(key=_by_seq)
        readable, unreadable = split_readable(rows, task_from_row, _row_id)
        if unreadable:
            await self._db.pool.executemany(
                self._sql.bury,
                [(unreadable_error(item), now, item.task_id, lease_token) for item in unreadable],
            )
            for item in unreadable:
                logger.error("task %s cannot be read and goes to dead: %s", item.task_id, item.reason)
        readable.sort(key=lambda r: (rank.get(r.queue, len(rank)), -r.priority, r.due_at))
        return readable

    @writes
    async def release_claim(self, lease_token: str, now: float) -> int:
        """Give back the tasks still leased under ``lease_token``, in one statement, and wake the
        listeners of their queues."""
        rows = await self._db.pool.fetch(self._sql.release_claim, now, lease_token)
        payload = wake_payload(row[0] for row in rows)
        if payload is not None:
            await self._db.pool.execute(self._sql.notify, self._sql.tasks_channel, payload)
        return len(rows)

    async def _give_back(self, claim: asyncio.Future[list[Any]], lease_token: str, now: float) -> None:
        """Undo a claim nobody received: its tasks become pending, the attempt not counted."""
        try:
            rows = await claim
            if rows:
                await self._db.pool.execute(self._sql.unclaim, now, [row[0] for row in rows], lease_token)
        except Exception:
            logger.warning("could not give back the tasks of a cancelled claim", exc_info=True)

    @writes
    async def heartbeat(
        self, leases: Sequence[tuple[str, str]], *, lease_expires_at: float, now: float
    ) -> list[str]:
        """Renew every lease still held in one statement; return the ids of the others."""
        if not leases:
            return []
        rows = await self._db.pool.fetch(
            self._sql.heartbeat, lease_expires_at, now, *lease_parameters(leases)
        )
        renewed = {(row[0], row[1]) for row in rows}
        return [task_id for task_id, token in leases if (task_id, token) not in renewed]

    @writes
    async def finish(
        self, outcomes: Sequence[Outcome], *, events: Sequence[EventRecord] = ()
    ) -> FinishReport:
        """Settle the outcomes whose token is the current lease, and store the events of those
        settled, in one statement.

        When a finish fails, the server may have committed it before the connection dropped; its
        retry would then find the leases settled and wrongly report the outcomes as refused (and
        the worker would drop their results). So the pairs of a failed finish are remembered, and
        the next finish also accepts those whose own lease settled the task.
        """
        if not outcomes:
            return FinishReport()
        with self._doubt_on_failure(outcomes):
            return await self._settle(self._db.pool, outcomes, events)

    @writes
    async def finish_with_results(
        self,
        outcomes: Sequence[Outcome],
        results: Sequence[ResultRecord],
        *,
        events: Sequence[EventRecord] = (),
    ) -> FinishReport:
        """:meth:`finish` and store the results of the accepted outcomes, in one transaction: a
        task is never completed without its result. Lost replies are handled as in ``finish``
        (storing a result again replaces it with itself)."""
        if not outcomes:
            return FinishReport()
        with self._doubt_on_failure(outcomes):
            async with self._db.transaction() as conn:
                report = await self._settle(conn, outcomes, events)
                held = set(report.accepted)
                kept = [result for result in results if result.task_id in held]
                if kept:
                    await self._store_results(conn, kept)
        return report

    @contextlib.contextmanager
    def _doubt_on_failure(self, outcomes: Sequence[Outcome]) -> Iterator[None]:
        pairs = [(o.task_id, o.lease_token) for o in outcomes]
        try:
            yield
        except Exception:
            self._doubtful_finishes.update(pairs)
            raise
        if self._doubtful_finishes:
            self._doubtful_finishes.difference_update(pairs)

    async def _settle(
        self, executor: Any, outcomes: Sequence[Outcome], events: Sequence[EventRecord]
    ) -> FinishReport:
        """Run the finish statement on ``executor`` (the pool or a connection in a transaction)."""
        parameters: list[Any] = list(outcome_parameters(outcomes))
        doubtful = self._doubtful_finishes
        in_doubt = [o.task_id for o in outcomes if (o.task_id, o.lease_token) in doubtful] if doubtful else []
        sql = self._sql
        if in_doubt:
            parameters.append(in_doubt)
            statement = sql.finish_confirming_with_events if events else sql.finish_confirming
        else:
            statement = sql.finish_with_events if events else sql.finish
        if events:
            parameters.append(events_json(events).decode())
        rows = await executor.fetch(statement, *parameters)
        return FinishReport.settled(outcomes, (row[0] for row in rows), {row[0] for row in rows if row[1]})

    @writes
    async def reap(self, now: float) -> ReapReport:
        """Recover expired leases, expire tasks past their TTL, then resolve the dependents of
        finished tasks left unresolved (a worker that died between ``finish`` and
        ``resolve_dependencies``; tasks that ended by lease or TTL here).

        Rows are locked with ``SKIP LOCKED`` and edges are taken by ``DELETE ... RETURNING``, so
        reapers of many workers split them and each change is reported by one of them.
        """
        pool = self._db.pool
        recovered = await pool.fetch(self._sql.recover_leases, now, LEASE_EXPIRED_ERROR)
        expired = await pool.fetch(self._sql.expire, now)
        unresolved = await dependencies.unresolved_finished(pool, self._deps)
        report = ReapReport(
            expired=_readable(sorted(expired, key=_by_seq), "the expired tasks"),
            dependencies=await self._resolve(unresolved, now) if unresolved else DependencyReport(),
        )
        for record in _readable(sorted(recovered, key=_by_seq), "the recovered tasks"):
            (report.dead if record.status is TaskStatus.DEAD else report.requeued).append(record)
        payload = wake_payload(record.queue for record in report.requeued)
        if payload is not None:
            await pool.execute(self._sql.notify, self._sql.tasks_channel, payload)
        return report

    @reads
    async def get_task(self, task_id: str) -> TaskRecord | None:
        """One task by id."""
        return await self._fetch_task(task_id)

    async def _fetch_task(self, task_id: str) -> TaskRecord | None:
        row = await self._db.pool.fetchrow(self._sql.get_task, task_id)
        return read_one_task(row, task_from_row, task_id)

    @reads
    async def list_tasks(
        self,
        *,
        queue: str | None = None,
        status: TaskStatus | None = None,
        limit: int = 100,
    ) -> list[TaskRecord]:
        """Tasks filtered by queue and status, oldest first.

        The status is written into the SQL as a literal (a ``TaskStatus`` value, never user text) so
        that the planner can pick a partial index, such as the one on dead tasks.
        """
        conditions = []
        parameters: list[Any] = []
        if queue is not None:
            parameters.append(queue)
            conditions.append(f"queue = ${len(parameters)}")
        if status is not None:
            conditions.append(f"status = '{TaskStatus(status).value}'")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        parameters.append(limit)
        query = f"{self._sql.select_tasks}{where} ORDER BY created_at, seq LIMIT ${len(parameters)}"
        return _readable(await self._db.pool.fetch(query, *parameters), "the listing")

    @reads
    async def count_tasks(self) -> dict[str, dict[str, int]]:
        """Task counts per queue and status."""
        counts: dict[str, dict[str, int]] = {}
        for queue, status, count in await self._db.pool.fetch(self._sql.count_tasks):
            counts.setdefault(queue, {})[status] = count
        return counts

    @writes
    async def cancel(self, task_id: str, now: float) -> TaskChange | None:
        """Cancel a task not yet final; a running one loses its lease."""
        row = await self._db.pool.fetchrow(self._sql.cancel, now, task_id, self._sql.cancels_channel)
        return await self._change(row, task_id)

    @writes
    async def requeue(
        self, task_id: str, now: float, *, events: Sequence[EventRecord] = ()
    ) -> TaskChange | None:
        """Make a dead, cancelled or expired task pending again with fresh attempts (and store
        ``events`` with the change, in one transaction)."""
        if not events:
            row = await self._db.pool.fetchrow(self._sql.requeue, now, task_id, self._sql.tasks_channel)
            return await self._change(row, task_id)
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(self._sql.requeue, now, task_id, self._sql.tasks_channel)
            if row is not None:
                await conn.execute(self._sql.insert_events, events_json(events).decode())
        return await self._change(row, task_id)

    async def _change(self, row: Any, task_id: str) -> TaskChange | None:
        """The change a ``cancel`` or ``requeue`` statement made (its row), or, when it matched
        no row, the task as it is, unchanged."""
        if row is not None:
            record = read_one_task(row, task_from_row, task_id)
            assert record is not None
            return TaskChange(task=record, changed=True)
        unchanged = await self._fetch_task(task_id)
        return None if unchanged is None else TaskChange(task=unchanged, changed=False)

    @writes
    async def purge_tasks(
        self, status: TaskStatus, *, before: float | None = None, limit: int | None = None
    ) -> int:
        """Delete up to ``limit`` tasks in ``status`` last changed before ``before``, and the
        dependency edges they kept as waiting tasks, in one statement; rows another transaction
        holds are skipped, so purging workers do not wait on each other. A finished task whose
        dependents are not resolved yet is kept until they are (by the next reap at the latest)."""
        purged: int = await self._db.pool.fetchval(self._deps.purge, TaskStatus(status).value, before, limit)
        return purged

    async def wait_for_tasks(self, queues: Sequence[str], timeout: float) -> None:
        """Return when a notification says tasks of ``queues`` became claimable, or after ``timeout``.

        Returns at once if a notification came while the last claim ran. While the listener is
        down this sleeps for ``timeout``: the worker then polls at its poll interval.
        """
        seen, self._notes_at_claim = self._notes_at_claim, None
        if seen is not None and seen != self._task_waiters.count:
            return
        if not await self._listener.ready():
            await asyncio.sleep(timeout)
            return
        if seen is not None and seen != self._task_waiters.count:
            return  # the listener (re)connected while this waited for it
        with self._task_waiters.waiting(queues) as arrival:
            await asyncio.wait((arrival,), timeout=timeout)

    @contextlib.asynccontextmanager
    async def watch_cancellations(
        self, worker_id: str, on_cancel: Callable[[str], None]
    ) -> AsyncIterator[bool]:
        """Call ``on_cancel`` with the id of every running task cancelled in this schema (a
        ``NOTIFY`` on the cancels channel, sent at the cancel's commit); every watcher hears every
        such cancel. While the listener is down nothing arrives: heartbeats stand in."""
        del worker_id  # one channel for all: cancels are rare, and workers ignore others' tasks
        await self._listener.ready()
        self._cancel_watchers.append(on_cancel)
        try:
            yield True
        finally:
            self._cancel_watchers.remove(on_cancel)

    def _cancel_pushed(self, payload: str) -> None:
        for on_cancel in list(self._cancel_watchers):
            on_cancel(payload)

    def _listener_changed(self) -> None:
        """Notifications may have been missed: wake every waiter to look again."""
        self._task_waiters.notify(None)
        self._result_waiters.notify(None)

    # -- results ----------------------------------------------------------------------------

    @writes
    async def put_results(self, records: Sequence[ResultRecord]) -> None:
        """Store or replace results in one statement, which wakes the waiters for them."""
        if records:
            await self._store_results(self._db.pool, records)

    async def _store_results(self, executor: Any, records: Sequence[ResultRecord]) -> None:
        payload = wake_payload(record.task_id for record in records) or ""
        await executor.execute(
            self._sql.put_results, results_json(records).decode(), self._sql.results_channel, payload
        )

    @writes
    async def delete_results(self, task_ids: Sequence[str]) -> None:
        """Delete these tasks' results (a requeued task starts without one)."""
        if task_ids:
            await self._db.pool.execute(self._sql.delete_results_of, list(task_ids))

    @reads
    async def get_result(self, task_id: str) -> ResultRecord | None:
        """The task's result unless it has expired (rows past expiry wait for the purge)."""
        row = await self._db.pool.fetchrow(self._sql.get_result, task_id)
        if row is None:
            return None
        return live_result(result_from_row(row), time.time())

    @writes
    async def purge_results(self, now: float) -> int:
        """Delete results whose expiry has passed."""
        return _count(await self._db.pool.execute(self._sql.delete_results, now))

    async def wait_for_result(self, task_id: str, timeout: float) -> ResultRecord | None:
        """The result once stored: looks again when a notification names the task, so it returns
        as soon as the result is committed; polls with a growing pause while the listener is down."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pause = 0.005
        while True:
            listening = await self._listener.ready()
            with self._result_waiters.waiting([task_id]) as stored:
                record = await self.get_result(task_id)  # after subscribing: no commit slips between
                remaining = deadline - loop.time()
                if record is not None or remaining <= 0:
                    return record
                if listening:
                    await asyncio.wait((stored,), timeout=remaining)
                else:
                    await asyncio.sleep(min(pause, remaining))
                    pause = min(pause * 2, 0.25)

    # -- events -----------------------------------------------------------------------------

    @writes
    async def append_events(self, records: Sequence[EventRecord]) -> None:
        """Store events in one statement."""
        if records:
            await self._db.pool.execute(self._sql.insert_events, events_json(records).decode())

    @reads
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
            "task_id = ${}": task_id,
            "type = ANY(${}::text[])": None if types is None else list(types),
            "at >= ${}": since,
            "at < ${}": until,
        }
        conditions = []
        parameters: list[Any] = []
        for condition, value in filters.items():
            if value is not None:
                parameters.append(value)
                conditions.append(condition.format(len(parameters)))
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        parameters.append(limit)
        query = f"{self._sql.select_events}{where} ORDER BY at, id LIMIT ${len(parameters)}::bigint"
        return [event_from_row(row) for row in await self._db.pool.fetch(query, *parameters)]

    @writes
    async def purge_events(self, before: float) -> int:
        """Delete events older than ``before``."""
        return _count(await self._db.pool.execute(self._sql.delete_events, before))


def _row_id(row: Sequence[Any]) -> Any:
    return row[0]


def _readable(rows: Sequence[Any], where: str) -> list[TaskRecord]:
    return readable_tasks(rows, task_from_row, _row_id, where)


def _by_seq(row: Sequence[Any]) -> int:
    seq: int = row[_SEQ]
    return seq


def _count(status: str) -> int:
    """The row count of a command status such as ``DELETE 3``."""
    return int(status.rpartition(" ")[2])
