"""Event logging that never blocks or fails a task: events are buffered and written in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from omniq.core.interfaces import BaseEventStorage
from omniq.core.records import EventRecord

__all__ = ["EventRecorder"]

logger = logging.getLogger("omniq.events")


class EventRecorder:
    """Collects events and writes them to ``storage`` from a background task.

    With no storage every call is a no-op. When the store fails, events are kept (up to
    ``max_buffered``; the oldest are dropped beyond that, with a warning) and written on the next try.
    """

    def __init__(self, storage: BaseEventStorage | None, *, max_buffered: int = 100_000) -> None:
        self.storage = storage
        self.max_buffered = max_buffered
        self._buffer: list[EventRecord] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._users = 0

    @property
    def enabled(self) -> bool:
        """Whether events are stored at all."""
        return self.storage is not None

    def record(self, event: EventRecord) -> None:
        """Queue one event for writing."""
        if self.storage is not None:
            self._buffer.append(event)
            self._wake.set()

    def record_many(self, events: Iterable[EventRecord]) -> None:
        """Queue events for writing."""
        if self.storage is not None:
            self._buffer.extend(events)
            self._wake.set()

    async def start(self) -> None:
        """Start the background writer (each ``start`` needs a matching ``close``)."""
        self._users += 1
        if self.storage is not None and self._writer is None:
            self._wake = asyncio.Event()
            if self._buffer:
                self._wake.set()
            self._writer = asyncio.create_task(self._write_forever(), name="omniq-events")

    async def flush(self) -> None:
        """Write everything buffered now."""
        if self.storage is None or not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        try:
            await self.storage.append_events(batch)
        except Exception:
            logger.warning("could not store %d events; will retry", len(batch), exc_info=True)
            self._buffer[:0] = batch
            overflow = len(self._buffer) - self.max_buffered
            if overflow > 0:
                logger.warning("event buffer full: dropping the %d oldest events", overflow)
                del self._buffer[:overflow]
            raise

    async def close(self) -> None:
        """Stop the writer after a last flush, once the last user closes."""
        self._users = max(0, self._users - 1)
        if self._users or self._writer is None:
            return
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self._writer = None
        with contextlib.suppress(Exception):
            await self.flush()

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - logged by flush; back off and try again
                await asyncio.sleep(1.0)
                self._wake.set()
