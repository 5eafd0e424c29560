"""The database schema and its migrations, applied once per file however many processes open it.

Each migration is a list of statements that takes the schema from one version to the next; the
version reached is kept in ``omniq_schema_version``. ``migrate`` runs inside ``BEGIN IMMEDIATE`` and
reads the version there, so when several processes open a new file at once, one creates the schema
and the others, waiting on the write lock, find it done.
"""

from __future__ import annotations

from typing import cast

import aiosqlite

from omniq.core.errors import ConfigurationError

__all__ = ["SCHEMA_VERSION", "check_version", "has_schema", "migrate"]

# The claim reads runnable rows through this partial index in claim order, so that finished rows,
# however many, stay out of the hot path. Its WHERE clause must match the claim's word for word:
# SQLite uses a partial index only when the query's terms imply the index's.
_V1 = (
    """
    CREATE TABLE omniq_tasks (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        queue TEXT NOT NULL,
        func TEXT NOT NULL,
        priority INTEGER NOT NULL,
        status TEXT NOT NULL,
        due_at REAL NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        expires_at REAL,
        attempts INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        data BLOB NOT NULL,
        dedup_key TEXT,
        depends_on TEXT NOT NULL,
        schedule_id TEXT,
        lease_token TEXT,
        lease_expires_at REAL,
        worker_id TEXT,
        error TEXT
    )
    """,
    """
    CREATE INDEX omniq_tasks_runnable ON omniq_tasks (queue, priority DESC, due_at, seq)
    WHERE status IN ('pending', 'failed')
    """,
    """
    CREATE INDEX omniq_tasks_leases ON omniq_tasks (lease_expires_at)
    WHERE status = 'running'
    """,
    """
    CREATE INDEX omniq_tasks_ttl ON omniq_tasks (expires_at)
    WHERE status IN ('pending', 'failed', 'waiting') AND expires_at IS NOT NULL
    """,
    """
    CREATE UNIQUE INDEX omniq_tasks_dedup ON omniq_tasks (dedup_key)
    WHERE status IN ('pending', 'waiting', 'running', 'failed') AND dedup_key IS NOT NULL
    """,
    # Dead letters are listed often and are few; every other status is listed by a scan, so
    # that a claim and a finish each touch one index entry less.
    "CREATE INDEX omniq_tasks_dead ON omniq_tasks (created_at, seq) WHERE status = 'dead'",
    """
    CREATE TABLE omniq_results (
        task_id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        finished_at REAL NOT NULL,
        expires_at REAL,
        schedule_id TEXT,
        data BLOB NOT NULL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX omniq_results_expiry ON omniq_results (expires_at) WHERE expires_at IS NOT NULL",
    """
    CREATE TABLE omniq_events (
        id INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        task_id TEXT NOT NULL,
        at REAL NOT NULL,
        queue TEXT,
        worker_id TEXT,
        attempt INTEGER,
        error TEXT,
        details TEXT NOT NULL
    )
    """,
    "CREATE INDEX omniq_events_by_task ON omniq_events (task_id, at)",
    "CREATE INDEX omniq_events_by_time ON omniq_events (at)",
)

# Schedules: the scheduler looks up due active schedules by their next run time.
_V2 = (
    """
    CREATE TABLE omniq_schedules (
        id TEXT PRIMARY KEY,
        func TEXT NOT NULL,
        queue TEXT NOT NULL,
        status TEXT NOT NULL,
        next_run_at REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        runs INTEGER NOT NULL,
        last_run_at REAL,
        last_task_id TEXT,
        data BLOB NOT NULL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX omniq_schedules_due ON omniq_schedules (next_run_at) WHERE status = 'active'",
)

# Dependencies: an edge per dependency a waiting task still waits for, found by the dependency
# when it finishes (the primary key), and a countdown on the waiting task.
_V3 = (
    """
    CREATE TABLE omniq_dependencies (
        dependency_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        PRIMARY KEY (dependency_id, task_id)
    ) WITHOUT ROWID
    """,
    "ALTER TABLE omniq_tasks ADD COLUMN waiting_on INTEGER NOT NULL DEFAULT 0",
)

# Dependencies found without reading the edges. ``has_dependents`` is 1 on a task from the enqueue
# of its first dependent until its edges are resolved: ``FINISH`` returns it with the row it
# updates (a correlated subquery there scanned every edge: SQLite 3.40 plans a bare column of the
# updated row in a RETURNING subquery as no index constraint), and the reaper finds the finished
# tasks left unresolved through ``omniq_tasks_unresolved``, whose entries are exactly those (as a
# rule none), however many edges wait. Edges of tasks purged by older releases go.
_V4 = (
    "ALTER TABLE omniq_tasks ADD COLUMN has_dependents INTEGER NOT NULL DEFAULT 0",
    "UPDATE omniq_tasks SET has_dependents = 1 WHERE id IN (SELECT dependency_id FROM omniq_dependencies)",
    "DELETE FROM omniq_dependencies WHERE task_id NOT IN (SELECT id FROM omniq_tasks)",
    """
    CREATE INDEX omniq_tasks_unresolved ON omniq_tasks (id)
    WHERE has_dependents = 1 AND status IN ('completed', 'dead', 'cancelled', 'expired')
    """,
)

# Finished tasks by status and last change, for the retention purge: each worker asks for a
# batch of those changed before a time, which without it is a scan of the whole table (most of it
# finished tasks younger than the retention) however few are due. A finish adds one entry; a claim
# none. ``IF NOT EXISTS``, so that it can move to another version number. Its statuses are listed
# in another order than the statements on finished tasks list them (``status IN ('completed',
# 'dead', ...)``): SQLite takes a partial index for any query whose terms contain the index's word
# for word, and it would then read the dependency statements by status instead of by id.
_V5 = (
    """
    CREATE INDEX IF NOT EXISTS omniq_tasks_finished ON omniq_tasks (status, updated_at)
    WHERE status IN ('cancelled', 'completed', 'dead', 'expired')
    """,
)

#: Statements taking the schema from version ``n`` to ``n + 1``, at index ``n``.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4, _V5)

#: The version this release creates and understands.
SCHEMA_VERSION = len(_MIGRATIONS)


async def has_schema(conn: aiosqlite.Connection) -> bool:
    """Whether the database holds OmniQ's tables (of any version)."""
    rows = await conn.execute_fetchall(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'omniq_schema_version'"
    )
    return bool(list(rows))


async def migrate(conn: aiosqlite.Connection, path: str) -> None:
    """Bring the schema of the database at ``path`` to :data:`SCHEMA_VERSION`.

    Runs inside the caller's ``BEGIN IMMEDIATE`` transaction: the version read here cannot change
    before the caller commits.

    Raises:
        ConfigurationError: the file was written by a newer release, whose schema this one does not
            know (writing to it could break what the newer release expects).
    """
    await conn.execute("CREATE TABLE IF NOT EXISTS omniq_schema_version (version INTEGER NOT NULL)")
    found = await _stored_version(conn)
    if found > SCHEMA_VERSION:
        raise _newer(path, found)
    if found == SCHEMA_VERSION:
        return
    for statements in _MIGRATIONS[found:]:
        for statement in statements:
            await conn.execute(statement)
    await conn.execute("DELETE FROM omniq_schema_version")
    await conn.execute("INSERT INTO omniq_schema_version (version) VALUES (?)", (SCHEMA_VERSION,))


async def check_version(conn: aiosqlite.Connection, path: str) -> None:
    """Refuse a database whose schema is not :data:`SCHEMA_VERSION`, changing nothing: what
    ``open_existing`` does instead of :func:`migrate`, so that a read-only command never runs DDL
    (a migration may rewrite a large table, and take the write lock while it does).

    Raises:
        ConfigurationError: naming the version found, this release's, and what to run.
    """
    found = await _stored_version(conn)
    if found > SCHEMA_VERSION:
        raise _newer(path, found)
    if found < SCHEMA_VERSION:
        raise ConfigurationError(
            f"the database {path} has OmniQ schema version {found}, older than this omniq-sqlite's "
            f"({SCHEMA_VERSION}); read-only commands do not migrate it: start a worker of this "
            "release once (`omniq worker`), which migrates it, then run the command again"
        )


async def _stored_version(conn: aiosqlite.Connection) -> int:
    rows = cast(
        list[tuple[int | None]], await conn.execute_fetchall("SELECT max(version) FROM omniq_schema_version")
    )
    return rows[0][0] or 0


def _newer(path: str, found: int) -> ConfigurationError:
    return ConfigurationError(
        f"the database {path} has OmniQ schema version {found}, newer than this omniq-sqlite "
        f"understands ({SCHEMA_VERSION}); upgrade omniq-sqlite"
    )
