"""The PostgreSQL peers: PgQueuer and Procrastinate, each with its own worker in its own process.

Both run with their defaults (PgQueuer's ``QueueManager.run()``: batches of 10; Procrastinate's
``run_worker_async()``: concurrency 1), each in a fresh schema chosen through the connection's
``search_path``. A task counts as completed when its function has returned inside the worker
(before the peer records it), which if anything favours the peers.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from _harness import (
    BenchConfig,
    Deadline,
    DoneReporter,
    WorkerProcess,
    apaced,
    aserve_protocol,
    latencies_from_log,
    run_async,
)
from _pg_common import SERVER_URL, fresh_schema, with_search_path
from bench_tasks import record_start

__all__ = ["PgQueuerSystem", "ProcrastinateSystem", "serve"]


class _Peer(abc.ABC):
    """The phases, the same for both peers; each peer says how to connect, enqueue and serve."""

    name: str
    notes: str
    in_process = False

    def __init__(self, config: BenchConfig) -> None:
        self.config = config

    @abc.abstractmethod
    async def connect(self, schema: str) -> Any:
        """An open client on ``schema``, with the peer's tables installed."""

    @abc.abstractmethod
    async def disconnect(self, client: Any) -> None:
        """Close the client."""

    @abc.abstractmethod
    async def enqueue(self, client: Any, func: str, kwargs: dict[str, Any]) -> None:
        """Enqueue one task."""

    @abc.abstractmethod
    async def enqueue_many(self, client: Any, func: str, count: int) -> None:
        """Enqueue ``count`` argument-less tasks in the peer's bulk call."""

    def enqueue_single(self, config: BenchConfig, workdir: Path) -> float:
        with fresh_schema(self.name) as schema:
            return run_async(self._single(schema, config), config.phase_timeout, f"{self.name} single")

    async def _single(self, schema: str, config: BenchConfig) -> float:
        client = await self.connect(schema)
        try:
            started = time.perf_counter()
            for _ in range(config.single_count):
                await self.enqueue(client, "noop", {})
            return time.perf_counter() - started
        finally:
            await self.disconnect(client)

    def enqueue_batch(self, config: BenchConfig, workdir: Path) -> float:
        with fresh_schema(self.name) as schema:
            return run_async(self._batch(schema, config.tasks), config.phase_timeout, f"{self.name} batch")

    async def _batch(self, schema: str, count: int) -> float:
        client = await self.connect(schema)
        try:
            started = time.perf_counter()
            if count:
                await self.enqueue_many(client, "noop", count)
            return time.perf_counter() - started
        finally:
            await self.disconnect(client)

    def drain(self, config: BenchConfig, workdir: Path) -> float:
        with fresh_schema(self.name) as schema:
            run_async(self._batch(schema, config.tasks), config.phase_timeout, f"{self.name} fill")
            deadline = Deadline(config.phase_timeout, f"{self.name} drain")
            with WorkerProcess(self.name, [self.name, schema, str(config.tasks)], workdir) as worker:
                worker.expect("ready", deadline)
                started = time.perf_counter()
                worker.release()
                worker.expect("done", deadline)
                return time.perf_counter() - started

    def latency(self, config: BenchConfig, workdir: Path) -> list[float]:
        log = workdir / "starts.log"
        log.touch()
        with fresh_schema(self.name) as schema:
            run_async(self._batch(schema, 0), config.phase_timeout, f"{self.name} install")
            deadline = Deadline(config.phase_timeout, f"{self.name} latency")
            count = config.latency_tasks
            with WorkerProcess(self.name, [self.name, schema, str(count)], workdir) as worker:
                worker.expect("ready", deadline)
                worker.release()
                enqueued_at = run_async(
                    self._feed(schema, log, deadline), config.phase_timeout, f"{self.name} feed"
                )
                worker.expect("done", deadline)
        return latencies_from_log(log, enqueued_at)

    async def _feed(self, schema: str, log: Path, deadline: Deadline) -> dict[int, float]:
        enqueued_at: dict[int, float] = {}
        client = await self.connect(schema)
        try:
            await asyncio.sleep(0.3)  # let the worker settle into waiting
            async for key in apaced(self.config.latency_tasks, self.config.latency_interval, deadline):
                enqueued_at[key] = time.time()
                await self.enqueue(client, "record_start", {"path": str(log), "key": key})
        finally:
            await self.disconnect(client)
        return enqueued_at


