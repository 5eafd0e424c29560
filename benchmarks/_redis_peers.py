"""More peers on the benchmark's Redis database: arq, Taskiq (``taskiq-redis``) and RQ.

Written against each library's public API, with the settings its documentation gives for speed
(stated in each row's notes). Like the peers in :mod:`_redis_systems`, each worker runs in its own
process (``_workers.py redis-peers <name> ...``), imports and connects before ``ready`` and counts
its completed tasks itself. None of these three has a bulk enqueue call except RQ
(``enqueue_many``), so the others' batch cells read ``n/a``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis

from _harness import BenchConfig, DoneReporter, aserve_protocol, serve_protocol
from _redis_systems import ASYNC_PEER_CONCURRENCY, REDIS_URL, Peer
from bench_tasks import noop, record_start

__all__ = ["ArqRedis", "RqRedis", "TaskiqRedis", "serve"]

#: The queue (or list) name every peer here uses.
QUEUE = "bench"

# -- arq ------------------------------------------------------------------------------------------


async def arq_noop(ctx: Any) -> None:
    """arq's no-op (arq passes a context first)."""


async def arq_record_start(ctx: Any, path: str, key: int) -> None:
    """arq's latency task."""
    record_start(path, key)


def _arq_settings() -> Any:
    from arq.connections import RedisSettings  # noqa: PLC0415 - arq is optional

    return RedisSettings.from_dsn(REDIS_URL)


class ArqRedis(Peer):
    """arq's pool enqueues; its ``Worker`` runs in a process, polling every ``--poll-interval``."""

    name = "arq-redis"
    worker_module = "redis-peers"
    batch = False

    def __init__(self, config: BenchConfig) -> None:
        self.notes = (
            f"1 worker process, arq.Worker(max_jobs={ASYNC_PEER_CONCURRENCY}, "
            f"poll_delay={config.poll_interval:g}, keep_result=0), no-op coroutine; "
            "arq polls (no blocking read); no bulk enqueue"
        )
        self._pool: Any = None

    def worker_options(self, config: BenchConfig) -> list[str]:
        return ["--poll", repr(config.poll_interval)]

    async def _arq(self) -> Any:
        if self._pool is None:
            from arq import create_pool  # noqa: PLC0415 - arq is optional

            self._pool = await create_pool(_arq_settings(), default_queue_name=QUEUE)
        return self._pool

    async def enqueue(self, count: int, *, batch: bool) -> None:
        pool = await self._arq()
        for _ in range(count):
            await pool.enqueue_job("arq_noop")

    async def enqueue_latency(self, log: Path, key: int) -> None:
        await (await self._arq()).enqueue_job("arq_record_start", str(log), key)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None


async def _serve_arq(target: int, poll: float) -> None:
    from arq.worker import Worker  # noqa: PLC0415 - arq is optional

    reporter = DoneReporter(target)

    async def completed(ctx: Any) -> None:
        reporter.completed()

    worker = Worker(
        [arq_noop, arq_record_start],
        queue_name=QUEUE,
        redis_settings=_arq_settings(),
        max_jobs=ASYNC_PEER_CONCURRENCY,
        poll_delay=poll,
        keep_result=0,
        after_job_end=completed,
        handle_signals=False,
        log_results=False,
    )
    await aserve_protocol(worker.async_run)


# -- Taskiq ---------------------------------------------------------------------------------------


async def taskiq_noop() -> None:
    """Taskiq's no-op."""


async def taskiq_record_start(path: str, key: int) -> None:
    """Taskiq's latency task."""
    record_start(path, key)


def make_taskiq(reporter: DoneReporter | None = None) -> tuple[Any, Any, Any]:
    """A ``ListQueueBroker`` on the benchmark database and its two tasks; with ``reporter``, a
    middleware that counts each executed task (the worker side)."""
    from taskiq import TaskiqMiddleware  # noqa: PLC0415 - Taskiq is optional
    from taskiq_redis import ListQueueBroker  # noqa: PLC0415

    broker = ListQueueBroker(REDIS_URL, queue_name=QUEUE)
    if reporter is not None:
        counter = reporter

        class Counted(TaskiqMiddleware):  # type: ignore[misc,unused-ignore]  # Any when Taskiq is not installed
            """Counts a task once Taskiq has run it."""

            def post_execute(self, message: Any, result: Any) -> None:
                counter.completed()

        broker.add_middlewares(Counted())
    return (
        broker,
        broker.task(task_name="taskiq_noop")(taskiq_noop),
        broker.task(task_name="taskiq_record_start")(taskiq_record_start),
    )


