"""Settling: writing what attempts ended with (group commit), then results, events and callbacks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from omniq.core.callbacks import TaskOutcome
from omniq.core.codec import TaskSpec, from_timestamp
from omniq.core.models import ErrorInfo, TaskStatus
from omniq.core.records import EventRecord, FinishReport, Outcome, ResultRecord, TaskRecord
from omniq.core.worker._finals import PutResults, store_finals
from omniq.core.worker._outcomes import Settlement
from omniq.core.worker._state import WorkerState

__all__ = ["Settling"]

logger = logging.getLogger("omniq.worker")

T = TypeVar("T")


class Settling(WorkerState):
    """Settling: writing what attempts ended with (group commit), then results, events and callbacks."""

    def _settle(self, settlement: Settlement) -> None:
        self._settlements.append(settlement)
        self._unwritten += 1
        self._settle_wake.set()

    async def _settle_forever(self) -> None:
        while not (self._closing.is_set() and not self._settlements):
            await self._settle_wake.wait()
            self._settle_wake.clear()
            await self._write_settlements()

    async def _write_settlements(self) -> None:
        """Write everything settled so far: outcomes, and the results of the accepted ones."""
        while self._settlements:
            batch, self._settlements = self._settlements, []
            self._capacity.set()
            outcomes = [s.outcome for s in batch]
            results = [s.result for s in batch if s.result is not None]
            events = [event for s in batch for event in s.events] if self._events_travel else []
            report = await self._retrying("finish", self._finish, outcomes, results, events)
            accepted = set(report.accepted)
            if report.waited_on:
                await self._resolve_dependencies(report.waited_on)
            for settlement in batch:
                task_id = settlement.outcome.task_id
                held = self._leases.get(task_id)
                if held is not None and held.lease_token == settlement.outcome.lease_token:
                    del self._leases[task_id]
                if task_id in accepted:
                    if not self._events_travel:  # else the finish wrote them
                        self.events.record_many(settlement.events)
                    self.completed_count += 1
                    self._call_back(settlement)
                else:
                    logger.warning("task %s: lease lost before it settled; outcome discarded", task_id)
            self._unwritten -= len(batch)
            self._last_write = asyncio.get_running_loop().time()

    async def _resolve_dependencies(self, task_ids: list[str]) -> None:
        """Release or cancel the tasks waiting on ``task_ids`` (a crash before this is made good by
        the next reap)."""
        now = time.time()
        report = await self._retrying("resolve_dependencies", self.queue.resolve_dependencies, task_ids, now)
        await store_finals(
            (), report, now=now, record_event=self.events.record, put_results=self._put_results()
        )

    def _put_results(self) -> PutResults | None:
        """Store results until that succeeds (none without a result store)."""
        store = self.result_store
        if store is None:
            return None

        async def put(results: list[ResultRecord]) -> None:
            await self._retrying("put_results", store.put_results, results)

        return put

    def _call_back(self, settlement: Settlement) -> None:
        """Start the callbacks of a stored outcome, if the task or the application has any."""
        outcome = settlement.outcome
        if outcome.status in (TaskStatus.PENDING, TaskStatus.EXPIRED):
            # Released by a stopping worker, or never started: the reaper's expiry calls no one back.
            return
        retry_at = None if outcome.due_at is None else from_timestamp(outcome.due_at)
        self._dispatch(settlement.record, settlement.spec, settlement.returned, settlement.error, retry_at)

    def _dispatch(
        self,
        record: TaskRecord,
        spec: TaskSpec | None,
        value: Any,
        error: ErrorInfo | None,
        retry_at: datetime | None,
    ) -> None:
        per_task = spec.callbacks if spec is not None else ()
        if not self.callbacks.wanted(per_task):
            return
        kinds = ["success"] if error is None else ["failure", "dead" if retry_at is None else "retry"]
        for kind in kinds:
            outcome = TaskOutcome(
                kind=kind,
                task_id=record.id,
                func=record.func,
                queue=record.queue,
                attempt=record.attempts,
                max_attempts=record.max_attempts,
                worker_id=record.worker_id,
                value=value,
                error=error,
                retry_at=retry_at if kind == "retry" else None,
            )
            self.callbacks.dispatch(outcome, per_task, self.functions, self.events)

    async def _finish(
        self, outcomes: list[Outcome], results: list[ResultRecord], events: list[EventRecord]
    ) -> FinishReport:
        store = self.result_store
        if store is None or not results:
            return await self.queue.finish(outcomes, events=events)
        if store is cast(object, self.queue):  # one backend: one transaction where it can
            return await self.queue.finish_with_results(outcomes, results, events=events)
        report = await self.queue.finish(outcomes, events=events)
        accepted = set(report.accepted)
        kept = [result for result in results if result.task_id in accepted]
        if kept:
            await self._retrying("put_results", store.put_results, kept)
        return report

    async def _retrying(self, what: str, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Call until it succeeds: a settled outcome must not be dropped while the worker lives."""
        failures = 0
        while True:
            try:
                value = await call(*args)
            except Exception as exc:  # noqa: BLE001 - retried until the worker stops
                failures += 1
                self._outage.failed(what, exc)
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))
            else:
                self._outage.succeeded()
                return value
