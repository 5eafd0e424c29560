"""The stores of ``scale.py``: a fresh one per case, on each engine, gone when the case ends.

A :class:`Store` knows its URL and the few engine-level operations the scale table needs beside
OmniQ's own API: gathering planner statistics (``ANALYZE``), the upkeep a production server does
by itself (PostgreSQL's autovacuum, off on the shared test server), the bytes the store holds, and
a description of what it holds (its *shape*, compared by the fill check of ``_scale_fill``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["ENGINES", "Shape", "Store", "open_store", "store_class"]

#: A store's contents described without ids or times: ``{what: description}``, compared as a whole.
Shape = dict[str, Any]

#: Columns and hash fields whose values a shape keeps (with their share of rows); of every other
#: one it keeps only the kinds of value (null, text, number, bytes), since ids, times and worker
#: names differ from store to store.
EXACT_FIELDS = frozenset(
    {
        "queue",
        "func",
        "priority",
        "status",
        "attempts",
        "max_attempts",
        "dedup_key",
        "depends_on",
        "schedule_id",
        "error",
        "waiting_on",
        "type",
        "attempt",
    }
)

#: The shared hashes of the Redis backend's by-task event index (``ev:task:<3 hex digits>``).
_BUCKET = re.compile(r"^ev:task:[0-9a-f]{3}$")
_TASK_ID = re.compile(r"[0-9a-f]{32}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _details_keys(value: Any) -> str:
    """An event's ``details`` JSON by its keys (a duration differs from run to run)."""
    text = value.decode() if isinstance(value, bytes) else str(value)
    return ",".join(sorted(re.findall(r'"(\w+)":', text)))


def table_shape(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], tasks: int) -> Shape:
    """One table's rows per task and, per column, what :data:`EXACT_FIELDS` says to keep."""
    shape: Shape = {f"{table}: rows per task": round(len(rows) / tasks, 3)}
    for index, column in enumerate(columns):
        values = [row[index] for row in rows]
        if column in EXACT_FIELDS:
            counts = collections.Counter(str(v) for v in values)
            shape[f"{table}.{column}"] = sorted((v, round(n / tasks, 3)) for v, n in counts.items())
        elif column == "details":
            shape[f"{table}.details keys"] = sorted({_details_keys(v) for v in values})
        else:
            shape[f"{table}.{column} kinds"] = sorted({_kind(v) for v in values})
    return shape


class Store:
    """A fresh store on one engine (the base class: an engine that needs no upkeep)."""

    #: The engine's ``--engines`` name and its name in the table.
    key: ClassVar[str]
    name: ClassVar[str]
    #: Whether its worker must run in this process (``memory://``).
    in_process: ClassVar[bool] = False
    #: Whether the engine keeps planner statistics (the ``statistics`` row applies).
    has_statistics: ClassVar[bool] = False
    #: What :meth:`upkeep` does, and how :meth:`bytes_used` counts, for the report.
    upkeep_note: ClassVar[str] = "nothing (the engine has no background upkeep)"
    bytes_note: ClassVar[str] = "not measured"

    def __init__(self, url: str) -> None:
        self.url = url

    async def analyze(self) -> None:
        """Gather the planner statistics of every OmniQ table."""
        raise RuntimeError(f"{self.name} keeps no planner statistics (the row does not apply)")

    async def upkeep(self) -> None:
        """What the engine's background upkeep would have done by now on a production server."""

    async def bytes_used(self) -> int | None:
        """The bytes the store holds now, or ``None`` where this cannot be measured."""
        return None

    @classmethod
    async def server_version(cls) -> str | None:
        """The version of the engine's server, for the report (``None``: no server)."""
        return None

    async def shape(self, tasks: int) -> Shape:
        """What the store holds, for ``tasks`` tasks stored (see :data:`Shape`)."""
        raise RuntimeError(f"{self.name} cannot be read from outside the process that holds it")


class SqliteStore(Store):
    """``sqlite:///<tmp>/scale.db``."""

    key, name = "sqlite", "omniq-sqlite"
    has_statistics = True
    upkeep_note = "nothing (SQLite gathers no statistics and reclaims no space by itself)"
    bytes_note = "pages in use (page_count - freelist_count) x page_size after a WAL checkpoint"
    TABLES = ("omniq_tasks", "omniq_results", "omniq_events", "omniq_dependencies")

    def __init__(self, path: Path) -> None:
        super().__init__(f"sqlite:///{path}")
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, isolation_level=None, timeout=60)

    async def analyze(self) -> None:
        """``ANALYZE`` (OmniQ-SQLite runs neither it nor ``PRAGMA optimize`` itself)."""
        with contextlib.closing(self._connect()) as conn:
            conn.execute("ANALYZE")

    async def bytes_used(self) -> int:
        """Pages in use (the file's pages less its free list) after a full WAL checkpoint."""
        with contextlib.closing(self._connect()) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            pages, free, size = (
                conn.execute(f"PRAGMA {pragma}").fetchone()[0]
                for pragma in ("page_count", "freelist_count", "page_size")
            )
        return int((pages - free) * size)

    async def shape(self, tasks: int) -> Shape:
        shape: Shape = {}
        with contextlib.closing(self._connect()) as conn:
            for table in self.TABLES:
                cursor = conn.execute(f"SELECT * FROM {table}")
                columns = [d[0] for d in cursor.description]
                shape |= table_shape(table, columns, cursor.fetchall(), tasks)
        return shape


