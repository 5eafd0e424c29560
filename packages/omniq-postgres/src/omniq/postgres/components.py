"""PostgreSQL component classes, for the plan's component style.

``AsyncPostgresTaskQueue("postgresql://app@db/jobs")`` takes :class:`PostgresBackend`'s arguments and
serves its task queue; ``PostgresTaskQueue`` is the blocking twin. Each object has its own
connection pool; to share one, hand one ``PostgresBackend`` to every role (``OmniQ.from_backend``).
"""

from __future__ import annotations

from omniq.core.components import EventStorageView, ResultStorageView, ScheduledTaskQueueView
from omniq.core.sync_components import EventStorageTwin, ResultStorageTwin, TaskQueueTwin
from omniq.postgres.backend import PostgresBackend

__all__ = [
    "AsyncPostgresEventStorage",
    "AsyncPostgresResultStorage",
    "AsyncPostgresTaskQueue",
    "PostgresEventStorage",
    "PostgresResultStorage",
    "PostgresTaskQueue",
]


class AsyncPostgresTaskQueue(ScheduledTaskQueueView):
    """Task queue (and schedules) in a PostgreSQL schema; arguments as :class:`PostgresBackend`'s."""

    backend_type = PostgresBackend


class AsyncPostgresResultStorage(ResultStorageView):
    """Result store in a PostgreSQL schema; arguments as :class:`PostgresBackend`'s."""

    backend_type = PostgresBackend


class AsyncPostgresEventStorage(EventStorageView):
    """Event store in a PostgreSQL schema; arguments as :class:`PostgresBackend`'s."""

    backend_type = PostgresBackend


class PostgresTaskQueue(TaskQueueTwin):
    """Blocking :class:`AsyncPostgresTaskQueue`."""

    async_type = AsyncPostgresTaskQueue


class PostgresResultStorage(ResultStorageTwin):
    """Blocking :class:`AsyncPostgresResultStorage`."""

    async_type = AsyncPostgresResultStorage


class PostgresEventStorage(EventStorageTwin):
    """Blocking :class:`AsyncPostgresEventStorage`."""

    async_type = AsyncPostgresEventStorage
