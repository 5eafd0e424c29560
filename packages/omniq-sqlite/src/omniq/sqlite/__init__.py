"""OmniQ's SQLite backend: task queue, results and events in one database file.

``AsyncOmniQ("sqlite:///omniq.db")`` finds :class:`SQLiteBackend` through the ``omniq.backends``
entry point; any number of worker processes on one host may share the file.
"""

from omniq.sqlite.backend import SQLiteBackend

__all__ = ["SQLiteBackend"]