class PostgresStore(Store):
    """``postgresql://...?schema=bench_scale_<hex>`` (``OMNIQ_BENCH_POSTGRES_URL``)."""

    key, name = "postgres", "omniq-postgres"
    has_statistics = True
    upkeep_note = "VACUUM ANALYZE of every OmniQ table (autovacuum is off on the shared server)"
    bytes_note = "pg_total_relation_size (heap, indexes, TOAST) of the schema's tables after VACUUM"
    TABLES = ("tasks", "results", "events", "dependencies")

    def __init__(self, schema: str) -> None:
        from _pg_common import SERVER_URL  # noqa: PLC0415 - asyncpg is needed only here

        super().__init__(f"{SERVER_URL}{'&' if '?' in SERVER_URL else '?'}schema={schema}")
        self.schema = schema

    @staticmethod
    async def _connect() -> Any:
        """A connection to the benchmark's server (``OMNIQ_BENCH_POSTGRES_URL``)."""
        import asyncpg  # noqa: PLC0415

        from _pg_common import SERVER_URL  # noqa: PLC0415

        return await asyncpg.connect(SERVER_URL)

    async def _each_table(self, command: str) -> None:
        """``command`` (``ANALYZE``, ``VACUUM``...) on each of the schema's tables: never on the
        whole database, which other users share."""
        conn = await self._connect()
        try:
            names = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", self.schema)
            for row in names:
                await conn.execute(f'{command} "{self.schema}"."{row["tablename"]}"')
        finally:
            await conn.close()

    async def analyze(self) -> None:
        await self._each_table("ANALYZE")

    @classmethod
    async def server_version(cls) -> str:
        conn = await cls._connect()
        try:
            version: str = await conn.fetchval("SHOW server_version")
            return version
        finally:
            await conn.close()

    async def upkeep(self) -> None:
        await self._each_table("VACUUM ANALYZE")

    async def bytes_used(self) -> int:
        """``pg_total_relation_size`` (heap, indexes, TOAST) of the schema's tables after ``VACUUM``
        (space of dead rows is then free for new ones, as autovacuum would leave it)."""
        await self._each_table("VACUUM")
        conn = await self._connect()
        try:
            size: int = await conn.fetchval(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
                self.schema,
            )
            return size
        finally:
            await conn.close()

    async def shape(self, tasks: int) -> Shape:
        shape: Shape = {}
        conn = await self._connect()
        try:
            for table in self.TABLES:
                statement = await conn.prepare(f'SELECT * FROM "{self.schema}".{table}')
                columns = [attribute.name for attribute in statement.get_attributes()]
                rows = await statement.fetch()
                shape |= table_shape(table, columns, [tuple(row) for row in rows], tasks)
        finally:
            await conn.close()
        return shape


