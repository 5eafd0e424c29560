"""The schema and its migrations, applied once however many processes open a new schema at once.

Each migration is a list of statements that takes the schema from one version to the next; the
version reached is kept in ``<schema>.schema_version``. ``migrate`` runs in one transaction that
first takes a transaction-level advisory lock keyed by the schema's name, so when several workers
start together one creates the schema and the others, waiting on the lock, find it done. DDL is
transactional in PostgreSQL: a migration that fails leaves no half-made schema.
"""

from __future__ import annotations

from typing import Any

from omniq.core.errors import ConfigurationError

__all__ = ["SCHEMA_VERSION", "check_version", "has_schema", "migrate"]

# Finished tasks stay out of the hot path through partial indexes: the claim walks
# ``tasks_runnable`` (only pending and failed rows, in claim order) and the reaper walks
# ``tasks_leases`` (only running rows), so neither reads completed rows however many pile up.
# ``seq`` keeps insertion order (FIFO among equal priority and due time).
_V1 = (
    """
    CREATE TABLE {s}.tasks (
        seq bigint GENERATED ALWAYS AS IDENTITY,
        id text PRIMARY KEY,
        queue text NOT NULL,
        func text NOT NULL,
        priority integer NOT NULL,
        status text NOT NULL,
        due_at double precision NOT NULL,
        created_at double precision NOT NULL,
        updated_at double precision NOT NULL,
        expires_at double precision,
        attempts integer NOT NULL,
        max_attempts integer NOT NULL,
        data bytea NOT NULL,
        dedup_key text,
        depends_on jsonb NOT NULL,
        schedule_id text,
        lease_token text,
        lease_expires_at double precision,
        worker_id text,
        error text,
        settled_token text
    )
    """,
    """
    CREATE INDEX tasks_runnable ON {s}.tasks (queue, priority DESC, due_at, seq)
    WHERE status IN ('pending', 'failed')
    """,
    "CREATE INDEX tasks_leases ON {s}.tasks (lease_expires_at) WHERE status = 'running'",
    """
    CREATE INDEX tasks_ttl ON {s}.tasks (expires_at)
    WHERE status IN ('pending', 'failed', 'waiting') AND expires_at IS NOT NULL
    """,
    """
    CREATE UNIQUE INDEX tasks_dedup ON {s}.tasks (dedup_key)
    WHERE status IN ('pending', 'waiting', 'running', 'failed') AND dedup_key IS NOT NULL
    """,
    "CREATE INDEX tasks_dead ON {s}.tasks (created_at, seq) WHERE status = 'dead'",
    """
    CREATE TABLE {s}.results (
        task_id text PRIMARY KEY,
        status text NOT NULL,
        finished_at double precision NOT NULL,
        expires_at double precision,
        schedule_id text,
        data bytea NOT NULL
    )
    """,
    "CREATE INDEX results_expiry ON {s}.results (expires_at) WHERE expires_at IS NOT NULL",
    # An append-only log: no primary key to maintain; ``id`` orders events of equal time.
    """
    CREATE TABLE {s}.events (
        id bigint GENERATED ALWAYS AS IDENTITY,
        type text NOT NULL,
        task_id text NOT NULL,
        at double precision NOT NULL,
        queue text,
        worker_id text,
        attempt integer,
        error text,
        details jsonb NOT NULL
    )
    """,
    "CREATE INDEX events_by_task ON {s}.events (task_id, at, id)",
    "CREATE INDEX events_by_time ON {s}.events (at, id)",
)

# Schedules and dependencies. A scheduler tick reads due active schedules through
# ``schedules_due`` (in its order: one index range, no sort), so paused and ended schedules cost
# nothing. An edge ``(dependency_id, task_id)`` lives while ``task_id`` waits for ``dependency_id``;
# the primary key finds a finished task's dependents, and ``waiting_on`` counts a waiting task's
# edges, so that resolving a fan-in of N costs N small updates and no re-check of the N statuses.
_V2 = (
    """
    CREATE TABLE {s}.schedules (
        id text PRIMARY KEY,
        func text NOT NULL,
        queue text NOT NULL,
        status text NOT NULL,
        next_run_at double precision,
        created_at double precision NOT NULL,
        updated_at double precision NOT NULL,
        runs integer NOT NULL,
        last_run_at double precision,
        last_task_id text,
        data bytea NOT NULL
    )
    """,
    "CREATE INDEX schedules_due ON {s}.schedules (next_run_at, id) WHERE status = 'active'",
    """
    CREATE TABLE {s}.dependencies (
        dependency_id text NOT NULL,
        task_id text NOT NULL,
        PRIMARY KEY (dependency_id, task_id)
    )
    """,
    "ALTER TABLE {s}.tasks ADD COLUMN waiting_on integer NOT NULL DEFAULT 0",
)

