"""OmniQ's PostgreSQL backend: task queue, results and events in one schema.

``AsyncOmniQ("postgresql://user@host/db")`` finds :class:`PostgresBackend` through the
``omniq.backends`` entry point (schemes ``postgresql`` and ``postgres``); any number of worker
processes on any number of hosts may share the schema.
"""

from omniq.postgres.backend import PostgresBackend

__all__ = ["PostgresBackend"]
