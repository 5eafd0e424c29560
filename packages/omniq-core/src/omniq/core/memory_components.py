"""The in-memory backend's component classes, for the plan's component style.

``AsyncMemoryTaskQueue(name="jobs")`` and ``MemoryTaskQueue(name="jobs")`` (blocking) serve the
task queue of ``memory://jobs``; the result and event classes likewise. They are views over
:class:`~omniq.core.memory.MemoryBackend`: views with the same name share one store.
"""

from __future__ import annotations

from omniq.core.components import EventStorageView, ResultStorageView, ScheduledTaskQueueView
from omniq.core.memory import MemoryBackend
from omniq.core.sync_components import EventStorageTwin, ResultStorageTwin, TaskQueueTwin

__all__ = [
    "AsyncMemoryEventStorage",
    "AsyncMemoryResultStorage",
    "AsyncMemoryTaskQueue",
    "MemoryEventStorage",
    "MemoryResultStorage",
    "MemoryTaskQueue",
]


class AsyncMemoryTaskQueue(ScheduledTaskQueueView):
    """Task queue (and schedules) of an in-memory store: ``AsyncMemoryTaskQueue(name="jobs")``."""

    backend_type = MemoryBackend


class AsyncMemoryResultStorage(ResultStorageView):
    """Result store of an in-memory store."""

    backend_type = MemoryBackend


class AsyncMemoryEventStorage(EventStorageView):
    """Event store of an in-memory store."""

    backend_type = MemoryBackend


class MemoryTaskQueue(TaskQueueTwin):
    """Blocking :class:`AsyncMemoryTaskQueue`."""

    async_type = AsyncMemoryTaskQueue


class MemoryResultStorage(ResultStorageTwin):
    """Blocking :class:`AsyncMemoryResultStorage`."""

    async_type = AsyncMemoryResultStorage


class MemoryEventStorage(EventStorageTwin):
    """Blocking :class:`AsyncMemoryEventStorage`."""

    async_type = AsyncMemoryEventStorage
