"""``huey-sqlite``: Huey's ``SqliteHuey``, the best-known peer on SQLite, with its consumer in a process.

Huey stores no results here (``results=False``): completion is counted in the consumer with Huey's
``SIGNAL_COMPLETE``, which fires after each task has run. Huey takes a task off the queue (deletes
its row) before running it, so its per-task cost is one write transaction, not two: that is Huey's
at-most-once design, not a shortcut of the harness. Its connection is switched from SQLite's default
``synchronous=FULL`` to ``NORMAL``, the setting OmniQ and the raw loop use.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from huey import SqliteHuey
from huey.signals import SIGNAL_COMPLETE

from _harness import (
    BenchConfig,
    Deadline,
    DoneReporter,
    WorkerProcess,
    latencies_from_log,
    paced,
    serve_protocol,
)
from bench_tasks import noop, record_start

__all__ = ["HueySqlite", "make_huey", "serve"]


def make_huey(path: Path) -> tuple[Any, Any, Any]:
    """A ``SqliteHuey`` on ``path`` and its no-op and latency tasks (named ``bench_tasks.*`` in
    every process, so the consumer finds what the producer queued)."""
    huey = SqliteHuey("bench", filename=str(path), results=False)
    # Huey offers fsync=True (FULL) or False (OFF); NORMAL matches the other SQLite rows. The
    # storage keeps this one connection (shared by its threads under a lock) from now on.
    huey.storage.conn.execute("PRAGMA synchronous = NORMAL")
    return huey, huey.task()(noop), huey.task()(record_start)


class HueySqlite:
    """Enqueue from this process; the consumer runs in a worker process."""

    name = "huey-sqlite"
    in_process = False

    def __init__(self, config: BenchConfig) -> None:
        self.notes = (
            f"1 consumer process, worker_type=thread, workers={config.huey_workers}, polling every "
            f"{config.poll_interval * 1000:g} ms without backoff, results off, synchronous=NORMAL; "
            "no bulk enqueue"
        )

    def enqueue_single(self, config: BenchConfig, workdir: Path) -> float:
        huey, noop_task, _ = make_huey(workdir / "huey.db")
        try:
            deadline = Deadline(config.phase_timeout, f"{self.name} enqueue single")
            started = time.perf_counter()
            for _ in range(config.single_count):
                noop_task()
            elapsed = time.perf_counter() - started
            deadline.check()
            return elapsed
        finally:
            huey.storage.close()

    def enqueue_batch(self, config: BenchConfig, workdir: Path) -> None:
        return None

    def drain(self, config: BenchConfig, workdir: Path) -> float:
        path = workdir / "huey.db"
        huey, noop_task, _ = make_huey(path)
        try:
            for _ in range(config.tasks):
                noop_task()
            deadline = Deadline(config.phase_timeout, f"{self.name} drain")
            with WorkerProcess(self.name, self._worker_args(config, path, config.tasks), workdir) as worker:
                worker.expect("ready", deadline)
                started = time.perf_counter()
                worker.release()
                worker.expect("done", deadline)
                elapsed = time.perf_counter() - started
            if (left := huey.pending_count()) != 0:
                raise RuntimeError(f"{self.name}: {left} tasks still queued after the drain")
            return elapsed
        finally:
            huey.storage.close()

    def latency(self, config: BenchConfig, workdir: Path) -> list[float]:
        path = workdir / "huey.db"
        log = workdir / "starts.log"
        log.touch()
        huey, _, record_task = make_huey(path)
        enqueued_at: dict[int, float] = {}
        try:
            deadline = Deadline(config.phase_timeout, f"{self.name} latency")
            count = config.latency_tasks
            with WorkerProcess(self.name, self._worker_args(config, path, count), workdir) as worker:
                worker.expect("ready", deadline)
                worker.release()
                time.sleep(0.3)  # let the consumer settle into its idle polling
                for key in paced(count, config.latency_interval, deadline):
                    enqueued_at[key] = time.time()
                    record_task(str(log), key)
                worker.expect("done", deadline)
            return latencies_from_log(log, enqueued_at)
        finally:
            huey.storage.close()

    @staticmethod
    def _worker_args(config: BenchConfig, path: Path, target: int) -> list[str]:
        return [
            str(path),
            "--target",
            str(target),
            "--workers",
            str(config.huey_workers),
            "--poll",
            str(config.poll_interval),
        ]


def serve(argv: list[str]) -> None:
    """The consumer process: Huey's own ``Consumer`` with thread workers, until SIGTERM."""
    parser = argparse.ArgumentParser(prog="_workers.py huey-sqlite")
    parser.add_argument("db", type=Path)
    parser.add_argument("--target", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--poll", type=float, required=True)
    args = parser.parse_args(argv)
    huey, _, _ = make_huey(args.db)
    reporter = DoneReporter(args.target)

    def completed(signal: str, task: Any, *args: Any, **kwargs: Any) -> None:
        reporter.completed()

    huey.signal(SIGNAL_COMPLETE)(completed)

    consumer = huey.create_consumer(
        workers=args.workers,
        worker_type="thread",
        periodic=False,
        initial_delay=args.poll,
        backoff=1.0,
        max_delay=args.poll,
    )
    serve_protocol(consumer.run)
