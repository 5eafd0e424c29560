"""The in-memory backend's event store."""

from __future__ import annotations

from collections.abc import Sequence

from omniq.core._memory_store import Store
from omniq.core.interfaces import BaseEventStorage
from omniq.core.records import EventRecord

__all__ = ["MemoryEvents"]


class MemoryEvents(BaseEventStorage):
    """Events of a :class:`~omniq.core._memory_store.Store`, in the order they were appended."""

    _s: Store

    async def append_events(self, records: Sequence[EventRecord]) -> None:
        with self._s.lock:
            self._s.events.extend(records)

    async def query_events(
        self,
        *,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> list[EventRecord]:
        with self._s.lock:
            found = [
                event
                for event in self._s.events
                if (task_id is None or event.task_id == task_id)
                and (types is None or event.type in types)
                and (since is None or event.at >= since)
                and (until is None or event.at < until)
            ]
        found.sort(key=lambda event: event.at)
        return found if limit is None else found[:limit]

    async def purge_events(self, before: float) -> int:
        with self._s.lock:
            kept = [event for event in self._s.events if event.at >= before]
            purged = len(self._s.events) - len(kept)
            self._s.events = kept
        return purged