class TaskiqRedis(Peer):
    """Taskiq with ``taskiq_redis.ListQueueBroker``; the receiver runs in a process."""

    name = "taskiq-redis"
    worker_module = "redis-peers"
    batch = False
    notes = (
        f"1 worker process, taskiq_redis.ListQueueBroker (list + BRPOP, no acknowledgements), "
        f"receiver max_async_tasks={ASYNC_PEER_CONCURRENCY}, no result backend; no bulk enqueue"
    )

    def __init__(self) -> None:
        self._tasks: tuple[Any, Any, Any] | None = None

    async def _taskiq(self) -> tuple[Any, Any, Any]:
        if self._tasks is None:
            self._tasks = make_taskiq()
            await self._tasks[0].startup()
        return self._tasks

    async def enqueue(self, count: int, *, batch: bool) -> None:
        _, noop_task, _ = await self._taskiq()
        for _ in range(count):
            await noop_task.kiq()

    async def enqueue_latency(self, log: Path, key: int) -> None:
        await (await self._taskiq())[2].kiq(str(log), key)

    async def close(self) -> None:
        if self._tasks is not None:
            await self._tasks[0].shutdown()
            self._tasks = None


async def _serve_taskiq(target: int) -> None:
    from taskiq.api import run_receiver_task  # noqa: PLC0415 - Taskiq is optional

    broker, _, _ = make_taskiq(DoneReporter(target))
    broker.is_worker_process = True  # as Taskiq's own worker marks it, before starting up
    await broker.startup()

    async def receive() -> None:
        await run_receiver_task(broker, max_async_tasks=ASYNC_PEER_CONCURRENCY)

    await aserve_protocol(receive)


# -- RQ -------------------------------------------------------------------------------------------


class RqRedis(Peer):
    """RQ's ``Queue``; a ``SimpleWorker`` (no fork per job) in a process."""

    name = "rq-redis"
    worker_module = "redis-peers"
    notes = (
        "1 worker process, rq.SimpleWorker (no fork per job), result_ttl=0, log level WARNING, "
        "BLPOP dequeue; bench_tasks.noop; batch = Queue.enqueue_many"
    )

    def __init__(self) -> None:
        self._queue: Any = None

    def _rq(self) -> Any:
        if self._queue is None:
            from rq import Queue  # noqa: PLC0415 - RQ is optional

            self._queue = Queue(QUEUE, connection=redis.Redis.from_url(REDIS_URL))
        return self._queue

    async def enqueue(self, count: int, *, batch: bool) -> None:
        queue = self._rq()
        if batch:
            queue.enqueue_many([queue.prepare_data(noop, result_ttl=0) for _ in range(count)])
        else:
            for _ in range(count):
                queue.enqueue(noop, result_ttl=0)

    async def enqueue_latency(self, log: Path, key: int) -> None:
        self._rq().enqueue(record_start, str(log), key, result_ttl=0)

    async def close(self) -> None:
        if self._queue is not None:
            self._queue.connection.close()
            self._queue = None


def _serve_rq(target: int) -> None:
    from rq import Queue, SimpleWorker  # noqa: PLC0415 - RQ is optional

    reporter = DoneReporter(target)

    class CountingWorker(SimpleWorker):  # type: ignore[misc,unused-ignore]  # Any when RQ is not installed
        """Counts each job that RQ reports as performed successfully."""

        def perform_job(self, *args: Any, **kwargs: Any) -> bool:
            # RQ 2 passes (job, queue), RQ 3 also an execution: pass them on as given.
            succeeded = bool(super().perform_job(*args, **kwargs))
            if succeeded:
                reporter.completed()
            return succeeded

    connection = redis.Redis.from_url(REDIS_URL)
    worker = CountingWorker([Queue(QUEUE, connection=connection)], connection=connection)

    def work() -> None:
        worker.work(logging_level="WARNING")

    serve_protocol(work)


SERVERS: dict[str, Callable[[argparse.Namespace], Awaitable[None] | None]] = {
    "arq-redis": lambda args: _serve_arq(args.target, args.poll),
    "taskiq-redis": lambda args: _serve_taskiq(args.target),
    "rq-redis": lambda args: _serve_rq(args.target),
}


def serve(argv: list[str]) -> None:
    """The worker process of the peer named by ``argv[0]``."""
    parser = argparse.ArgumentParser(prog="_workers.py redis-peers")
    parser.add_argument("system", choices=sorted(SERVERS))
    parser.add_argument("--target", type=int, required=True)
    parser.add_argument("--poll", type=float, default=0.005)
    args = parser.parse_args(argv)
    pending = SERVERS[args.system](args)
    if pending is not None:
        asyncio.run(_awaited(pending))


async def _awaited(pending: Awaitable[None]) -> None:
    await pending
