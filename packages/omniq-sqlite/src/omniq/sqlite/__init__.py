"""OmniQ's SQLite backend: task queue, results and events in one database file.

``AsyncOmniQ("sqlite:///omniq.db")`` finds :class:`SQLiteBackend` through the ``omniq.backends``
entry point; any number of worker processes on one host may share the file. The component classes
(``SQLiteTaskQueue``, ``AsyncSQLiteResultStorage``, ...) serve one role each.
"""

from omniq.sqlite.backend import SQLiteBackend
from omniq.sqlite.components import (
    AsyncSQLiteEventStorage,
    AsyncSQLiteResultStorage,
    AsyncSQLiteTaskQueue,
    SQLiteEventStorage,
    SQLiteResultStorage,
    SQLiteTaskQueue,
)

__all__ = [
    "AsyncSQLiteEventStorage",
    "AsyncSQLiteResultStorage",
    "AsyncSQLiteTaskQueue",
    "SQLiteBackend",
    "SQLiteEventStorage",
    "SQLiteResultStorage",
    "SQLiteTaskQueue",
]
