"""The in-memory backend (``memory://name``): the reference implementation of the contract.

Stores live in the process, one per name, so that an application and a worker in one process share
``memory://jobs``. Nothing survives the process; use it for tests and for trying OmniQ out.
Every operation runs under one lock, so stores are safe to share between event loops in threads.

The task queue and its admin are here; the store itself (``_memory_store``), results, events,
schedules and push wake-ups (``_memory_results``, ``_memory_events``, ``_memory_schedules``,
``_memory_wakeups``) are parts of :class:`MemoryBackend` in their own modules.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Self

import msgspec

from omniq.core._memory_events import MemoryEvents
from omniq.core._memory_results import MemoryResults
from omniq.core._memory_schedules import MemorySchedules
from omniq.core._memory_store import Store, wake
from omniq.core._memory_wakeups import MemoryWakeups
from omniq.core.backend_options import convert_options
from omniq.core.dependency_rules import cascade, fate_of, start_status
from omniq.core.errors import ValidationError
from omniq.core.interfaces import (
    TaskAdmin,
)
from omniq.core.models import TaskStatus
from omniq.core.records import (
    CLAIMABLE_STATUSES,
    LEASE_EXPIRED_ERROR,
    LIVE_STATUSES,
    DependencyReport,
    EventRecord,
    FinishReport,
    Outcome,
    ReapReport,
    TaskChange,
    TaskRecord,
    events_about,
    executing_event,
)
from omniq.core.settings import Settings

__all__ = ["MemoryBackend", "MemoryOptions"]

_replace = msgspec.structs.replace


class MemoryOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a ``{type: memory, config: ...}`` section may set."""

    #: The store's name (``memory://name``); defaults to the project name.
    name: str | None = None


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


