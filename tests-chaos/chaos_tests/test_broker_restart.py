"""The broker crashes mid-drain and comes back: workers recover by themselves, no task is lost, and
a task runs twice only if it was held by a worker around the crash.

Each test runs a server of its own (never the shared ones): Redis with an append-only file synced
on every write, SIGKILLed and started again on the same port and directory; PostgreSQL restarted
with ``pg_ctl restart -m immediate`` (every server process quits at once, and the restart replays
the WAL, as after a crash). Each is crashed twice, at a third and at two thirds of the drain;
Redis stays down for a second the first time and for longer than a lease the second time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.testing import tasks

from ._audit import Run, audit_drain
from ._fleet import WorkerFleet, drained, wait_until
from ._servers import PostgresCluster, RedisServer
from .conftest import with_option

TASKS = 1_500
WORKERS = 3
CONCURRENCY = 4
TASK_SECONDS = 0.05
LEASE_TTL = 3.0
CRASHES = 2
#: How long Redis stays down at each crash: a second (every worker's calls fail meanwhile), then
#: longer than a lease (the leases of the tasks the workers hold expire while it is down).
REDIS_DOWN = (1.0, LEASE_TTL + 1.0)


class Outages:
    """When the broker went down and when it answered again; explains the runs held across them."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []

    def held_across(self, run: Run) -> str | None:
        """Whether ``run`` was held by its worker around a crash: started no earlier than two leases
        before the crash (a run done before that had long been written) and before the server
        answered again (no task is claimed while it is down)."""
        for down, back in self.spans:
            if down - 2 * LEASE_TTL <= run.started < back:
                return "held across a broker crash"
        return None


async def _drain_through_crashes(
    app: AsyncOmniQ, fleet: WorkerFleet, crash_and_restart: Callable[[int], None]
) -> Outages:
    """Start the workers, crash the broker at each third of the drain, and wait until it is done."""
    outages = Outages()
    fleet.start(WORKERS)
    for n in range(1, CRASHES + 1):
        await wait_until(drained(app, TASKS * n // (CRASHES + 1), fleet), f"{n}/{CRASHES + 1} drained")
        down = time.time()
        await asyncio.to_thread(crash_and_restart, n - 1)
        outages.spans.append((down, time.time()))
        fleet.assert_alive()
    await wait_until(drained(app, TASKS, fleet), "every task completed after the crashes", every=0.25)
    return outages


async def _run_drain(url: str, tmp_path: Path, kind: str, crash_and_restart: Callable[[int], None]) -> None:
    log = tmp_path / "runs.log"
    async with AsyncOmniQ(url) as app:
        arguments = [{"path": str(log), "key": str(n), "seconds": TASK_SECONDS} for n in range(TASKS)]
        ids = await app.enqueue_many(tasks.record_attempt, arguments)
        with WorkerFleet(url, tmp_path, kind=kind, concurrency=CONCURRENCY, lease_ttl=LEASE_TTL) as fleet:
            outages = await _drain_through_crashes(app, fleet, crash_and_restart)
            fleet.assert_alive()  # every worker rode out both crashes
        keys = {task_id: str(n) for n, task_id in enumerate(ids)}
        audit = await audit_drain(app, keys, log, outages.held_across)
    print(audit.summary())
    assert not audit.problems, str(audit)


@pytest.mark.timeout(300)
async def test_redis_killed_mid_drain_loses_no_task(own_redis: RedisServer, tmp_path: Path) -> None:
    def crash_and_restart(crash: int) -> None:
        own_redis.crash()
        time.sleep(REDIS_DOWN[crash])
        own_redis.start()

    await _run_drain(with_option(own_redis.url, "prefix=chaos"), tmp_path, "async", crash_and_restart)


@pytest.mark.timeout(300)
async def test_postgres_restarted_immediately_mid_drain_loses_no_task(
    own_postgres: PostgresCluster, tmp_path: Path
) -> None:
    def crash_and_restart(crash: int) -> None:
        own_postgres.restart_immediately()

    await _run_drain(with_option(own_postgres.url, "schema=chaos"), tmp_path, "thread", crash_and_restart)
