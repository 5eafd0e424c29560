"""SQLite component classes, for the plan's component style.

``AsyncSQLiteTaskQueue(base_dir="data", project_name="shop")`` takes :class:`SQLiteBackend`'s
arguments and serves its task queue; ``SQLiteTaskQueue`` is the blocking twin. Each object has its
own connection; to share one, hand one ``SQLiteBackend`` to every role (``OmniQ.from_backend``).
"""

from __future__ import annotations

from omniq.core.components import EventStorageView, ResultStorageView, ScheduledTaskQueueView
from omniq.core.sync_components import EventStorageTwin, ResultStorageTwin, TaskQueueTwin
from omniq.sqlite.backend import SQLiteBackend

__all__ = [
    "AsyncSQLiteEventStorage",
    "AsyncSQLiteResultStorage",
    "AsyncSQLiteTaskQueue",
    "SQLiteEventStorage",
    "SQLiteResultStorage",
    "SQLiteTaskQueue",
]


class AsyncSQLiteTaskQueue(ScheduledTaskQueueView):
    """Task queue (and schedules) in an SQLite file; arguments as :class:`SQLiteBackend`'s."""

    backend_type = SQLiteBackend


class AsyncSQLiteResultStorage(ResultStorageView):
    """Result store in an SQLite file; arguments as :class:`SQLiteBackend`'s."""

    backend_type = SQLiteBackend


class AsyncSQLiteEventStorage(EventStorageView):
    """Event store in an SQLite file; arguments as :class:`SQLiteBackend`'s."""

    backend_type = SQLiteBackend


class SQLiteTaskQueue(TaskQueueTwin):
    """Blocking :class:`AsyncSQLiteTaskQueue`."""

    async_type = AsyncSQLiteTaskQueue


class SQLiteResultStorage(ResultStorageTwin):
    """Blocking :class:`AsyncSQLiteResultStorage`."""

    async_type = AsyncSQLiteResultStorage


class SQLiteEventStorage(EventStorageTwin):
    """Blocking :class:`AsyncSQLiteEventStorage`."""

    async_type = AsyncSQLiteEventStorage