class RedisStore(Store):
    """``redis://.../14?prefix=bench_scale_<hex>`` (``OMNIQ_BENCH_REDIS_URL``), keys deleted after."""

    key, name = "redis", "omniq-redis"
    bytes_note = "the sum of MEMORY USAGE ... SAMPLES 0 over the prefix's keys"

    def __init__(self, prefix: str) -> None:
        from _redis_systems import REDIS_URL  # noqa: PLC0415 - redis-py is needed only here

        super().__init__(f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}prefix={prefix}")
        self.prefix = prefix
        self.pattern = "\\{" + prefix + "\\}:*"

    @staticmethod
    def _client() -> Any:  # redis-py's annotations differ across releases
        """A client of the benchmark's database (``OMNIQ_BENCH_REDIS_URL``)."""
        import redis.asyncio as aioredis  # noqa: PLC0415

        from _redis_systems import REDIS_URL  # noqa: PLC0415

        return aioredis.Redis.from_url(REDIS_URL)

    @classmethod
    async def server_version(cls) -> str:
        client = cls._client()
        try:
            return str((await client.info("server"))["redis_version"])
        finally:
            await client.aclose()

    async def keys(self, client: Any) -> list[bytes]:
        """Every key under the prefix."""
        return [key async for key in client.scan_iter(match=self.pattern, count=5000)]

    async def bytes_used(self) -> int:
        """The sum of ``MEMORY USAGE ... SAMPLES 0`` (exact) over the prefix's keys: what each key
        and its value take, without the server's own overhead, shared with other users."""
        client = self._client()
        try:
            keys = await self.keys(client)
            total = 0
            for start in range(0, len(keys), 1000):
                pipe = client.pipeline(transaction=False)
                for key in keys[start : start + 1000]:
                    pipe.memory_usage(key, samples=0)
                total += sum(n or 0 for n in await pipe.execute())
            return total
        finally:
            await client.aclose()

    async def delete_all(self) -> None:
        """Delete every key under the prefix."""
        client = self._client()
        try:
            keys = await self.keys(client)
            for start in range(0, len(keys), 5000):
                await client.unlink(*keys[start : start + 5000])
        finally:
            await client.aclose()

    async def shape(self, tasks: int) -> Shape:
        """Keys per task by kind, each kind's type, hash fields, which keys expire, and the
        sizes of the shared structures per task. The wake-up list is left out: only an idle
        worker reads it, so its length says nothing about the stored tasks."""
        client = self._client()
        shape: Shape = {}
        kinds: collections.Counter[str] = collections.Counter()
        try:
            bucket_fields = 0
            for key in await self.keys(client):
                kind = _TASK_ID.sub("<id>", key.decode().split("}:", 1)[1])
                if _BUCKET.match(kind):
                    # Hashes shared by the tasks whose ids fall in them: which ones exist
                    # depends on the ids, so only their type and their entries per task count.
                    shape.setdefault("ev:task:<bucket> type", set()).add((await client.type(key)).decode())
                    bucket_fields += await client.hlen(key)
                elif not kind.startswith("w:"):
                    kinds[kind] += 1
                    await self._describe(client, key, kind, shape, tasks)
            if bucket_fields:
                shape["ev:task:<bucket> entries per task"] = round(bucket_fields / tasks, 3)
        finally:
            await client.aclose()
        shape |= {f"{kind}: keys per task": round(n / tasks, 3) for kind, n in kinds.items()}
        return {what: sorted(v) if isinstance(v, set) else v for what, v in shape.items()}

    @staticmethod
    async def _describe(client: Any, key: bytes, kind: str, shape: Shape, tasks: int) -> None:
        kind_type = (await client.type(key)).decode()
        shape.setdefault(f"{kind} type", set()).add(kind_type)
        shape.setdefault(f"{kind} expires", set()).add(await client.ttl(key) > 0)
        if kind_type == "hash":
            fields = {k.decode(): v.decode(errors="replace") for k, v in (await client.hgetall(key)).items()}
            shape.setdefault(f"{kind} fields", set()).add(",".join(sorted(fields)))
            for field in EXACT_FIELDS & fields.keys():
                shape.setdefault(f"{kind}.{field}", set()).add(fields[field])
        elif "<id>" not in kind:  # a structure shared by every task: its size per task
            size = {"zset": client.zcard, "stream": client.xlen, "list": client.llen, "set": client.scard}
            if kind_type in size:
                shape[f"{kind} entries per task"] = round(await size[kind_type](key) / tasks, 3)


class MemoryStore(Store):
    """``memory://scale-<hex>``: it lives in this process, so its worker runs here too."""

    key, name = "memory", "omniq-memory"
    in_process = True


#: ``--engines`` names, in table order.
ENGINES = ("memory", "sqlite", "postgres", "redis")


_CLASSES: dict[str, type[Store]] = {
    "memory": MemoryStore,
    "sqlite": SqliteStore,
    "postgres": PostgresStore,
    "redis": RedisStore,
}


def store_class(engine: str) -> type[Store]:
    """The store class of ``engine`` (for what it can do, before any store exists)."""
    return _CLASSES[engine]


@contextlib.contextmanager
def open_store(engine: str, workdir: Path) -> Iterator[Store]:
    """A fresh store on ``engine``, removed on exit (SQLite's file goes with ``workdir``)."""
    if engine == "sqlite":
        yield SqliteStore(workdir / "scale.db")
    elif engine == "postgres":
        from _pg_common import fresh_schema  # noqa: PLC0415 - asyncpg is needed only here

        with fresh_schema("scale", create=False) as schema:
            yield PostgresStore(schema)
    elif engine == "redis":
        store = RedisStore(f"bench_scale_{uuid.uuid4().hex[:10]}")
        try:
            yield store
        finally:
            asyncio.run(store.delete_all())
    elif engine == "memory":
        yield MemoryStore(f"memory://scale-{uuid.uuid4().hex}")
    else:
        raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