class MemoryBackend(MemoryWakeups, TaskAdmin, MemoryResults, MemoryEvents, MemorySchedules):
    """Task queue, result store, event store and schedules in this process's memory."""

    shared_across_processes: ClassVar[bool] = False

    def __init__(self, name: str = "") -> None:
        self.name = name
        with _stores_lock:
            self._s = _stores.setdefault(name, Store())

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """``memory://name``: the store called ``name`` in this process."""
        return cls(url.partition("://")[2].strip("/"), **options)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], settings: Settings, *, where: str = "config") -> Self:
        """``{type: memory, config: {name: ...}}``; the name defaults to the project's."""
        parsed = convert_options(options, MemoryOptions, where)
        return cls(settings.project_name if parsed.name is None else parsed.name)

    def __repr__(self) -> str:
        return f"MemoryBackend({self.name!r})"

    async def open(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release; the store lives as long as the process."""

    # -- task queue -------------------------------------------------------------------------

    async def enqueue(
        self, records: Sequence[TaskRecord], *, events: Sequence[EventRecord] = ()
    ) -> list[str]:
        with self._s.lock:
            return self._enqueue_locked(records, events)

    def _enqueue_locked(self, records: Sequence[TaskRecord], events: Sequence[EventRecord]) -> list[str]:
        s = self._s
        unknown = sorted({d for r in records for d in r.depends_on if d not in s.tasks})
        if unknown:
            raise ValidationError("depends_on", f"unknown task ids: {', '.join(unknown)}")
        ids = []
        stored_ids = set()
        for record in records:
            if record.id in s.tasks:  # a repeat of a call whose reply was lost
                ids.append(record.id)
                continue
            holder = s.dedup.get(record.dedup_key) if record.dedup_key else None
            if holder is not None:
                ids.append(holder)
                continue
            stored = self._attach_dependencies(record) if record.depends_on else record
            s.tasks[stored.id] = stored
            s.sequence[stored.id] = next(s.counter)
            if stored.dedup_key is not None and stored.status in LIVE_STATUSES:
                s.dedup[stored.dedup_key] = stored.id
            if stored.status in CLAIMABLE_STATUSES:
                s.schedule(stored, stored.created_at)
            ids.append(stored.id)
            stored_ids.add(stored.id)
        s.events.extend(events_about(events, stored_ids))
        wake(s.task_waiters)
        return ids

    def _attach_dependencies(self, record: TaskRecord) -> TaskRecord:
        """The record as it starts: waiting on its unfinished dependencies, or already decided."""
        s = self._s
        started = start_status(record, {d: s.tasks[d].status for d in record.depends_on})
        for dependency_id in started.waits_for:
            s.dependents.setdefault(dependency_id, set()).add(record.id)
        if started.waits_for:
            s.waiting_on[record.id] = len(started.waits_for)
        return started.record

    async def resolve_dependencies(self, task_ids: Sequence[str], now: float) -> DependencyReport:
        with self._s.lock:
            return self._resolve_locked(task_ids, now)

    def _resolve_locked(self, task_ids: Iterable[str], now: float) -> DependencyReport:
        s = self._s
        report = DependencyReport()
        pending = [task_id for task_id in task_ids if task_id in s.dependents]
        while pending:
            dependency_id = pending.pop()
            dependency = s.tasks.get(dependency_id)
            if dependency is None or fate_of(dependency.status) is None:
                continue
            s.unresolved.discard(dependency_id)
            waiting_ids = sorted(s.dependents.pop(dependency_id, ()))
            decision = cascade(
                (dependency_id, waiting_id, dependency.status)
                for waiting_id in waiting_ids
                if getattr(s.tasks.get(waiting_id), "status", None) is TaskStatus.WAITING
            )
            for waiting_id, count in decision.count_down.items():
                s.waiting_on[waiting_id] -= count
                if s.waiting_on[waiting_id] <= 0:
                    del s.waiting_on[waiting_id]
                    released = _replace(s.tasks[waiting_id], status=TaskStatus.PENDING, updated_at=now)
                    s.store(released)
                    s.schedule(released, now)
                    report.released.append(released)
            for waiting_id, error in decision.cancel.items():
                cancelled = _replace(
                    s.tasks[waiting_id], status=TaskStatus.CANCELLED, error=error, updated_at=now
                )
                s.store(cancelled)
                s.waiting_on.pop(waiting_id, None)
                report.cancelled.append(cancelled)
                pending.append(waiting_id)  # and so on down the graph
        if report.released:
            wake(s.task_waiters)
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
        s = self._s
        claimed: list[TaskRecord] = []
        with s.lock:
            s.promote(now)
            for queue in queues:
                heap = s.ready.get(queue)
                while heap and len(claimed) < limit:
                    _, due_at, seq, task_id = heapq.heappop(heap)
                    record = s.tasks.get(task_id)
                    if (
                        record is None
                        or record.status not in CLAIMABLE_STATUSES
                        or record.due_at != due_at
                        or s.sequence[task_id] != seq
                    ):
                        continue  # a stale heap entry: the task moved on since it was pushed
                    if record.expires_at is not None and record.expires_at <= now:
                        continue  # reap() reports it as expired
                    record = _replace(
                        record,
                        status=TaskStatus.RUNNING,
                        attempts=record.attempts + 1,
                        lease_token=lease_token,
                        lease_expires_at=lease_expires_at,
                        worker_id=worker_id,
                        updated_at=now,
                    )
                    s.tasks[task_id] = record
                    claimed.append(record)
            if write_events:
                s.events.extend(executing_event(record, now) for record in claimed)
        return claimed

    async def release_claim(self, lease_token: str, now: float) -> int:
        s = self._s
        with s.lock:
            held = [
                r for r in s.tasks.values() if r.lease_token == lease_token and r.status is TaskStatus.RUNNING
            ]
            for record in held:
                released = _replace(
                    record,
                    status=TaskStatus.PENDING,
                    attempts=record.attempts - 1,
                    lease_token=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
                s.store(released)
                s.schedule(released, now)
            if held:
                wake(s.task_waiters)
            return len(held)

    async def heartbeat(
        self, leases: Sequence[tuple[str, str]], *, lease_expires_at: float, now: float
    ) -> list[str]:
        s = self._s
        lost = []
        with s.lock:
            for task_id, token in leases:
                record = s.tasks.get(task_id)
                if record is None or record.lease_token != token:
                    lost.append(task_id)
                else:
                    s.tasks[task_id] = _replace(record, lease_expires_at=lease_expires_at, updated_at=now)
        return lost

    async def finish(
        self, outcomes: Sequence[Outcome], *, events: Sequence[EventRecord] = ()
    ) -> FinishReport:
        s = self._s
        accepted = []
        with s.lock:
            for outcome in outcomes:
                record = s.tasks.get(outcome.task_id)
                if record is None or record.lease_token != outcome.lease_token:
                    continue
                record = _replace(
                    record,
                    status=outcome.status,
                    due_at=record.due_at if outcome.due_at is None else outcome.due_at,
                    error=outcome.error,
                    lease_token=None,
                    lease_expires_at=None,
                    updated_at=outcome.at,
                    # Released by a stopping worker: the attempt is given back.
                    attempts=record.attempts - (outcome.status is TaskStatus.PENDING),
                )
                s.store(record)
                s.sequence[record.id] = next(s.counter)
                if record.status in CLAIMABLE_STATUSES:
                    s.schedule(record, outcome.at)
                accepted.append(outcome.task_id)
            s.events.extend(events_about(events, set(accepted)))
            wake(s.task_waiters)
            return FinishReport.settled(outcomes, accepted, s.dependents)

    async def reap(self, now: float) -> ReapReport:
        s = self._s
        report = ReapReport()
        with s.lock:
            for record in list(s.tasks.values()):
                if record.status is TaskStatus.RUNNING:
                    if record.lease_expires_at is not None and record.lease_expires_at < now:
                        self._recover(record, now, report)
                elif (record.status in CLAIMABLE_STATUSES or record.status is TaskStatus.WAITING) and (
                    record.expires_at is not None and record.expires_at <= now
                ):
                    expired = _replace(record, status=TaskStatus.EXPIRED, updated_at=now)
                    s.store(expired)
                    report.expired.append(expired)
            if report.requeued:
                wake(s.task_waiters)
            resolved = self._resolve_locked(sorted(s.unresolved), now)
        return msgspec.structs.replace(report, dependencies=resolved)

    def _recover(self, record: TaskRecord, now: float, report: ReapReport) -> None:
        s = self._s
        cleared = {"lease_token": None, "lease_expires_at": None, "updated_at": now}
        if record.attempts >= record.max_attempts:
            dead = _replace(record, status=TaskStatus.DEAD, error=LEASE_EXPIRED_ERROR, **cleared)
            s.store(dead)
            report.dead.append(dead)
        else:
            requeued = _replace(record, status=TaskStatus.PENDING, due_at=now, **cleared)
            s.store(requeued)
            s.sequence[record.id] = next(s.counter)
            s.schedule(requeued, now)
            report.requeued.append(requeued)

    async def get_task(self, task_id: str) -> TaskRecord | None:
        return self._s.tasks.get(task_id)

    async def list_tasks(
        self,
        *,
        queue: str | None = None,
        status: TaskStatus | None = None,
        limit: int = 100,
    ) -> list[TaskRecord]:
        with self._s.lock:
            found = [
                record
                for record in self._s.tasks.values()
                if (queue is None or record.queue == queue) and (status is None or record.status == status)
            ]
        found.sort(key=lambda record: (record.created_at, self._s.sequence[record.id]))
        return found[:limit]

    async def count_tasks(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        with self._s.lock:
            for record in self._s.tasks.values():
                per_status = counts.setdefault(record.queue, {})
                per_status[record.status.value] = per_status.get(record.status.value, 0) + 1
        return counts

    async def cancel(self, task_id: str, now: float) -> TaskChange | None:
        s = self._s
        with s.lock:
            record = s.tasks.get(task_id)
            if record is None:
                return None
            if record.status.is_final:
                return TaskChange(task=record, changed=False)
            cancelled = _replace(
                record,
                status=TaskStatus.CANCELLED,
                lease_token=None,
                lease_expires_at=None,
                updated_at=now,
            )
            s.store(cancelled)
            if record.status is TaskStatus.RUNNING and record.worker_id is not None:
                for loop, on_cancel in s.cancel_watchers.get(record.worker_id, ()):
                    if not loop.is_closed():
                        loop.call_soon_threadsafe(on_cancel, task_id)
            return TaskChange(task=cancelled, changed=True)

    async def requeue(
        self, task_id: str, now: float, *, events: Sequence[EventRecord] = ()
    ) -> TaskChange | None:
        s = self._s
        with s.lock:
            record = s.tasks.get(task_id)
            if record is None:
                return None
            if record.status not in (TaskStatus.DEAD, TaskStatus.CANCELLED, TaskStatus.EXPIRED):
                return TaskChange(task=record, changed=False)
            key = record.dedup_key
            if key is not None and key in s.dedup:
                key = None  # another live task took the key meanwhile; it keeps it
            requeued = _replace(
                record,
                status=TaskStatus.PENDING,
                attempts=0,
                due_at=now,
                expires_at=None,
                error=None,
                dedup_key=key,
                updated_at=now,
            )
            s.store(requeued)
            if key is not None:
                s.dedup[key] = task_id
            s.sequence[task_id] = next(s.counter)
            s.schedule(requeued, now)
            s.events.extend(events)
            wake(s.task_waiters)
            return TaskChange(task=requeued, changed=True)

    async def purge_tasks(
        self, status: TaskStatus, *, before: float | None = None, limit: int | None = None
    ) -> int:
        s = self._s
        with s.lock:
            # A task others still wait on stays until they are resolved (the next reap at the
            # latest): deleted, it would leave them waiting for ever.
            matching = (
                record.id
                for record in s.tasks.values()
                if record.status == status
                and (before is None or record.updated_at < before)
                and record.id not in s.dependents
            )
            doomed = list(itertools.islice(matching, limit))
            for task_id in doomed:
                record = s.tasks.pop(task_id)
                del s.sequence[task_id]
                if record.dedup_key is not None and s.dedup.get(record.dedup_key) == task_id:
                    del s.dedup[record.dedup_key]
                if record.depends_on:
                    s.unlink(record)
        return len(doomed)
