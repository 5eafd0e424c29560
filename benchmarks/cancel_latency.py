"""How long a cancelled running task keeps its worker's slot: per backend and worker kind, the time
from ``cancel()`` returning to the start of the next task in the worker's only slot.

    python benchmarks/cancel_latency.py [--trials 5] [--only memory,sqlite,postgres,redis]
        [--kinds async,thread,process,gevent]

The figure is an upper bound of the time the task took to stop: it includes the claim of the next
task. Leases are the default (60 s, a heartbeat every 20 s), so a worker that only learned of the
cancel from its heartbeat would show seconds here. PostgreSQL uses ``OMNIQ_BENCH_POSTGRES_URL`` (a
schema of its own, dropped afterwards), Redis ``OMNIQ_BENCH_REDIS_URL`` (a prefix of its own,
deleted afterwards). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import redis

from _pg_common import SERVER_URL, fresh_schema
from _redis_systems import REDIS_URL
from omniq.core import AsyncOmniQ
from omniq.core.testing import tasks

BACKENDS = ("memory", "sqlite", "postgres", "redis")
KINDS = ("async", "thread", "process", "gevent")


@contextlib.contextmanager
def backend_url(backend: str, directory: Path) -> Iterator[str]:
    """A fresh store of ``backend``, removed on exit."""
    if backend == "memory":
        yield f"memory://cancel-{uuid.uuid4().hex[:8]}"
    elif backend == "sqlite":
        yield f"sqlite:///{directory / 'cancel.db'}"
    elif backend == "postgres":
        with fresh_schema("cancel", create=False) as schema:
            yield f"{SERVER_URL}?schema={schema}"
    else:
        prefix = f"bench-cancel-{uuid.uuid4().hex[:8]}"
        try:
            yield f"{REDIS_URL}?prefix={prefix}"
        finally:
            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match="\\{" + prefix + "\\}:*"))
            if keys:
                client.delete(*keys)
            client.close()


async def _exists(path: Path) -> None:
    # The task writes the file in another thread or process: there is no event to wait on.
    while not path.exists():  # noqa: ASYNC110, ASYNC240 - a stat of a local file, every 2 ms
        await asyncio.sleep(0.002)


async def measure(url: str, kind: str, trials: int, directory: Path) -> list[float]:
    """Seconds from each ``cancel()`` returning to the next task starting in the freed slot."""
    figures = []
    async with AsyncOmniQ(url, task_modules=["omniq.core.testing"]) as app:
        await app.start_worker(kind, max_workers=1)
        for trial in range(trials):
            marker, note = directory / f"started-{kind}-{trial}", directory / f"note-{kind}-{trial}"
            # Under the gevent worker the task sleeps with gevent.sleep, which yields to its hub.
            cooperative = kind == "gevent"
            arguments = {"marker": str(marker), "note": str(note), "seconds": 120, "cooperative": cooperative}
            task_id = await app.enqueue(tasks.sleep_noting_interruption, arguments)
            await asyncio.wait_for(_exists(marker), 120)
            await app.cancel(task_id)
            cancelled = time.time()
            after = await app.enqueue(tasks.noop, {})
            result = await app.get_result(after, timeout=120)
            assert result is not None and result.started_at is not None
            figures.append(result.started_at.timestamp() - cancelled)
        await app.stop_worker()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--only", default=",".join(BACKENDS))
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    print("| backend | worker | median ms | max ms |")
    print("| --- | --- | ---: | ---: |")
    for backend in args.only.split(","):
        for kind in args.kinds.split(","):
            with tempfile.TemporaryDirectory() as tmp, backend_url(backend, Path(tmp)) as url:
                figures = asyncio.run(measure(url, kind, args.trials, Path(tmp)))
            median, worst = statistics.median(figures) * 1000, max(figures) * 1000
            print(f"| {backend} | {kind} | {median:.0f} | {worst:.0f} |", flush=True)


if __name__ == "__main__":
    main()
