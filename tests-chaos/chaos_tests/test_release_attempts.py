"""A task given back by a stopping worker keeps its attempts (docs/workers.md, "Graceful shutdown":
"its attempt is not counted against it as a failure")."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.models import ResultStatus
from omniq.core.testing import tasks

from ._fleet import HANG_GUARD, WorkerFleet, wait_until
from .conftest import StoreFactory


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["sqlite", "postgres", "redis"])
async def test_a_released_attempt_is_not_counted_against_the_task(
    backend: str, store: StoreFactory, tmp_path: Path
) -> None:
    url, marker = store(backend), tmp_path / "started"

    async def running() -> bool:
        return marker.exists()

    async with AsyncOmniQ(url, task_modules=["omniq.core.testing"]) as app:
        # Run 1 hangs and is released by a second SIGTERM; run 2 fails; run 3 returns. One retry
        # is allowed: the failure is the task's first counted attempt, so it is retried.
        task_id = await app.enqueue(
            tasks.act_by_run,
            {"log": str(tmp_path / "runs"), "marker": str(marker), "acts": ["hang", "fail", "return"]},
            max_retries=1,
            retry_delay=0,
        )
        with WorkerFleet(url, tmp_path, kind="thread", concurrency=1, grace=600) as fleet:
            [first] = fleet.start()
            await wait_until(running, "the task running")
            fleet.signal(first, signal.SIGTERM)
            await asyncio.sleep(0.5)
            first.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(first.wait, HANG_GUARD) == 0
            fleet.start()
            result = await app.get_result(task_id, timeout=HANG_GUARD)
            events = [(e.type.value, e.attempt, e.details) for e in await app.events(task_id)]
    assert result is not None
    assert (result.status, result.value) == (ResultStatus.SUCCESS, 3), (result, events)
