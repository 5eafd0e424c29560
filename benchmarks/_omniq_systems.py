"""OmniQ on its in-memory backend (worker in the same process) and on SQLite (worker process).

Both use OmniQ's default settings (results and events stored, leases, retries) and its asyncio
worker, ``run_worker("async", max_workers=...)``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from _harness import (
    OMNIQ_SETTINGS,
    BenchConfig,
    Deadline,
    DoneReporter,
    WorkerProcess,
    apaced,
    aserve_protocol,
    latencies_from_log,
    run_async,
)
from omniq.core import AsyncOmniQ
from omniq.core.models import TaskStatus
from omniq.core.worker import BaseWorker

__all__ = ["OmniQMemory", "OmniQSqlite", "serve"]

#: The no-op task and the latency task for each kind of task function.
TASKS = {
    "async": ("omniq.core.testing.tasks:async_noop", "bench_tasks:async_record_start"),
    "sync": ("omniq.core.testing.tasks:noop", "bench_tasks:record_start"),
}

#: How often the code waiting for a drain to end looks at the worker's completed count.
COMPLETION_POLL = 0.002


def running_worker(app: AsyncOmniQ) -> BaseWorker:
    """The worker ``app`` runs in the background.

    AsyncOmniQ has no public handle on it; the harness reads its ``completed_count`` (outcomes
    durably written) so that the end of a drain costs no query against the store.
    """
    worker = app._worker
    if worker is None:
        raise RuntimeError("the application runs no worker")
    return worker


async def wait_completed(worker: BaseWorker, target: int, reporter: DoneReporter | None = None) -> None:
    """Return once ``worker`` has settled ``target`` tasks (reporting progress if asked)."""
    while worker.completed_count < target:  # noqa: ASYNC110 - a worker offers no completion event
        await asyncio.sleep(COMPLETION_POLL)
    if reporter is not None:
        reporter.reached(worker.completed_count)


async def completed_tasks(app: AsyncOmniQ) -> int:
    """How many tasks the store holds as completed."""
    counts = await app.counts()
    return sum(per_status.get(TaskStatus.COMPLETED.value, 0) for per_status in counts.values())


def _import_tasks(app: AsyncOmniQ, kind: str) -> None:
    """Import the task functions before the clock starts, as Huey's consumer does at start-up
    (``omniq.core.testing`` imports pytest: about 0.15 s the first time)."""
    for name in TASKS[kind]:
        app.functions.resolve(name)


class _OmniQEnqueue:
    """The enqueue phases, the same for every OmniQ backend."""

    name: str
    kind: str
    in_process = False

    def url(self, workdir: Path) -> str:
        raise NotImplementedError

    def enqueue_single(self, config: BenchConfig, workdir: Path) -> float:
        return run_async(self._enqueue_single(config, workdir), config.phase_timeout, f"{self.name} enqueue")

    async def _enqueue_single(self, config: BenchConfig, workdir: Path) -> float:
        noop = TASKS[self.kind][0]
        async with AsyncOmniQ(self.url(workdir)) as app:
            started = time.perf_counter()
            for _ in range(config.single_count):
                await app.enqueue(noop)
            return time.perf_counter() - started

    def enqueue_batch(self, config: BenchConfig, workdir: Path) -> float:
        return run_async(self._enqueue_batch(config, workdir), config.phase_timeout, f"{self.name} batch")

    async def _enqueue_batch(self, config: BenchConfig, workdir: Path) -> float:
        noop = TASKS[self.kind][0]
        async with AsyncOmniQ(self.url(workdir)) as app:
            started = time.perf_counter()
            await app.enqueue_many(noop, [{}] * config.tasks)
            return time.perf_counter() - started


class OmniQMemory(_OmniQEnqueue):
    """``memory://``: the store lives in one process, so the worker runs in the benchmark's own."""

    name = "omniq-memory"
    in_process = True
    kind = "async"

    def __init__(self, config: BenchConfig) -> None:
        self.notes = (
            f"worker in the SAME process (start_worker), async_noop, max_workers={config.omniq_max_workers}; "
            "not comparable with the worker-process rows"
        )

    def url(self, workdir: Path) -> str:
        return f"memory://bench-{uuid.uuid4().hex}"

    def drain(self, config: BenchConfig, workdir: Path) -> float:
        return run_async(self._drain(config, workdir), config.phase_timeout, f"{self.name} drain")

    async def _drain(self, config: BenchConfig, workdir: Path) -> float:
        async with AsyncOmniQ(self.url(workdir), **OMNIQ_SETTINGS) as app:
            await app.enqueue_many(TASKS[self.kind][0], [{}] * config.tasks)
            _import_tasks(app, self.kind)
            started = time.perf_counter()
            await app.start_worker("async", max_workers=config.omniq_max_workers)
            await wait_completed(running_worker(app), config.tasks)
            elapsed = time.perf_counter() - started
            await app.stop_worker()
            if (done := await completed_tasks(app)) != config.tasks:
                raise RuntimeError(f"{self.name}: {done} of {config.tasks} tasks completed after the drain")
            return elapsed

    def latency(self, config: BenchConfig, workdir: Path) -> list[float]:
        return run_async(self._latency(config, workdir), config.phase_timeout, f"{self.name} latency")

    async def _latency(self, config: BenchConfig, workdir: Path) -> list[float]:
        log = workdir / "starts.log"
        log.touch()
        deadline = Deadline(config.phase_timeout, f"{self.name} latency")
        enqueued_at: dict[int, float] = {}
        async with AsyncOmniQ(self.url(workdir), **OMNIQ_SETTINGS) as app:
            _import_tasks(app, self.kind)
            await app.start_worker("async", max_workers=config.omniq_max_workers)
            await asyncio.sleep(0.3)
            async for key in apaced(config.latency_tasks, config.latency_interval, deadline):
                enqueued_at[key] = time.time()
                await app.enqueue(TASKS[self.kind][1], {"path": str(log), "key": key})
            await wait_completed(running_worker(app), config.latency_tasks)
        return latencies_from_log(log, enqueued_at)


