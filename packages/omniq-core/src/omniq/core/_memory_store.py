"""The in-memory backend's store: one per name, with its claim heaps, results, events, schedules."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import Callable

from omniq.core.records import (
    CLAIMABLE_STATUSES,
    FINAL_STATUSES,
    LIVE_STATUSES,
    EventRecord,
    ResultRecord,
    ScheduleRecord,
    TaskRecord,
    claim_order,
)

__all__ = ["Store", "Waiters", "wake"]

#: Callers waiting for a change, each with the loop to wake it on.
Waiters = list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]


class Store:
    """One named store: tasks with their claim heaps, results and events."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tasks: dict[str, TaskRecord] = {}
        self.sequence: dict[str, int] = {}
        self.ready: dict[str, list[tuple[int, float, int, str]]] = {}
        self.delayed: list[tuple[float, int, str]] = []
        self.dedup: dict[str, str] = {}
        self.results: dict[str, ResultRecord] = {}
        self.events: list[EventRecord] = []
        self.schedules: dict[str, ScheduleRecord] = {}
        # Unresolved dependency edges: dependency id -> ids of the tasks waiting on it, and how
        # many dependencies each waiting task still waits for; and the finished tasks among those
        # dependencies (what the reaper resolves, without reading every edge).
        self.dependents: dict[str, set[str]] = {}
        self.waiting_on: dict[str, int] = {}
        self.unresolved: set[str] = set()
        self.counter = itertools.count()
        self.task_waiters: Waiters = []
        self.result_waiters: dict[str, Waiters] = {}
        #: Workers watching for cancellations, by worker id: each with its loop and callback.
        self.cancel_watchers: dict[str, list[tuple[asyncio.AbstractEventLoop, Callable[[str], None]]]] = {}

    def schedule(self, record: TaskRecord, now: float) -> None:
        """Put a claimable task where the next claim will find it."""
        seq = self.sequence[record.id]
        if record.due_at <= now:
            heapq.heappush(
                self.ready.setdefault(record.queue, []),
                (*claim_order(record, seq), record.id),
            )
        else:
            heapq.heappush(self.delayed, (record.due_at, seq, record.id))

    def promote(self, now: float) -> None:
        while self.delayed and self.delayed[0][0] <= now:
            _, _, task_id = heapq.heappop(self.delayed)
            record = self.tasks.get(task_id)
            if record is not None and record.status in CLAIMABLE_STATUSES:
                self.schedule(record, now)

    def store(self, record: TaskRecord) -> None:
        self.tasks[record.id] = record
        key = record.dedup_key
        if key is not None and record.status not in LIVE_STATUSES and self.dedup.get(key) == record.id:
            del self.dedup[key]
        if record.id in self.dependents:
            if record.status in FINAL_STATUSES:
                self.unresolved.add(record.id)
            else:
                self.unresolved.discard(record.id)

    def unlink(self, record: TaskRecord) -> None:
        """Forget the edges of a task about to be deleted as a waiting task (cancelled or expired
        while it waited: they would stay until its dependencies end, which may be never)."""
        self.waiting_on.pop(record.id, None)
        for dependency_id in record.depends_on:
            dependents = self.dependents.get(dependency_id)
            if dependents is not None:
                dependents.discard(record.id)
                if not dependents:
                    del self.dependents[dependency_id]
                    self.unresolved.discard(dependency_id)


def wake(waiters: Waiters) -> None:
    """Wake every caller in ``waiters`` on its own loop, and forget them."""
    for loop, future in waiters:
        if not loop.is_closed():
            loop.call_soon_threadsafe(_resolve, future)
    waiters.clear()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
