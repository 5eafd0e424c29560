"""OmniQ on PostgreSQL and the raw ``asyncpg`` loop it is measured against.

``omniq-postgres`` is OmniQ's own SQLite system pointed at a PostgreSQL schema: the same phases,
worker process and settings (results and events stored). ``raw-postgres`` is the engine's
baseline for this queue pattern: one process claiming batches of 100 with ``FOR UPDATE SKIP
LOCKED`` and marking them done with one ``UPDATE ... WHERE id = ANY(...)``; no leases, retries,
results or events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import asyncpg

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
from _omniq_systems import OmniQSqlite
from _pg_common import SERVER_URL, fresh_schema
from bench_tasks import RAW_TASKS

__all__ = ["OmniQPostgres", "RawPostgres", "serve"]

#: Tasks per claim of the raw loop.
RAW_BATCH = 100


class OmniQPostgres(OmniQSqlite):
    """``postgresql://...?schema=<fresh>`` with the worker in its own process."""

    def __init__(self, config: BenchConfig) -> None:
        super().__init__(config, "async")
        self.name = "omniq-postgres"
        self.notes = self.notes.replace("1 worker process", "1 worker process, asyncpg pool")
        self._schemas: dict[Path, str] = {}

    def url(self, workdir: Path) -> str:
        return f"{SERVER_URL}{'&' if '?' in SERVER_URL else '?'}schema={self._schemas[workdir]}"

    def _in_schema(self, phase: Any, config: BenchConfig, workdir: Path) -> Any:
        with fresh_schema("omniq", create=False) as schema:
            self._schemas[workdir] = schema
            try:
                return phase(config, workdir)
            finally:
                del self._schemas[workdir]

    def enqueue_single(self, config: BenchConfig, workdir: Path) -> float:
        return float(self._in_schema(super().enqueue_single, config, workdir))

    def enqueue_batch(self, config: BenchConfig, workdir: Path) -> float:
        return float(self._in_schema(super().enqueue_batch, config, workdir))

    def drain(self, config: BenchConfig, workdir: Path) -> float:
        return float(self._in_schema(super().drain, config, workdir))

    def latency(self, config: BenchConfig, workdir: Path) -> list[float]:
        latencies: list[float] = self._in_schema(super().latency, config, workdir)
        return latencies


SCHEMA = """
CREATE TABLE {s}.tasks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue text NOT NULL,
    status text NOT NULL,
    priority integer NOT NULL DEFAULT 0,
    payload bytea NOT NULL,
    created_at double precision NOT NULL,
    started_at double precision,
    finished_at double precision
);
CREATE INDEX tasks_pending ON {s}.tasks (priority DESC, id) WHERE status = 'pending';
"""

INSERT = "INSERT INTO {s}.tasks (queue, status, payload, created_at) VALUES ('default', 'pending', $1, $2)"

CLAIM = """
WITH picked AS (
    SELECT id FROM {s}.tasks WHERE status = 'pending' ORDER BY priority DESC, id LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE {s}.tasks AS t SET status = 'running', started_at = $1 FROM picked WHERE t.id = picked.id
RETURNING t.id, t.payload
"""

FINISH = "UPDATE {s}.tasks SET status = 'done', finished_at = $1 WHERE id = ANY($2::bigint[])"

NOOP_PAYLOAD = json.dumps({"func": "noop", "args": []}).encode()


async def _connect(schema: str) -> Any:
    conn = await asyncpg.connect(SERVER_URL)
    if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.tasks"):
        await conn.execute(SCHEMA.format(s=schema))
    return conn