# Storage parameters for a queue. No hot-path update of ``tasks`` can be HOT (each one changes
# ``status`` or ``lease_expires_at``, which the partial indexes read), so every task leaves dead
# row versions and dead index entries behind it: about two per task. Until vacuum removes them,
# a claim walks the dead entries at the head of ``tasks_runnable`` (an idle claim of a queue that
# drained 200,000 tasks read 3,177 index pages) and the reaper the ones in ``tasks_leases``. The
# server's default starts autovacuum after 20 % of the table changed, which with a long history
# is rarely; these start it after a fixed number of dead rows, and let it run without pauses on
# this table. ``fillfactor`` leaves room on each page, so that the next version of a row usually
# lands beside the previous one (fewer pages dirtied per task, and space that pruning frees on a
# page is reused by later inserts). Results and events are inserted and deleted in bulk: the
# server's defaults suit them.
_V3 = (
    """
    ALTER TABLE {s}.tasks SET (
        fillfactor = 80,
        autovacuum_vacuum_scale_factor = 0,
        autovacuum_vacuum_threshold = 5000,
        autovacuum_vacuum_insert_scale_factor = 0,
        autovacuum_vacuum_insert_threshold = 20000,
        autovacuum_analyze_scale_factor = 0.02,
        autovacuum_vacuum_cost_delay = 0
    )
    """,
    """
    ALTER TABLE {s}.dependencies SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000)
    """,
)

# Unresolved finished tasks found without reading the edges: ``has_dependents`` is true on a task
# from the enqueue of its first dependent until its edges are resolved, and ``tasks_unresolved``
# holds the finished ones among those, as a rule none, however many edges wait. Edges of tasks
# purged by older releases go. Written to be run again harmlessly (``IF NOT EXISTS``), so that it
# can move to another version number.
_V4 = (
    "ALTER TABLE {s}.tasks ADD COLUMN IF NOT EXISTS has_dependents boolean NOT NULL DEFAULT false",
    "UPDATE {s}.tasks SET has_dependents = true WHERE id IN (SELECT dependency_id FROM {s}.dependencies)",
    """
    DELETE FROM {s}.dependencies AS d WHERE NOT EXISTS (SELECT 1 FROM {s}.tasks AS t WHERE t.id = d.task_id)
    """,
    """
    CREATE INDEX IF NOT EXISTS tasks_unresolved ON {s}.tasks (id)
    WHERE has_dependents AND status IN ('completed', 'dead', 'cancelled', 'expired')
    """,
)

# Finished tasks by status and last change, for the retention purge: each worker asks for a
# batch of those changed before a time, which without it is a scan of the whole table (most of it
# finished tasks younger than the retention) however few are due. A finish adds one entry (it was
# no HOT update already); a claim none. ``IF NOT EXISTS``, so that it can move to another version.
_V5 = (
    """
    CREATE INDEX IF NOT EXISTS tasks_finished ON {s}.tasks (status, updated_at)
    WHERE status IN ('completed', 'dead', 'cancelled', 'expired')
    """,
)

#: Statements taking the schema from version ``n`` to ``n + 1``, at index ``n``.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4, _V5)

#: The version this release creates and understands.
SCHEMA_VERSION = len(_MIGRATIONS)


async def has_schema(conn: Any, schema: str) -> bool:
    """Whether ``schema`` holds OmniQ's tables (of any version) on the asyncpg connection ``conn``."""
    found: bool = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f'"{schema}".schema_version')
    return found


async def migrate(conn: Any, schema: str, where: str) -> None:
    """Bring ``schema`` to :data:`SCHEMA_VERSION` on the asyncpg connection ``conn``.

    ``where`` names the database for the error message.

    Raises:
        ConfigurationError: the schema was written by a newer release, whose tables this one does
            not know (writing to them could break what the newer release expects).
    """
    s = f'"{schema}"'
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"omniq.schema.{schema}")
        if await conn.fetchval("SELECT to_regnamespace($1) IS NULL", s):
            await conn.execute(f"CREATE SCHEMA {s}")
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {s}.schema_version (version integer NOT NULL)")
        found = await _stored_version(conn, s)
        if found > SCHEMA_VERSION:
            raise _newer(schema, where, found)
        if found == SCHEMA_VERSION:
            return
        for statements in _MIGRATIONS[found:]:
            for statement in statements:
                await conn.execute(statement.format(s=s))
        await conn.execute(f"DELETE FROM {s}.schema_version")  # noqa: S608
        await conn.execute(f"INSERT INTO {s}.schema_version (version) VALUES ($1)", SCHEMA_VERSION)  # noqa: S608


async def check_version(conn: Any, schema: str, where: str) -> None:
    """Refuse a ``schema`` that is not at :data:`SCHEMA_VERSION`, changing nothing: what
    ``open_existing`` does instead of :func:`migrate`, so that a read-only command never runs DDL
    (a migration may rewrite a large table, holding a lock that stops the workers meanwhile).

    Raises:
        ConfigurationError: naming the version found, this release's, and what to run.
    """
    found = await _stored_version(conn, f'"{schema}"')
    if found > SCHEMA_VERSION:
        raise _newer(schema, where, found)
    if found < SCHEMA_VERSION:
        raise ConfigurationError(
            f"the schema {schema!r} in {where} has OmniQ schema version {found}, older than this "
            f"omniq-postgres's ({SCHEMA_VERSION}); read-only commands do not migrate it: start a "
            "worker of this release once (`omniq worker`), which migrates it, then run the command again"
        )


async def _stored_version(conn: Any, quoted_schema: str) -> int:
    found: int = await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {quoted_schema}.schema_version")  # noqa: S608
    return found


def _newer(schema: str, where: str, found: int) -> ConfigurationError:
    return ConfigurationError(
        f"the schema {schema!r} in {where} has OmniQ schema version {found}, newer than this "
        f"omniq-postgres understands ({SCHEMA_VERSION}); upgrade omniq-postgres"
    )
