"""OmniQ on Redis and its peers on the same server: Huey (``RedisHuey``), SAQ, and a raw
``redis.asyncio`` reliable-queue loop (one task at a time: ``BLMOVE`` to a processing list, run,
``LREM``). Each worker runs in its own process.

Every phase starts from an empty benchmark database (``OMNIQ_BENCH_REDIS_URL``, default
``redis://127.0.0.1:6379/14``): peers use fixed key names, so the database is flushed before each
phase and after the run. Tests use database 15; never point this at a database holding data.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis

from _harness import (
    BenchConfig,
    Deadline,
    DoneReporter,
    WorkerProcess,
    aserve_protocol,
    latencies_from_log,
    run_async,
    serve_protocol,
)
from _omniq_systems import OmniQSqlite
from bench_tasks import RAW_TASKS, noop, record_start

__all__ = ["REDIS_URL", "HueyRedis", "OmniQRedis", "Peer", "RawRedis", "SaqRedis", "flush", "serve"]

REDIS_URL = os.environ.get("OMNIQ_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
#: Concurrency of the asyncio peers' workers (SAQ): no-op coroutines are cheap to run in numbers.
ASYNC_PEER_CONCURRENCY = 100


def flush(url: str = REDIS_URL) -> None:
    """Empty the benchmark database."""
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


class OmniQRedis(OmniQSqlite):
    """``redis://.../14?prefix=bench``: OmniQ's defaults, the async worker in its own process."""

    def __init__(self, config: BenchConfig) -> None:
        super().__init__(config, "async")
        self.name = "omniq-redis"
        self.notes = (
            f"1 worker process, run_worker('async', max_workers={config.omniq_max_workers}), async_noop; "
            "default settings (results + events stored, claim_batch=500), BLPOP wake-ups"
        )

    def url(self, workdir: Path) -> str:
        flush()
        return f"{REDIS_URL}?prefix=bench"


class Peer(abc.ABC):
    """The phases of a peer: it says how to enqueue; the harness runs its worker process."""

    name: str
    notes: str
    in_process = False
    batch = True
    #: The ``_workers.py`` system whose ``serve`` runs this peer's worker (by ``name``).
    worker_module = "redis"

    @abc.abstractmethod
    async def enqueue(self, count: int, *, batch: bool) -> None:
        """Queue ``count`` no-ops, one call each or (``batch``) in one bulk call."""

    @abc.abstractmethod
    async def enqueue_latency(self, log: Path, key: int) -> None:
        """Queue one task that records its start time in ``log``."""

    async def close(self) -> None:  # noqa: B027 - most peers hold nothing to release
        """Release the producer's connections."""

    def worker_options(self, config: BenchConfig) -> list[str]:
        """Extra arguments of this peer's worker process (its settings from ``config``)."""
        return []

    def _worker_args(self, config: BenchConfig, target: int) -> list[str]:
        return [self.name, "--target", str(target), *self.worker_options(config)]

    def enqueue_single(self, config: BenchConfig, workdir: Path) -> float:
        return run_async(self._timed(config.single_count, batch=False), config.phase_timeout, self.name)

    def enqueue_batch(self, config: BenchConfig, workdir: Path) -> float | None:
        if not self.batch:
            return None
        return run_async(self._timed(config.tasks, batch=True), config.phase_timeout, self.name)

    async def _timed(self, count: int, *, batch: bool) -> float:
        flush()
        try:
            started = time.perf_counter()
            await self.enqueue(count, batch=batch)
            return time.perf_counter() - started
        finally:
            await self.close()

    def drain(self, config: BenchConfig, workdir: Path) -> float:
        flush()
        run_async(self._fill(config.tasks), config.phase_timeout, f"{self.name} fill")
        deadline = Deadline(config.phase_timeout, f"{self.name} drain")
        with WorkerProcess(self.worker_module, self._worker_args(config, config.tasks), workdir) as worker:
            worker.expect("ready", deadline)
            started = time.perf_counter()
            worker.release()
            worker.expect("done", deadline)
            return time.perf_counter() - started

    async def _fill(self, count: int) -> None:
        try:
            await self.enqueue(count, batch=self.batch)
        finally:
            await self.close()

    def latency(self, config: BenchConfig, workdir: Path) -> list[float]:
        flush()
        log = workdir / "starts.log"
        log.touch()
        deadline = Deadline(config.phase_timeout, f"{self.name} latency")
        count = config.latency_tasks
        with WorkerProcess(self.worker_module, self._worker_args(config, count), workdir) as worker:
            worker.expect("ready", deadline)
            worker.release()
            enqueued_at = run_async(self._feed(log, config, deadline), config.phase_timeout, self.name)
            worker.expect("done", deadline)
        return latencies_from_log(log, enqueued_at)

    async def _feed(self, log: Path, config: BenchConfig, deadline: Deadline) -> dict[int, float]:
        enqueued_at: dict[int, float] = {}
        await asyncio.sleep(0.3)  # let the worker settle into waiting
        start = time.monotonic()
        try:
            for key in range(config.latency_tasks):
                delay = start + key * config.latency_interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                deadline.check()
                enqueued_at[key] = time.time()
                await self.enqueue_latency(log, key)
        finally:
            await self.close()
        return enqueued_at


# -- the raw loop ---------------------------------------------------------------------------------

RAW_QUEUE, RAW_PROCESSING = "raw:queue", "raw:processing"
NOOP_PAYLOAD = json.dumps({"func": "noop", "args": []})