class RawPostgres:
    """The raw loop: enqueue from this process, run the loop in a worker process."""

    name = "raw-postgres"
    in_process = False
    notes = (
        f"plain asyncpg, claim {RAW_BATCH} per statement (CTE FOR UPDATE SKIP LOCKED + UPDATE RETURNING), "
        "one UPDATE ... = ANY() per batch to finish; batch enqueue = executemany in one transaction"
    )

    def enqueue_single(self, config: BenchConfig, workdir: Path) -> float:
        with fresh_schema("raw") as schema:
            return run_async(self._single(schema, config), config.phase_timeout, f"{self.name} single")

    async def _single(self, schema: str, config: BenchConfig) -> float:
        conn = await _connect(schema)
        try:
            started = time.perf_counter()
            for _ in range(config.single_count):
                await conn.execute(INSERT.format(s=schema), NOOP_PAYLOAD, time.time())
            return time.perf_counter() - started
        finally:
            await conn.close()

    def enqueue_batch(self, config: BenchConfig, workdir: Path) -> float:
        with fresh_schema("raw") as schema:
            return run_async(self._batch(schema, config.tasks), config.phase_timeout, f"{self.name} batch")

    async def _batch(self, schema: str, count: int) -> float:
        conn = await _connect(schema)
        try:
            started = time.perf_counter()
            await _insert_many(conn, schema, count)
            return time.perf_counter() - started
        finally:
            await conn.close()

    def drain(self, config: BenchConfig, workdir: Path) -> float:
        with fresh_schema("raw") as schema:
            run_async(self._batch(schema, config.tasks), config.phase_timeout, f"{self.name} fill")
            deadline = Deadline(config.phase_timeout, f"{self.name} drain")
            with WorkerProcess(self.name, self._worker_args(config, schema, config.tasks), workdir) as worker:
                worker.expect("ready", deadline)
                started = time.perf_counter()
                worker.release()
                worker.expect("done", deadline)
                elapsed = time.perf_counter() - started
            done = run_async(self._done(schema), config.phase_timeout, f"{self.name} check")
            if done != config.tasks:
                raise RuntimeError(f"{self.name}: {done} of {config.tasks} tasks done after the drain")
            return elapsed

    async def _done(self, schema: str) -> int:
        conn = await _connect(schema)
        try:
            done: int = await conn.fetchval(f"SELECT count(*) FROM {schema}.tasks WHERE status = 'done'")
            return done
        finally:
            await conn.close()

    def latency(self, config: BenchConfig, workdir: Path) -> list[float]:
        log = workdir / "starts.log"
        log.touch()
        with fresh_schema("raw") as schema:
            run_async(self._batch(schema, 0), config.phase_timeout, f"{self.name} schema")
            deadline = Deadline(config.phase_timeout, f"{self.name} latency")
            count = config.latency_tasks
            with WorkerProcess(self.name, self._worker_args(config, schema, count), workdir) as worker:
                worker.expect("ready", deadline)
                worker.release()
                enqueued_at = run_async(
                    self._feed(schema, log, config, deadline), config.phase_timeout, f"{self.name} feed"
                )
                worker.expect("done", deadline)
        return latencies_from_log(log, enqueued_at)

    async def _feed(
        self, schema: str, log: Path, config: BenchConfig, deadline: Deadline
    ) -> dict[int, float]:
        enqueued_at: dict[int, float] = {}
        conn = await _connect(schema)
        try:
            await asyncio.sleep(0.3)  # let the worker settle into its idle polling
            async for key in apaced(config.latency_tasks, config.latency_interval, deadline):
                payload = json.dumps({"func": "record_start", "args": [str(log), key]}).encode()
                enqueued_at[key] = time.time()
                await conn.execute(INSERT.format(s=schema), payload, enqueued_at[key])
        finally:
            await conn.close()
        return enqueued_at

    @staticmethod
    def _worker_args(config: BenchConfig, schema: str, target: int) -> list[str]:
        return [schema, "--target", str(target), "--poll", str(config.poll_interval)]


async def _insert_many(conn: Any, schema: str, count: int) -> None:
    now = time.time()
    async with conn.transaction():
        await conn.executemany(INSERT.format(s=schema), [(NOOP_PAYLOAD, now)] * count)


def serve(argv: list[str]) -> None:
    """The worker process: claim a batch, run it, mark it done; poll when the queue is empty."""
    parser = argparse.ArgumentParser(prog="_workers.py raw-postgres")
    parser.add_argument("schema")
    parser.add_argument("--target", type=int, required=True)
    parser.add_argument("--poll", type=float, required=True)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args))


async def _serve(args: Any) -> None:
    conn = await _connect(args.schema)
    reporter = DoneReporter(args.target)
    claim, finish = CLAIM.format(s=args.schema), FINISH.format(s=args.schema)

    async def loop() -> None:
        while True:
            rows = await conn.fetch(claim, time.time(), RAW_BATCH)
            if not rows:
                await asyncio.sleep(args.poll)
                continue
            for _, payload in rows:
                call = json.loads(payload)
                RAW_TASKS[call["func"]](*call["args"])
            await conn.execute(finish, time.time(), [row[0] for row in rows])
            reporter.completed(len(rows))

    await aserve_protocol(loop)
