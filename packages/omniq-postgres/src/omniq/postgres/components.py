"""PostgreSQL component classes, for the plan's component style.

``AsyncPostgresTaskQueue("postgresql://app@db/jobs")`` takes :class:`PostgresBackend`'s arguments and
serves its task queue; ``PostgresTaskQueue`` is the blocking twin. Each object has its own
connection pool; to share one, hand one ``PostgresBackend`` to every role (``OmniQ.from_backend``).
"""

from __future__ import annotations

from omniq.core.backend import component_classes
from omniq.postgres.backend import PostgresBackend

__all__ = [
    "AsyncPostgresEventStorage",
    "AsyncPostgresResultStorage",
    "AsyncPostgresTaskQueue",
    "PostgresEventStorage",
    "PostgresResultStorage",
    "PostgresTaskQueue",
]

(
    AsyncPostgresTaskQueue,
    AsyncPostgresResultStorage,
    AsyncPostgresEventStorage,
    PostgresTaskQueue,
    PostgresResultStorage,
    PostgresEventStorage,
) = component_classes(PostgresBackend, "Postgres", module=__name__, where="in a PostgreSQL schema")