class PgQueuerSystem(_Peer):
    """PgQueuer over one asyncpg connection."""

    name = "pgqueuer"
    notes = "PgQueuer QueueManager.run() defaults (batch_size=10), async entrypoints, asyncpg"

    async def connect(self, schema: str) -> Any:
        import asyncpg  # noqa: PLC0415
        from pgqueuer import Queries  # noqa: PLC0415

        conn = await asyncpg.connect(SERVER_URL, server_settings={"search_path": schema})
        queries = Queries.from_asyncpg_connection(conn)
        if not await queries.schema_is_installed():
            await queries.install(create_schema=False)
        return queries

    async def disconnect(self, client: Any) -> None:
        await client.driver._connection.close()

    async def enqueue(self, client: Any, func: str, kwargs: dict[str, Any]) -> None:
        await client.enqueue(func, json.dumps(kwargs).encode() if kwargs else None)

    async def enqueue_many(self, client: Any, func: str, count: int) -> None:
        await client.enqueue([func] * count, [None] * count, [0] * count)


class ProcrastinateSystem(_Peer):
    """Procrastinate over its psycopg connector."""

    name = "procrastinate"
    notes = "Procrastinate run_worker_async() defaults (concurrency=1), async tasks, psycopg pool"

    async def connect(self, schema: str) -> Any:
        app = _procrastinate_app(schema, DoneReporter(0))
        await app.open_async()
        if not await _procrastinate_installed(app):
            await app.schema_manager.apply_schema_async()
        return app

    async def disconnect(self, client: Any) -> None:
        await client.close_async()

    async def enqueue(self, client: Any, func: str, kwargs: dict[str, Any]) -> None:
        await client.tasks[func].defer_async(**kwargs)

    async def enqueue_many(self, client: Any, func: str, count: int) -> None:
        await client.tasks[func].batch_defer_async(*([{}] * count))


async def _procrastinate_installed(app: Any) -> bool:
    row = await app.connector.execute_query_one_async(
        "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS installed"
    )
    return bool(row["installed"])


def _procrastinate_app(schema: str, reporter: DoneReporter) -> Any:
    import procrastinate  # noqa: PLC0415

    conninfo = with_search_path(SERVER_URL, schema)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))

    async def noop() -> None:
        reporter.completed()

    async def record(path: str, key: int) -> None:
        record_start(path, key)
        reporter.completed()

    # Called rather than applied with ``@``: the decorators are untyped for mypy.
    app.task(name="noop")(noop)
    app.task(name="record_start")(record)
    return app


def serve(argv: list[str]) -> None:
    """The worker process of one peer: ``<peer> <schema> <target>``."""
    parser = argparse.ArgumentParser(prog="_workers.py <peer>")
    parser.add_argument("peer", choices=["pgqueuer", "procrastinate"])
    parser.add_argument("schema")
    parser.add_argument("target", type=int)
    args = parser.parse_args(argv)
    asyncio.run(_serve_pgqueuer(args) if args.peer == "pgqueuer" else _serve_procrastinate(args))


async def _serve_pgqueuer(args: Any) -> None:
    import asyncpg  # noqa: PLC0415
    from pgqueuer import Queries, QueueManager  # noqa: PLC0415

    reporter = DoneReporter(args.target)
    conn = await asyncpg.connect(SERVER_URL, server_settings={"search_path": args.schema})
    manager = QueueManager(Queries.from_asyncpg_connection(conn))

    async def noop(job: Any) -> None:
        reporter.completed()

    async def record(job: Any) -> None:
        call = json.loads(job.payload)
        record_start(call["path"], call["key"])
        reporter.completed()

    manager.entrypoint("noop")(noop)
    manager.entrypoint("record_start")(record)

    await aserve_protocol(manager.run)


async def _serve_procrastinate(args: Any) -> None:
    reporter = DoneReporter(args.target)
    app = _procrastinate_app(args.schema, reporter)
    async with app.open_async():
        await aserve_protocol(lambda: app.run_worker_async(queues=["default"], install_signal_handlers=False))
