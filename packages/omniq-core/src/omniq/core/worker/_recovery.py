"""Recovery: reaping lapsed leases, running the scheduler, and periodic purges."""

from __future__ import annotations

import random
import time

from omniq.core.capabilities import Capability, capabilities_of
from omniq.core.codec import TaskSpec, decode_error, decode_spec, from_timestamp
from omniq.core.errors import PayloadError
from omniq.core.interfaces import TaskAdmin
from omniq.core.models import EventType, TaskStatus
from omniq.core.records import LEASE_EXPIRED, ReapReport, TaskRecord
from omniq.core.schedules import Scheduler
from omniq.core.worker._finals import store_finals
from omniq.core.worker._outcomes import task_event
from omniq.core.worker._settling import Settling
from omniq.core.worker._state import pause

__all__ = ["PURGE_BATCH", "PURGE_INTERVAL", "Recovery"]

#: How often a worker purges expired results, old events and finished tasks past their retention.
PURGE_INTERVAL = 60.0

#: The most tasks of one status a worker deletes per purge call. A full batch brings the next
#: purge forward to the next reap, so a backlog goes in batches between reaps instead of in one
#: long call that would hold up lease recovery (and, on SQLite, the write lock).
PURGE_BATCH = 1000


class Recovery(Settling):
    """Recovery: reaping lapsed leases, running the scheduler, and periodic purges."""

    async def _reap_forever(self, first: ReapReport | None) -> None:
        interval = min(self.settings.lease_ttl / 2, 5.0)
        last_purge = 0.0
        backlog = False
        if first is not None:
            try:
                await self._record_reaped(first)
            except Exception as exc:  # noqa: BLE001 - the loop below goes on regardless
                self._outage.failed("reap", exc)
        # Jitter spreads the reapers of many workers over the interval.
        while not await pause(self._stopping, interval * random.uniform(0.75, 1.25)):  # noqa: S311
            now = time.time()
            report = await self._reap(now)
            try:
                if report is not None:
                    await self._record_reaped(report)
                if backlog or now - last_purge >= PURGE_INTERVAL:
                    last_purge = now
                    backlog = await self._purge(now)
            except Exception as exc:  # noqa: BLE001 - tries again at the next interval
                self._outage.failed("reap", exc)

    async def _reap(self, now: float) -> ReapReport | None:
        try:
            report = await self.queue.reap(now)
        except Exception as exc:  # noqa: BLE001 - reaps again at the next interval
            self._outage.failed("reap", exc)
            return None
        self._outage.succeeded()
        return report

    async def _schedule_forever(self, scheduler: Scheduler) -> None:
        interval = self.settings.scheduler_interval
        while not await pause(self._stopping, interval * random.uniform(0.9, 1.1)):  # noqa: S311
            try:
                await scheduler.tick()
            except Exception as exc:  # noqa: BLE001 - ticks again at the next interval
                self._outage.failed("scheduler tick", exc)

    async def _record_reaped(self, report: ReapReport) -> None:
        now = time.time()
        for record in report.requeued:
            self.events.record(task_event(record, EventType.RETRY, now, details={"reason": "lease expired"}))
            self._dispatch(record, _spec_or_none(record), None, LEASE_EXPIRED, from_timestamp(record.due_at))
        for record in report.dead:
            self.events.record(task_event(record, EventType.DEAD, now, error=record.error))
            self._dispatch(
                record, _spec_or_none(record), None, decode_error(record.error) or LEASE_EXPIRED, None
            )
        for record in report.expired:
            self.events.record(task_event(record, EventType.EXPIRED, now))
        await store_finals(
            [*report.dead, *report.expired],
            report.dependencies,
            now=now,
            record_event=self.events.record,
            put_results=self._put_results(),
        )

    async def _purge(self, now: float) -> bool:
        """Purge expired results, old events and a batch of finished tasks past their retention;
        whether a batch was full (more may be due)."""
        if self.result_store is not None:
            await self.result_store.purge_results(now)
        storage = self.events.storage
        if storage is not None and self.settings.event_retention is not None:
            await storage.purge_events(now - self.settings.event_retention)
        backlog = False
        queue = self.queue
        if Capability.ADMIN not in capabilities_of(queue):  # no purges without it
            return backlog
        assert isinstance(queue, TaskAdmin)
        for status, retention in self._retentions():
            if retention is not None:
                purged = await queue.purge_tasks(status, before=now - retention, limit=PURGE_BATCH)
                backlog = backlog or purged >= PURGE_BATCH
        return backlog

    def _retentions(self) -> list[tuple[TaskStatus, float | None]]:
        kept, dead = self.settings.task_retention, self.settings.dead_retention
        finished = (TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.EXPIRED)
        return [*((status, kept) for status in finished), (TaskStatus.DEAD, dead)]


def _spec_or_none(record: TaskRecord) -> TaskSpec | None:
    try:
        return decode_spec(record)
    except PayloadError:
        return None
