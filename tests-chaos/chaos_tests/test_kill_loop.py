"""Workers SIGKILLed one after another while they drain a queue: no task is lost, none is left
pending, running or dead, every task that ran twice was running in a killed worker, and no child
process of a killed worker lives on.

Four ``omniq worker`` processes drain the queue while a killer SIGKILLs a random one every one to
two seconds and starts a replacement. Leases are short (3 s), so a killed worker's tasks come back
quickly; each task sleeps a little, so the drain lasts long enough for several kills whatever the
machine's speed.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.testing import tasks

from ._audit import Run, audit_drain
from ._fleet import WorkerFleet, drained, wait_until
from .conftest import StoreFactory

TASKS = 1_500
WORKERS = 4
CONCURRENCY = 4
#: Each task's sleep: the drain takes at least TASKS * TASK_SECONDS / (WORKERS * CONCURRENCY),
#: about 9 s, enough for MIN_KILLS kills at one every one to two seconds.
TASK_SECONDS = 0.1
LEASE_TTL = 3.0
MAX_KILLS = 6
MIN_KILLS = 3
#: Far more attempts than kills: a task hit by every kill still ends completed, never dead.
MAX_RETRIES = 2 * MAX_KILLS

# Every worker kind on SQLite (the embedded default, where all workers contend for one file); the
# network backends with the kinds that stress them differently: async (the default) and process
# (a killed worker's children die with it) on PostgreSQL, thread and async on Redis.
CASES = [
    ("sqlite", "async"),
    ("sqlite", "thread"),
    ("sqlite", "process"),
    ("postgres", "async"),
    ("postgres", "process"),
    ("redis", "thread"),
    ("redis", "async"),
]


async def _kill_loop(fleet: WorkerFleet, rng: random.Random) -> None:
    while len(fleet.killed) < MAX_KILLS:
        await asyncio.sleep(rng.uniform(1.0, 2.0))
        fleet.kill_one(rng)


def _no_orphans(fleet: WorkerFleet) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return not fleet.orphans_alive()

    return check


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("backend", "kind"), CASES, ids=[f"{b}-{k}" for b, k in CASES])
async def test_workers_killed_one_after_another_lose_no_task(
    backend: str, kind: str, store: StoreFactory, tmp_path: Path
) -> None:
    url, log = store(backend), tmp_path / "runs.log"
    seed = int(os.environ.get("OMNIQ_CHAOS_SEED", random.randrange(2**32)))
    print(f"seed {seed} (OMNIQ_CHAOS_SEED)")
    rng = random.Random(seed)
    async with AsyncOmniQ(url) as app:
        arguments = [{"path": str(log), "key": str(n), "seconds": TASK_SECONDS} for n in range(TASKS)]
        ids = await app.enqueue_many(tasks.record_attempt, arguments, max_retries=MAX_RETRIES)
        with WorkerFleet(url, tmp_path, kind=kind, concurrency=CONCURRENCY, lease_ttl=LEASE_TTL) as fleet:
            fleet.start(WORKERS)
            killer = asyncio.create_task(_kill_loop(fleet, rng))
            try:
                await wait_until(drained(app, TASKS, fleet), "every task completed", every=0.25)
            finally:
                killer.cancel()
                await asyncio.gather(killer, return_exceptions=True)
            # A process worker's fork server and children exit by themselves when it is killed.
            await wait_until(_no_orphans(fleet), "the killed workers' child processes gone")
        # Stopped gracefully: the survivors' events are written, so the audit sees them.
        killed = set(fleet.killed)

        def by_a_killed_worker(run: Run) -> str | None:
            return "killed worker" if run.worker_pid in killed else None

        keys = {task_id: str(n) for n, task_id in enumerate(ids)}
        audit = await audit_drain(app, keys, log, by_a_killed_worker)
    print(f"{len(killed)} kills ({len(fleet.orphans)} child processes went with them); {audit.summary()}")
    assert len(killed) >= MIN_KILLS, "the queue drained before the workers were killed a few times"
    assert kind != "process" or fleet.orphans, "the killed process workers had no children"
    assert not audit.problems, str(audit)
    assert audit.reclaimed > 0, "no kill hit a running task"