class OmniQSqlite(_OmniQEnqueue):
    """``sqlite:///<tmp>/bench.db`` with the worker in its own process.

    Args:
        config: the run's settings.
        kind: ``"async"`` runs coroutine no-ops on the loop, ``"sync"`` plain functions in threads.
    """

    def __init__(self, config: BenchConfig, kind: str = "async") -> None:
        self.kind = kind
        self.name = "omniq-sqlite" if kind == "async" else "omniq-sqlite-sync"
        task = TASKS[kind][0].rpartition(":")[2]
        where = "on the event loop" if kind == "async" else "in worker threads"
        self.notes = (
            f"1 worker process, run_worker('async', max_workers={config.omniq_max_workers}), "
            f"{task} {where}; default settings (results + events stored, claim_batch=500)"
        )

    def url(self, workdir: Path) -> str:
        return f"sqlite:///{workdir / 'bench.db'}"

    def drain(self, config: BenchConfig, workdir: Path) -> float:
        url = self.url(workdir)
        run_async(self._fill(url, config.tasks), config.phase_timeout, f"{self.name} fill")
        deadline = Deadline(config.phase_timeout, f"{self.name} drain")
        with WorkerProcess("omniq", self._worker_args(config, url, config.tasks), workdir) as worker:
            worker.expect("ready", deadline)
            started = time.perf_counter()
            worker.release()
            worker.expect("done", deadline)
            elapsed = time.perf_counter() - started
        done = run_async(self._completed(url), config.phase_timeout, f"{self.name} check")
        if done != config.tasks:
            raise RuntimeError(f"{self.name}: {done} of {config.tasks} tasks completed after the drain")
        return elapsed

    async def _fill(self, url: str, count: int) -> None:
        async with AsyncOmniQ(url) as app:
            await app.enqueue_many(TASKS[self.kind][0], [{}] * count)

    @staticmethod
    async def _completed(url: str) -> int:
        async with AsyncOmniQ(url) as app:
            return await completed_tasks(app)

    def latency(self, config: BenchConfig, workdir: Path) -> list[float]:
        url = self.url(workdir)
        log = workdir / "starts.log"
        log.touch()
        deadline = Deadline(config.phase_timeout, f"{self.name} latency")
        count = config.latency_tasks
        with WorkerProcess("omniq", self._worker_args(config, url, count), workdir) as worker:
            worker.expect("ready", deadline)
            worker.release()
            enqueued_at = run_async(
                self._feed(url, log, config, deadline), config.phase_timeout, f"{self.name} latency"
            )
            worker.expect("done", deadline)
        return latencies_from_log(log, enqueued_at)

    async def _feed(self, url: str, log: Path, config: BenchConfig, deadline: Deadline) -> dict[int, float]:
        enqueued_at: dict[int, float] = {}
        async with AsyncOmniQ(url) as app:
            await asyncio.sleep(0.3)  # let the worker settle into waiting
            async for key in apaced(config.latency_tasks, config.latency_interval, deadline):
                enqueued_at[key] = time.time()
                await app.enqueue(TASKS[self.kind][1], {"path": str(log), "key": key})
        return enqueued_at

    def _worker_args(self, config: BenchConfig, url: str, target: int) -> list[str]:
        return [
            url,
            "--kind",
            self.kind,
            "--max-workers",
            str(config.omniq_max_workers),
            "--target",
            str(target),
        ]


def serve(argv: list[str]) -> None:
    """The worker process: ``AsyncOmniQ(url).run_worker("async", ...)`` until SIGTERM."""
    parser = argparse.ArgumentParser(prog="_workers.py omniq")
    parser.add_argument("url")
    parser.add_argument("--kind", choices=sorted(TASKS), required=True)
    parser.add_argument("--max-workers", type=int, required=True)
    parser.add_argument("--target", type=int, required=True)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args))


async def _serve(args: Any) -> None:
    async with AsyncOmniQ(args.url, **OMNIQ_SETTINGS) as app:
        _import_tasks(app, args.kind)

        async def watch() -> None:
            while app._worker is None:  # noqa: ASYNC110 - run_worker starts it within a few steps
                await asyncio.sleep(0)
            await wait_completed(running_worker(app), args.target, DoneReporter(args.target))

        async def run() -> None:
            runner = asyncio.create_task(app.run_worker("async", max_workers=args.max_workers))
            watcher = asyncio.create_task(watch())
            try:
                await runner
            finally:
                watcher.cancel()

        await aserve_protocol(run)
