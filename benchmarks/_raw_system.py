"""``raw-sqlite``: the queue pattern written directly against ``sqlite3``, the engine's baseline.

One task at a time, each step its own committed transaction: claim with ``UPDATE ... RETURNING``
of the best pending row, run the function, mark the row done with a second ``UPDATE``. WAL with
``synchronous=NORMAL``, as OmniQ's SQLite backend sets it. No leases, retries, results or events:
the distance between this loop and a queue library is what the library's features cost.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from pathlib import Path

from _harness import (
    BenchConfig,
    Deadline,
    DoneReporter,
    WorkerProcess,
    latencies_from_log,
    paced,
    serve_protocol,
)
from bench_tasks import RAW_TASKS

__all__ = ["RawSqlite", "serve"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    payload BLOB NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS tasks_pending ON tasks (priority DESC, id) WHERE status = 'pending';
"""

INSERT = (
    "INSERT INTO tasks (queue, status, priority, payload, created_at) VALUES ('default', 'pending', 0, ?, ?)"
)

CLAIM = """
UPDATE tasks SET status = 'running', started_at = ?
WHERE id = (SELECT id FROM tasks WHERE status = 'pending' ORDER BY priority DESC, id LIMIT 1)
RETURNING id, payload
"""

FINISH = "UPDATE tasks SET status = 'done', finished_at = ? WHERE id = ?"

NOOP_PAYLOAD = json.dumps({"func": "noop", "args": []}).encode()


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (each statement or explicit BEGIN is one transaction)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(SCHEMA)
    return conn


class RawSqlite:
    """The raw loop: enqueue from this process, run the loop in a worker process."""

    name = "raw-sqlite"
    in_process = False
    notes = (
        "plain sqlite3, one task per claim, claim and finish each one committed transaction, "
        "WAL + synchronous=NORMAL; batch enqueue = executemany in one transaction"
    )

    def enqueue_single(self, config: BenchConfig, workdir: Path) -> float:
        conn = connect(workdir / "raw.db")
        try:
            deadline = Deadline(config.phase_timeout, f"{self.name} enqueue single")
            started = time.perf_counter()
            for _ in range(config.single_count):
                conn.execute(INSERT, (NOOP_PAYLOAD, time.time()))
            elapsed = time.perf_counter() - started
            deadline.check()
            return elapsed
        finally:
            conn.close()

    def enqueue_batch(self, config: BenchConfig, workdir: Path) -> float:
        conn = connect(workdir / "raw.db")
        try:
            started = time.perf_counter()
            self._insert_many(conn, config.tasks)
            return time.perf_counter() - started
        finally:
            conn.close()

    def drain(self, config: BenchConfig, workdir: Path) -> float:
        path = workdir / "raw.db"
        conn = connect(path)
        try:
            self._insert_many(conn, config.tasks)
            deadline = Deadline(config.phase_timeout, f"{self.name} drain")
            with WorkerProcess(self.name, self._worker_args(config, path, config.tasks), workdir) as worker:
                worker.expect("ready", deadline)
                started = time.perf_counter()
                worker.release()
                worker.expect("done", deadline)
                elapsed = time.perf_counter() - started
            (done,) = conn.execute("SELECT count(*) FROM tasks WHERE status = 'done'").fetchone()
            if done != config.tasks:
                raise RuntimeError(f"{self.name}: {done} of {config.tasks} tasks done after the drain")
            return elapsed
        finally:
            conn.close()

    def latency(self, config: BenchConfig, workdir: Path) -> list[float]:
        path = workdir / "raw.db"
        log = workdir / "starts.log"
        log.touch()
        conn = connect(path)
        enqueued_at: dict[int, float] = {}
        try:
            deadline = Deadline(config.phase_timeout, f"{self.name} latency")
            count = config.latency_tasks
            with WorkerProcess(self.name, self._worker_args(config, path, count), workdir) as worker:
                worker.expect("ready", deadline)
                worker.release()
                time.sleep(0.3)  # let the worker settle into its idle polling
                for key in paced(count, config.latency_interval, deadline):
                    payload = json.dumps({"func": "record_start", "args": [str(log), key]}).encode()
                    enqueued_at[key] = time.time()
                    conn.execute(INSERT, (payload, enqueued_at[key]))
                worker.expect("done", deadline)
            return latencies_from_log(log, enqueued_at)
        finally:
            conn.close()

    @staticmethod
    def _insert_many(conn: sqlite3.Connection, count: int) -> None:
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, ((NOOP_PAYLOAD, now) for _ in range(count)))
        conn.execute("COMMIT")

    @staticmethod
    def _worker_args(config: BenchConfig, path: Path, target: int) -> list[str]:
        return [str(path), "--target", str(target), "--poll", str(config.poll_interval)]


def serve(argv: list[str]) -> None:
    """The worker process: run the claim/run/finish loop until killed."""
    parser = argparse.ArgumentParser(prog="_workers.py raw-sqlite")
    parser.add_argument("db", type=Path)
    parser.add_argument("--target", type=int, required=True)
    parser.add_argument("--poll", type=float, required=True)
    args = parser.parse_args(argv)
    conn = connect(args.db)
    reporter = DoneReporter(args.target)

    def loop() -> None:
        while True:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(CLAIM, (time.time(),)).fetchone()
            conn.execute("COMMIT")
            if row is None:
                time.sleep(args.poll)
                continue
            task_id, payload = row
            call = json.loads(payload)
            RAW_TASKS[call["func"]](*call["args"])
            conn.execute(FINISH, (time.time(), task_id))
            reporter.completed()

    serve_protocol(loop)
