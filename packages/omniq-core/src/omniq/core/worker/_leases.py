"""Leases: renewing them all in one heartbeat, and giving up tasks whose lease was lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from omniq.core.models import EventType
from omniq.core.worker._outcomes import task_event
from omniq.core.worker._state import WorkerState

__all__ = ["Leases"]

logger = logging.getLogger("omniq.worker")


class Leases(WorkerState):
    """Leases: renewing them all in one heartbeat, and giving up tasks whose lease was lost."""

    async def _heartbeat_forever(self) -> None:
        interval = self.settings.effective_heartbeat_interval
        while not await self._until_heartbeat(interval):
            leases = [(task_id, record.lease_token or "") for task_id, record in self._leases.items()]
            if not leases:
                continue
            now = time.time()
            try:
                lost = await self.queue.heartbeat(
                    leases, lease_expires_at=now + self.settings.lease_ttl, now=now
                )
            except Exception as exc:  # noqa: BLE001 - beats again at the next interval
                self._outage.failed("heartbeat", exc)
                continue
            self._outage.succeeded()
            for task_id in lost:
                self._give_up(task_id)

    async def _until_heartbeat(self, interval: float) -> bool:
        """Wait ``interval`` seconds, or less if a pushed cancellation asks for a heartbeat now;
        whether the worker is closing."""
        check = asyncio.ensure_future(self._lease_check.wait())
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait((check, closing), timeout=interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            check.cancel()
            closing.cancel()
        # Cleared before the heartbeat: a push that arrives during it asks for the next one.
        self._lease_check.clear()
        return self._closing.is_set()

    async def _watch_cancellations(self) -> None:
        """Have the store push cancellations of this worker's tasks, where it can: the heartbeat
        that confirms them follows at once instead of at its interval."""
        self._cancel_watch = contextlib.AsyncExitStack()
        try:
            await self._cancel_watch.enter_async_context(
                self.queue.watch_cancellations(self.worker_id, self._cancel_pushed)
            )
        except Exception:
            logger.warning(
                "cannot watch for cancellations; they stop tasks at the next heartbeat", exc_info=True
            )

    async def _unwatch_cancellations(self) -> None:
        try:
            await self._cancel_watch.aclose()
        except Exception:
            logger.warning("stopping the watch for cancellations failed", exc_info=True)

    def _cancel_pushed(self, task_id: str) -> None:
        """The store says it cancelled ``task_id``: if this worker runs it, heartbeat now (the
        heartbeat confirms it, so a stale or mistaken push stops nothing)."""
        if task_id in self._leases:
            self._lease_check.set()

    def _give_up(self, task_id: str) -> None:
        execution = self._executions.get(task_id)
        if execution is None:
            # Settled here, its outcome not yet written (or written while the heartbeat was in
            # flight): the write itself learns whether the lease still held.
            return
        record = self._leases.pop(task_id, None)
        if record is None:
            return
        logger.warning("task %s: lease lost (cancelled or reclaimed); stopping it", task_id)
        self.events.record(task_event(record, EventType.LEASE_LOST, time.time()))
        if execution is not None:
            self._lost.add(task_id)
            execution.cancel()