class RawRedis(Peer):
    """``redis.asyncio`` only: LPUSH to a list; the worker BLMOVEs one payload at a time to a
    processing list, runs it and LREMs it (the reliable-queue pattern)."""

    name = "raw-redis"
    notes = "redis.asyncio, one task at a time: BLMOVE queue -> processing, run, LREM; no results"

    def __init__(self) -> None:
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aioredis.Redis.from_url(REDIS_URL)
        return self._client

    async def enqueue(self, count: int, *, batch: bool) -> None:
        if batch:
            await self.client.lpush(RAW_QUEUE, *([NOOP_PAYLOAD] * count))
        else:
            for _ in range(count):
                await self.client.lpush(RAW_QUEUE, NOOP_PAYLOAD)

    async def enqueue_latency(self, log: Path, key: int) -> None:
        await self.client.lpush(RAW_QUEUE, json.dumps({"func": "record_start", "args": [str(log), key]}))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def _serve_raw(target: int) -> None:
    client: Any = aioredis.Redis.from_url(REDIS_URL)  # annotations differ across redis-py releases
    reporter = DoneReporter(target)

    async def loop() -> None:
        while True:
            payload = await client.blmove(RAW_QUEUE, RAW_PROCESSING, 1, "RIGHT", "LEFT")
            if payload is None:
                continue
            call = json.loads(payload)
            RAW_TASKS[call["func"]](*call["args"])
            await client.lrem(RAW_PROCESSING, 1, payload)
            reporter.completed()

    await aserve_protocol(loop)


# -- Huey -----------------------------------------------------------------------------------------


def make_huey() -> tuple[Any, Any, Any]:
    """A ``RedisHuey`` on the benchmark database and its no-op and latency tasks."""
    from huey import RedisHuey  # noqa: PLC0415 - Huey is optional

    huey = RedisHuey("bench", url=REDIS_URL, results=False)
    return huey, huey.task()(noop), huey.task()(record_start)


class HueyRedis(Peer):
    """``RedisHuey`` (results off); the consumer with one thread worker, blocking reads."""

    name = "huey-redis"
    batch = False

    def __init__(self, config: BenchConfig) -> None:
        self.notes = f"1 consumer process, worker_type=thread, workers={config.huey_workers}, results off"
        self._tasks = make_huey()

    async def enqueue(self, count: int, *, batch: bool) -> None:
        _, noop_task, _ = self._tasks
        for _ in range(count):
            noop_task()

    async def enqueue_latency(self, log: Path, key: int) -> None:
        self._tasks[2](str(log), key)


def _serve_huey(target: int, workers: int) -> None:
    from huey.signals import SIGNAL_COMPLETE  # noqa: PLC0415 - Huey is optional

    huey, _, _ = make_huey()
    reporter = DoneReporter(target)

    def completed(signal: str, task: Any, *args: Any, **kwargs: Any) -> None:
        reporter.completed()

    huey.signal(SIGNAL_COMPLETE)(completed)
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=False)
    serve_protocol(consumer.run)


# -- SAQ ------------------------------------------------------------------------------------------


async def saq_noop(ctx: Any) -> None:
    """SAQ's no-op (SAQ passes a context first)."""


async def saq_record_start(ctx: Any, *, path: str, n: int) -> None:
    """SAQ's latency task (``key`` is a reserved job field in SAQ)."""
    record_start(path, n)


class SaqRedis(Peer):
    """SAQ's ``Queue`` on the benchmark database; its ``Worker`` in a process."""

    name = "saq-redis"
    notes = f"1 worker process, saq.Worker(concurrency={ASYNC_PEER_CONCURRENCY}), no-op coroutine"

    def __init__(self) -> None:
        self._queue: Any = None

    async def _saq(self) -> Any:
        if self._queue is None:
            from saq import Queue  # noqa: PLC0415 - SAQ is optional

            self._queue = Queue.from_url(REDIS_URL, name="bench")
            await self._queue.connect()
        return self._queue

    async def enqueue(self, count: int, *, batch: bool) -> None:
        queue = await self._saq()
        if batch:
            async with queue.batch():
                await asyncio.gather(*(queue.enqueue("saq_noop") for _ in range(count)))
        else:
            for _ in range(count):
                await queue.enqueue("saq_noop")

    async def enqueue_latency(self, log: Path, key: int) -> None:
        await (await self._saq()).enqueue("saq_record_start", path=str(log), n=key)

    async def close(self) -> None:
        if self._queue is not None:
            await self._queue.disconnect()
            self._queue = None


async def _serve_saq(target: int) -> None:
    from saq import Queue, Worker  # noqa: PLC0415 - SAQ is optional

    queue = Queue.from_url(REDIS_URL, name="bench")
    reporter = DoneReporter(target)

    async def completed(ctx: Any) -> None:
        reporter.completed()

    worker = Worker(
        queue, [saq_noop, saq_record_start], concurrency=ASYNC_PEER_CONCURRENCY, after_process=completed
    )
    await aserve_protocol(worker.start)


SERVERS: dict[str, Callable[[argparse.Namespace], Awaitable[None] | None]] = {
    "raw-redis": lambda args: _serve_raw(args.target),
    "huey-redis": lambda args: _serve_huey(args.target, args.workers),
    "saq-redis": lambda args: _serve_saq(args.target),
}


def serve(argv: list[str]) -> None:
    """The worker process of the peer named by ``argv[0]``."""
    parser = argparse.ArgumentParser(prog="_workers.py redis")
    parser.add_argument("system", choices=sorted(SERVERS))
    parser.add_argument("--target", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    pending = SERVERS[args.system](args)
    if pending is not None:
        asyncio.run(_awaited(pending))


async def _awaited(pending: Awaitable[None]) -> None:
    await pending
