"""OmniQ's PostgreSQL backend: task queue, results, events and schedules in one schema.

``AsyncOmniQ("postgresql://user@host/db")`` finds :class:`PostgresBackend` through the
``omniq.backends`` entry point (schemes ``postgresql`` and ``postgres``); any number of worker
processes on any number of hosts may share the schema. The component classes
(``PostgresTaskQueue``, ``AsyncPostgresResultStorage``, ...) serve one role each.
"""

from omniq.postgres.backend import PostgresBackend
from omniq.postgres.components import (
    AsyncPostgresEventStorage,
    AsyncPostgresResultStorage,
    AsyncPostgresTaskQueue,
    PostgresEventStorage,
    PostgresResultStorage,
    PostgresTaskQueue,
)

__all__ = [
    "AsyncPostgresEventStorage",
    "AsyncPostgresResultStorage",
    "AsyncPostgresTaskQueue",
    "PostgresBackend",
    "PostgresEventStorage",
    "PostgresResultStorage",
    "PostgresTaskQueue",
]
