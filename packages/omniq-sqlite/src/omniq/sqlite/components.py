"""SQLite component classes, for the plan's component style.

``AsyncSQLiteTaskQueue(base_dir="data", project_name="shop")`` takes :class:`SQLiteBackend`'s
arguments and serves its task queue; ``SQLiteTaskQueue`` is the blocking twin. Each object has its
own connection; to share one, hand one ``SQLiteBackend`` to every role (``OmniQ.from_backend``).
"""

from __future__ import annotations

from omniq.core.backend import component_classes
from omniq.sqlite.backend import SQLiteBackend

__all__ = [
    "AsyncSQLiteEventStorage",
    "AsyncSQLiteResultStorage",
    "AsyncSQLiteTaskQueue",
    "SQLiteEventStorage",
    "SQLiteResultStorage",
    "SQLiteTaskQueue",
]

(
    AsyncSQLiteTaskQueue,
    AsyncSQLiteResultStorage,
    AsyncSQLiteEventStorage,
    SQLiteTaskQueue,
    SQLiteResultStorage,
    SQLiteEventStorage,
) = component_classes(SQLiteBackend, "SQLite", module=__name__, where="in an SQLite file")
