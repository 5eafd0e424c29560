"""The in-memory backend's component classes, for the plan's component style.

``AsyncMemoryTaskQueue(name="jobs")`` and ``MemoryTaskQueue(name="jobs")`` (blocking) serve the
task queue of ``memory://jobs``; the result and event classes likewise. They are views over
:class:`~omniq.core.memory.MemoryBackend`: views with the same name share one store.
"""

from __future__ import annotations

from omniq.core.backend import component_classes
from omniq.core.memory import MemoryBackend

__all__ = [
    "AsyncMemoryEventStorage",
    "AsyncMemoryResultStorage",
    "AsyncMemoryTaskQueue",
    "MemoryEventStorage",
    "MemoryResultStorage",
    "MemoryTaskQueue",
]

(
    AsyncMemoryTaskQueue,
    AsyncMemoryResultStorage,
    AsyncMemoryEventStorage,
    MemoryTaskQueue,
    MemoryResultStorage,
    MemoryEventStorage,
) = component_classes(MemoryBackend, "Memory", module=__name__, where="of an in-memory store")
