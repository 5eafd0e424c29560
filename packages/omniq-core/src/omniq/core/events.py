"""Event logging that never blocks or fails a task: events are buffered and written in batches.

Where the event store is the task queue itself, the lifecycle events are not buffered: they go
with the transition that causes them (see :mod:`omniq.core.interfaces`), and
:meth:`EventRecorder.travels_with` tells the callers so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from omniq.core.interfaces import BaseComponent, BaseEventStorage
from omniq.core.records import EventRecord

__all__ = ["EventRecorder"]

logger = logging.getLogger("omniq.events")

#: How long ``close`` waits for the last events to be written.
CLOSE_TIMEOUT = 30.0

#: The least time between two background writes.
GATHER_SECONDS = 0.05


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
        self._writing: asyncio.Lock | None = None
        self._closing = False

    @property
    def enabled(self) -> bool:
        """Whether events are stored at all."""
        return self.storage is not None

    def travels_with(self, store: BaseComponent | None) -> bool:
        """Whether events about ``store``'s transitions are written by the transitions themselves:
        the event store and ``store`` are one backend object (or views of one)."""
        return (
            self.storage is not None and store is not None and _backend_of(self.storage) is _backend_of(store)
        )

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
        """Write everything recorded so far, including a write the background writer has begun."""
        if self.storage is None:
            return
        if self._writing is None:
            self._writing = asyncio.Lock()
        async with self._writing:
            await self._write_buffer(self.storage)

    async def _write_buffer(self, storage: BaseEventStorage) -> None:
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        try:
            await storage.append_events(batch)
        except Exception:
            logger.warning("could not store %d events; will retry", len(batch), exc_info=True)
            self._buffer[:0] = batch
            overflow = len(self._buffer) - self.max_buffered
            if overflow > 0:
                logger.warning("event buffer full: dropping the %d oldest events", overflow)
                del self._buffer[:overflow]
            raise

    async def close(self) -> None:
        """Write what is left and stop the writer, once the last user closes.

        The writer is never cut off in the middle of a write; if the store keeps failing, what is
        still buffered after ``CLOSE_TIMEOUT`` seconds is dropped with a warning.
        """
        self._users = max(0, self._users - 1)
        writer = self._writer
        if self._users or writer is None:
            return
        self._closing = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(writer), CLOSE_TIMEOUT)
        except TimeoutError:
            logger.warning("dropping %d events that could not be stored", len(self._buffer))
            writer.cancel()
            self._buffer.clear()
        self._writer = None
        self._closing = False

    async def _write_forever(self) -> None:
        while not (self._closing and not self._buffer):
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - logged by flush; back off and try again
                await asyncio.sleep(1.0)
                self._wake.set()
                continue
            if not self._closing:
                # Let events pile up for a moment: a few large writes cost the store far less
                # than many small ones, and nobody waits for an event to be written.
                await asyncio.sleep(GATHER_SECONDS)


def _backend_of(component: BaseComponent) -> object:
    """The backend object behind ``component``: itself, or the backend a component view serves."""
    return getattr(component, "backend", component)
