"""``RedisBackend``: the task queue, result store and event store on one Redis server.

Every state change is one Lua script (see ``lua/``), so no read-then-write race exists between
workers: a claim leases up to ``limit`` due tasks in one call, a batch of outcomes is settled in
one call, and the reaper moves expired leases and TTLs in one call. Idle workers block on a
per-queue wake-up list (``BLPOP``) that enqueues and retries push to.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Self, cast

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from omniq.core.backend_options import convert_options
from omniq.core.corrupt import Unreadable, read_one_task, readable_tasks, split_readable, unreadable_error
from omniq.core.errors import ValidationError
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
from omniq.core.urls import mask_url
from omniq.redis._codec import (
    DEPENDENCY_FAILED,
    decode_event,
    decode_result,
    decode_tasks,
    encode_event,
    encode_result,
    enqueue_item,
    number,
    pack,
    packed_events,
    read_task_row,
    task_rows,
)
from omniq.redis._connection import check_server, make_client, translated_errors
from omniq.redis._errors import RedisUnavailableError
from omniq.redis._keys import Keys
from omniq.redis._schedules import RedisSchedules
from omniq.redis._scripts import Arg, load_script
from omniq.redis._url import RedisConfig, parse_url
from omniq.redis._waits import blpop, relay_cancels, wait_for_result

__all__ = ["RedisBackend"]

#: Records per script call: big enough to amortise the round trip, small enough that no single
#: script holds the server for long.
CHUNK = 1000
#: Leases, TTLs, results or events one reaping or purging script handles per call.
SWEEP = 1000
#: Delayed tasks one claim promotes per queue.
PROMOTE_CAP = 1000
#: A finish whose connection failed (reply in doubt) is sent again after each of these pauses, then
#: every ``IN_DOUBT_RESEND_INTERVAL`` seconds, so that it lands as soon as the server answers again,
#: for ``IN_DOUBT_WINDOW`` seconds: longer than a server restart or a failover. After that the
#: worker's own retry is a new call (refused if the first was applied: the worker then skips the
#: task's callbacks).
IN_DOUBT_FIRST_RESENDS = (0.02, 0.05, 0.1)
IN_DOUBT_RESEND_INTERVAL = 0.25
IN_DOUBT_WINDOW = 30.0
_TASK_STATUSES = tuple(status.value for status in TaskStatus)
_RUNNING = TaskStatus.RUNNING.value
_decode_running = msgspec.msgpack.Decoder(list[tuple[str, str, str]]).decode
#: The error of a task whose key holds no hash, which ``claim.lua`` sends to dead.
_UNREADABLE_TEMPLATE = unreadable_error(Unreadable("", "@REASON@"))

logger = logging.getLogger("omniq.redis")


class RedisBackend(BaseTaskQueue, TaskAdmin, BaseResultStorage, BaseEventStorage, RedisSchedules):
    """Task queue, result store, event store and schedules on a Redis server, under one key prefix.

    Args:
        url: ``redis://[user:password@]host[:port][/db]``, ``rediss://...`` (TLS) or
            ``unix:///path.sock?db=n``; query options other than OmniQ's go to redis-py.
        options: ``prefix`` (default ``omniq``: every key is ``{prefix}:...``) and
            ``events_maxlen`` (about how many events the stream keeps); they win over the URL's.

    One object serves every role over one connection pool; use it from one event loop at a time.
    """

    shared_across_processes: ClassVar[bool] = True

    def __init__(self, url: str = "redis://localhost:6379/0", **options: Any) -> None:
        self._client_url, parsed = parse_url(url, options)
        self.url = mask_url(url)
        self.prefix = parsed.prefix
        self.events_maxlen = parsed.events_maxlen
        self.keys = Keys(parsed.prefix)
        self._client: Redis | None = None
        self._header = ""
        self.use_settings(Settings())

    @classmethod
    def from_options(cls, options: Mapping[str, Any], settings: Settings, *, where: str = "config") -> Self:
        """``{type: redis, config: {...}}``: the server as ``url`` or as ``host``, ``port``,
        ``username``, ``password``, ``db``; and ``prefix``, ``events_maxlen``."""
        parsed = convert_options(options, RedisConfig, where)
        backend = cls(parsed.server_url(where), **parsed.options())
        backend.use_settings(settings)
        return backend

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """``redis://``, ``rediss://`` or ``unix://`` URIs, optionally ``?prefix=...``.

        Raises:
            omniq.core.errors.ConfigurationError: naming ``url`` (password masked) if it is
                malformed or sets an invalid option.
        """
        return cls(url, **options)

    def use_settings(self, settings: Settings) -> None:
        """Take ``task_retention`` and ``dead_retention``: a final task's record expires that long
        after it is stored (``PX``), unless tasks wait on it; the worker's retention purge deletes
        what is left."""
        self._header = (
            f"{self.keys.base} {_millis(settings.task_retention)} {_millis(settings.dead_retention)}"
        )

    def __repr__(self) -> str:
        return f"RedisBackend({self.url!r}, prefix={self.prefix!r})"

    @property
    def client(self) -> Redis:
        """The open redis-py client."""
        if self._client is None:
            raise RuntimeError(f"{self!r} is not open; call open() or use 'async with'")
        return self._client

    async def open(self) -> None:
        """Connect, check the server's eviction policy (a warning if it may evict), load scripts.

        Raises:
            omniq.redis.RedisUnavailableError: naming the server when it cannot be reached.
        """
        if self._client is not None:
            return
        client = make_client(self._client_url, self.url)
        try:
            await check_server(client, self.url)
        except BaseException:
            await client.aclose()
            raise
        self._client = client

    async def close(self) -> None:
        """Close the connection pool (idempotent)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _script(self, name: str, args: Sequence[Arg]) -> Any:
        with translated_errors(self.url, self.prefix):
            return await load_script(name)(self.client, [self.keys.anchor], [self._header, *args])

    # -- task queue -------------------------------------------------------------------------

    async def enqueue(
        self, records: Sequence[TaskRecord], *, events: Sequence[EventRecord] = ()
    ) -> list[str]:
        """Store tasks (a script call per ``CHUNK``) with the ``events`` about those stored; a
        live task holding a record's dedup key, also an earlier record of the same call, stands in
        for it, and a stored id is not stored again."""
        ids: list[str] = []
        # The first call checks every dependency of the batch, so an unknown one stores nothing.
        required = sorted({d for record in records for d in record.depends_on})
        for start in range(0, len(records), CHUNK):
            chunk = records[start : start + CHUNK]
            items = pack([enqueue_item(record) for record in chunk])
            check = pack(required if start == 0 else [])
            about = packed_events(events_about(events, {record.id for record in chunk}))
            stored, holders = await self._script(
                "enqueue",
                [
                    items,
                    check,
                    DEPENDENCY_FAILED,
                    about,
                    self.events_maxlen,
                    *(record.data for record in chunk),
                ],
            )
            if not stored:
                unknown = ", ".join(task_id.decode() for task_id in holders)
                raise ValidationError("depends_on", f"unknown task ids: {unknown}")
            ids += [holder.decode() for holder in holders]
        return ids

    async def resolve_dependencies(self, task_ids: Sequence[str], now: float) -> DependencyReport:
        """Release or cancel (down the graph) the tasks waiting on these tasks, in one script call."""
        if not task_ids:
            return DependencyReport()
        released, cancelled = await self._script(
            "resolve_dependencies", [number(now), DEPENDENCY_FAILED, *task_ids]
        )
        return DependencyReport(
            released=_readable(released, "the released dependents"),
            cancelled=_readable(cancelled, "the cancelled dependents"),
        )

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
        """Lease up to ``limit`` due tasks, earlier queues first, in one script call (with their
        ``executing`` events if told); the leased tasks that cannot be read go to ``dead`` with
        the reason (see :mod:`omniq.core.corrupt`)."""
        order = list(dict.fromkeys(queues))
        if limit <= 0 or not order:
            return []
        lease: list[Arg] = [limit, lease_token, number(lease_expires_at), worker_id]
        events: list[Arg] = ["1" if write_events else "0", self.events_maxlen]
        reply = await self._script(
            "claim", [number(now), *lease, PROMOTE_CAP, _UNREADABLE_TEMPLATE, *events, *order]
        )
        try:
            return decode_tasks(reply)
        except Exception:  # noqa: BLE001 - a corrupt task: read them one by one
            return await self._claimed_readable(reply, lease_token, now)

    async def _claimed_readable(self, reply: Any, lease_token: str, now: float) -> list[TaskRecord]:
        readable, unreadable = split_readable(task_rows(reply), read_task_row, _row_id)
        if unreadable:
            await self.finish(
                [
                    Outcome(
                        task_id=item.task_id,
                        lease_token=lease_token,
                        status=TaskStatus.DEAD,
                        at=now,
                        error=unreadable_error(item),
                    )
                    for item in unreadable
                ]
            )
            for item in unreadable:
                logger.error("task %s cannot be read and goes to dead: %s", item.task_id, item.reason)
        return readable

    async def release_claim(self, lease_token: str, now: float) -> int:
        """Give back the tasks still leased under ``lease_token``, in one script call."""
        released: int = await self._script("release_claim", [lease_token, number(now)])
        return released

    async def heartbeat(
        self, leases: Sequence[tuple[str, str]], *, lease_expires_at: float, now: float
    ) -> list[str]:
        """Renew every lease still held in one script call; return the ids of the others."""
        if not leases:
            return []
        args: list[Arg] = [number(lease_expires_at), number(now)]
        for task_id, token in leases:
            args += (task_id, token)
        return [task_id.decode() for task_id in await self._script("heartbeat", args)]

    async def finish(
        self, outcomes: Sequence[Outcome], *, events: Sequence[EventRecord] = ()
    ) -> FinishReport:
        """Settle the outcomes whose token is the current lease, in one script call."""
        return await self.finish_with_results(outcomes, (), events=events)

    async def finish_with_results(
        self,
        outcomes: Sequence[Outcome],
        results: Sequence[ResultRecord],
        *,
        events: Sequence[EventRecord] = (),
    ) -> FinishReport:
        """Settle the outcomes and store the results of the accepted ones in one script call, so
        a crash never leaves a finished task without its result.

        A call whose connection fails may have been applied with only its reply lost (in doubt).
        So each call carries a random id, which the script keeps in every task it settles, and is
        sent again (after ``IN_DOUBT_RESENDS``; redis-py 6+ also re-sends by itself): the same call
        arriving again reports the outcomes it settled as accepted again and changes nothing.
        That is no exception to the contract's "a finish whose token does not match changes
        nothing": the repeat changes nothing. A *new* call with an already settled token is
        still refused, as the contract requires.
        """
        if not outcomes:
            return FinishReport()
        items = [
            (o.task_id, o.lease_token, o.status.value, number(o.at), _optional(o.due_at), o.error or "")
            for o in outcomes
        ]
        meta, values = _packed_results(results)
        about: list[Arg] = [packed_events(events), self.events_maxlen]
        args: list[Arg] = [uuid.uuid4().hex, pack(items), meta, *about, *values]
        give_up_at = time.monotonic() + IN_DOUBT_WINDOW
        resends = 0
        while True:
            try:
                accepted, waited = await self._script("finish", args)
            except RedisUnavailableError:
                if time.monotonic() >= give_up_at:
                    raise
                pauses = IN_DOUBT_FIRST_RESENDS
                await asyncio.sleep(pauses[resends] if resends < len(pauses) else IN_DOUBT_RESEND_INTERVAL)
                resends += 1
            else:
                return FinishReport.settled(
                    outcomes,
                    (task_id.decode() for task_id in accepted),
                    {task_id.decode() for task_id in waited},
                )

    async def reap(self, now: float) -> ReapReport:
        """Recover expired leases and expire tasks past their TTL (up to ``SWEEP`` of each per
        call; the rest at the next call). Atomic, so concurrent reapers report each change once."""
        kinds, tasks = await self._script(
            "reap", [number(now), LEASE_EXPIRED_ERROR, SWEEP, DEPENDENCY_FAILED]
        )
        report = ReapReport()
        lists = {
            b"requeued": report.requeued,
            b"dead": report.dead,
            b"expired": report.expired,
            b"released": report.dependencies.released,
            b"dependency_cancelled": report.dependencies.cancelled,
        }
        for kind, row in zip(kinds, task_rows(tasks), strict=True):
            lists[kind] += readable_tasks(
                [row], read_task_row, _row_id, f"the reaper's {kind.decode()} tasks"
            )
        return report

    async def get_task(self, task_id: str) -> TaskRecord | None:
        """One task by id."""
        return _one_task(await self._script("get_tasks", [task_id]), task_id)

    async def list_tasks(
        self,
        *,
        queue: str | None = None,
        status: TaskStatus | None = None,
        limit: int = 100,
    ) -> list[TaskRecord]:
        """Tasks filtered by queue and status, oldest first (from the per-status indexes and,
        for running ones, the lease index)."""
        if limit <= 0:
            return []
        statuses = [TaskStatus(status).value] if status is not None else list(_TASK_STATUSES)
        with translated_errors(self.url, self.prefix):
            queues = [queue] if queue is not None else await self._queues()
            async with self.client.pipeline(transaction=False) as pipe:
                for name in queues:
                    for value in statuses:
                        if value != _RUNNING:
                            pipe.zrange(self.keys.status(name, value), 0, limit - 1, withscores=True)
                pages: list[list[tuple[bytes, float]]] = await pipe.execute()
        found = [(score, member) for page in pages for member, score in page]
        if _RUNNING in statuses:
            running = await self._running()
            found += [(created, task_id) for name, created, task_id in running if name in queues]
        ids = [member for _, member in sorted(found)[:limit]]
        tasks: list[TaskRecord] = []
        for start in range(0, len(ids), CHUNK):
            tasks += _readable(await self._script("get_tasks", ids[start : start + CHUNK]), "the task list")
        return tasks

    async def _running(self) -> list[tuple[str, float, bytes]]:
        """(queue, created_at, id) of every running task."""
        rows = _decode_running(await self._script("running_tasks", []))
        return [(name, float(created), task_id.encode()) for name, created, task_id in rows]

    async def _queues(self) -> list[str]:
        members = await cast(Awaitable[set[bytes]], self.client.smembers(self.keys.queues))
        return sorted(member.decode() for member in members)

    async def count_tasks(self) -> dict[str, dict[str, int]]:
        """Task counts per queue and status (the sizes of the per-status indexes; running tasks
        counted in the lease index)."""
        statuses = [value for value in _TASK_STATUSES if value != _RUNNING]
        with translated_errors(self.url, self.prefix):
            queues = await self._queues()
            async with self.client.pipeline(transaction=False) as pipe:
                for name in queues:
                    for value in statuses:
                        pipe.zcard(self.keys.status(name, value))
                sizes: list[int] = await pipe.execute()
        counts: dict[str, dict[str, int]] = {}
        pairs = ((name, value) for name in queues for value in statuses)
        for (name, value), size in zip(pairs, sizes, strict=True):
            if size:
                counts.setdefault(name, {})[value] = size
        for name, _, _ in await self._running():
            per_status = counts.setdefault(name, {})
            per_status[_RUNNING] = per_status.get(_RUNNING, 0) + 1
        return counts

    async def cancel(self, task_id: str, now: float) -> TaskChange | None:
        """Cancel a task not yet final; a running one loses its lease."""
        return _change(await self._script("cancel", [task_id, number(now)]), task_id)

    async def requeue(
        self, task_id: str, now: float, *, events: Sequence[EventRecord] = ()
    ) -> TaskChange | None:
        """Make a dead, cancelled or expired task pending again with fresh attempts (and store
        ``events`` if this call did)."""
        args: list[Arg] = [task_id, number(now), packed_events(events), self.events_maxlen]
        return _change(await self._script("requeue", args), task_id)

    async def purge_tasks(
        self, status: TaskStatus, *, before: float | None = None, limit: int | None = None
    ) -> int:
        """Delete up to ``limit`` tasks in ``status`` last changed before ``before``; also removes
        (and counts) the ids whose final record has expired from the status index."""
        purged: int = await self._script(
            "purge_tasks",
            [TaskStatus(status).value, _optional(before), "" if limit is None else str(limit)],
        )
        return purged

    @contextlib.asynccontextmanager
    async def watch_cancellations(
        self, worker_id: str, on_cancel: Callable[[str], None]
    ) -> AsyncIterator[bool]:
        """Call ``on_cancel`` with the id of every task leased to ``worker_id`` that is cancelled:
        ``cancel.lua`` pushes it to the worker's cancel list, which a task of this loop blocks on
        (``BLPOP``, one connection of the pool). Ids pushed while nobody blocked wait there
        (for a minute), so the watch is live from the start."""
        relay = asyncio.create_task(
            relay_cancels(self.client, self.keys.cancels(worker_id), on_cancel), name="omniq-redis-cancels"
        )
        try:
            yield True
        finally:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay

    async def wait_for_tasks(self, queues: Sequence[str], timeout: float) -> None:
        """Block on the queues' wake-up lists (``BLPOP``) until a task may be claimable, or until
        ``timeout``; no sooner than the first delayed task falls due.

        A failing server makes this sleep instead: the worker's next claim reports the error.
        """
        names = list(dict.fromkeys(queues))
        try:
            timeout = min(timeout, await self._until_first_due(names))
            if timeout <= 0:
                return
            await blpop(self.client, [self.keys.wake(name) for name in names], timeout)
        except (RedisError, OSError):
            await asyncio.sleep(timeout)

    async def _until_first_due(self, queues: Sequence[str]) -> float:
        async with self.client.pipeline(transaction=False) as pipe:
            for name in queues:
                pipe.zrange(self.keys.delayed(name), 0, 0, withscores=True)
            firsts: list[list[tuple[bytes, float]]] = await pipe.execute()
        due = [page[0][1] for page in firsts if page]
        return min(due) - time.time() if due else math.inf

    # -- results ----------------------------------------------------------------------------

    async def put_results(self, records: Sequence[ResultRecord]) -> None:
        """Store or replace results in one script call; each expires natively (``PX``) and is
        indexed by expiry so that :meth:`purge_results` can count them."""
        if not records:
            return
        for start in range(0, len(records), CHUNK):
            meta, values = _packed_results(records[start : start + CHUNK])
            await self._script("put_results", [meta, *values])

    async def delete_results(self, task_ids: Sequence[str]) -> None:
        """Delete these tasks' results (a requeued task starts without one)."""
        for start in range(0, len(task_ids), CHUNK):
            await self._script("delete_results", list(task_ids[start : start + CHUNK]))

    async def get_result(self, task_id: str) -> ResultRecord | None:
        """The task's result unless it has expired."""
        with translated_errors(self.url, self.prefix):
            value = await cast(Awaitable[bytes | None], self.client.get(self.keys.result(task_id)))
        return _live_result(task_id, value)

    async def wait_for_result(self, task_id: str, timeout: float) -> ResultRecord | None:
        """The task's result once stored, or ``None`` after ``timeout``: the waiter blocks on the
        task's notify list, which the script storing the result pushes to, instead of polling."""

        async def watch(until: float) -> ResultRecord | None:
            value = await self._script("watch_result", [task_id, number(time.time()), number(until)])
            return _live_result(task_id, value)

        with translated_errors(self.url, self.prefix):
            return await wait_for_result(
                self.client, self.keys, task_id, timeout, watch=watch, get_result=self.get_result
            )

    async def purge_results(self, now: float) -> int:
        """Delete results whose expiry has passed (Redis drops their values by itself; this
        clears the expiry index and counts them)."""
        purged = 0
        while True:
            removed: int = await self._script("purge_results", [number(now), SWEEP])
            purged += removed
            if removed < SWEEP:
                return purged

    # -- events -----------------------------------------------------------------------------

    async def append_events(self, records: Sequence[EventRecord]) -> None:
        """Append events to the stream with their indexes; the oldest beyond ``events_maxlen``
        go, with their index entries, in the same script call. The same batch sent again (a
        retry after a lost reply) is appended once: each call carries the batch's digest."""
        for start in range(0, len(records), CHUNK):
            packed = pack([encode_event(record) for record in records[start : start + CHUNK]])
            digest = hashlib.blake2b(packed, digest_size=16).hexdigest()
            await self._script("append_events", [self.events_maxlen, packed, digest])

    async def query_events(
        self,
        *,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[EventRecord]:
        """Events matching every given filter, oldest first, read through the stream by arrival
        time (the events out of step with it through their own time index) or the task index."""
        if limit is not None and limit <= 0:
            return []
        if types is not None and not types:
            return []
        args: list[Arg] = [
            task_id or "",
            "" if since is None else number(since),
            "" if until is None else number(until),
            -1 if limit is None else limit,
            *(types or ()),
        ]
        return [decode_event(fields) for fields in await self._script("query_events", args)]

    async def purge_events(self, before: float) -> int:
        """Delete events older than ``before`` from the stream and its indexes (``SWEEP`` of
        each kind per script call, each call going on where the last one stopped)."""
        deleted, start = 0, b""
        while True:
            gone: int
            more, gone, start = await self._script("purge_events", [number(before), SWEEP, start])
            deleted += gone
            if not more:
                return deleted


def _one_task(reply: Any, task_id: str) -> TaskRecord | None:
    """The task of a script replying with one task or none; :class:`PayloadError` names it if it
    cannot be read."""
    rows = task_rows(reply)
    return read_one_task(rows[0] if rows else None, read_task_row, task_id)


def _change(reply: Any, task_id: str) -> TaskChange | None:
    """The reply of ``cancel.lua`` or ``requeue.lua``: whether it changed the task, and the task."""
    if not reply:
        return None
    changed, task = reply
    record = _one_task(task, task_id)
    return None if record is None else TaskChange(task=record, changed=bool(changed))


def _readable(reply: Any, where: str) -> list[TaskRecord]:
    """The tasks of a script's reply that can be read; the others are named in the log as left
    out of ``where``."""
    try:
        return decode_tasks(reply)
    except Exception:  # noqa: BLE001 - a corrupt task: read them one by one
        return readable_tasks(task_rows(reply), read_task_row, _row_id, where)


def _row_id(row: Any) -> Any:
    return row[0][0]


def _live_result(task_id: str, value: bytes | None) -> ResultRecord | None:
    """A stored result unless it has expired (Redis may not have dropped it yet)."""
    return None if value is None else live_result(decode_result(task_id, value), time.time())


def _millis(seconds: float | None) -> str:
    """A retention for the scripts: whole milliseconds, at least one; ``-`` for none."""
    return "-" if seconds is None else str(max(1, round(seconds * 1000)))


def _optional(value: float | None) -> str:
    return "" if value is None else number(value)


def _packed_results(records: Sequence[ResultRecord]) -> tuple[bytes, list[bytes]]:
    """Results as script arguments: one packed list of (id, milliseconds to live, expiry), then
    each encoded result."""
    now = time.time()
    meta = [
        (r.task_id, "", "")
        if r.expires_at is None
        else (r.task_id, max(1, math.ceil((r.expires_at - now) * 1000)), number(r.expires_at))
        for r in records
    ]
    return pack(meta), [encode_result(r) for r in records]
