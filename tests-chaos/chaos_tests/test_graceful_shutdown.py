"""SIGTERM and SIGINT stop a worker gracefully: it claims nothing more, lets its running tasks finish
within the grace and exits 0, leaving nothing running; a second signal gives its running tasks back
to the queue at once, and another worker runs them.

Workers are ``omniq worker`` processes, signalled as a process manager (systemd, Kubernetes) or
Ctrl-C would signal them.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.models import ResultStatus, TaskStatus
from omniq.core.testing import tasks
from omniq.core.testing._support import read_runs

from ._fleet import HANG_GUARD, WorkerFleet, wait_until
from .conftest import StoreFactory

# A backend and a worker kind per signal case: the conformance suite already sends each signal to
# one worker with one task on every backend; these stop several workers running several tasks.
FINISH_CASES = [
    (signal.SIGTERM, "thread", "postgres"),
    (signal.SIGINT, "process", "sqlite"),
    (signal.SIGTERM, "async", "redis"),
]
RELEASE_CASES = [(signal.SIGINT, "thread", "sqlite"), (signal.SIGTERM, "process", "redis")]
WORKERS = 2
CONCURRENCY = 2
#: Long enough to be running when the signal comes; far shorter than the grace.
TASK_SECONDS = 2.0


def _ids(cases: list[tuple[signal.Signals, str, str]]) -> list[str]:
    return [f"{sig.name}-{kind}-{backend}" for sig, kind, backend in cases]


def _all_exist(paths: list[Path]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return all(path.exists() for path in paths)

    return check


async def _exit_code(worker: subprocess.Popen[bytes]) -> int:
    return await asyncio.to_thread(worker.wait, HANG_GUARD)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("sig", "kind", "backend"), FINISH_CASES, ids=_ids(FINISH_CASES))
async def test_a_signal_lets_running_tasks_finish_and_leaves_the_rest_queued(
    sig: signal.Signals, kind: str, backend: str, store: StoreFactory, tmp_path: Path
) -> None:
    url, log = store(backend), tmp_path / "runs.log"
    slots = WORKERS * CONCURRENCY
    markers = [tmp_path / f"started-{n}" for n in range(slots + 2)]
    async with AsyncOmniQ(url) as app:
        arguments = [{"marker": str(m), "seconds": TASK_SECONDS, "log": str(log)} for m in markers]
        ids = await app.enqueue_many(tasks.slow_with_marker, arguments)
        with WorkerFleet(url, tmp_path, kind=kind, concurrency=CONCURRENCY, grace=120) as fleet:
            workers = fleet.start(WORKERS)
            # Started once every slot is busy; then the workers are told to stop (the two tasks
            # left are not claimed: a worker claims only into a free slot).
            await wait_until(lambda: _count_started(markers, slots), "every slot busy", every=0.02)
            for worker in workers:
                fleet.signal(worker, sig)
            codes = [await _exit_code(worker) for worker in workers]
            assert codes == [0] * WORKERS, fleet.logs()
        started = {task_id for task_id, marker in zip(ids, markers, strict=True) if marker.exists()}
        assert len(started) >= slots
        for task_id in ids:
            task, result = await app.get_task(task_id), await app.get_result(task_id)
            assert task is not None
            if task_id in started:  # finished within the grace, on its first attempt
                assert (task.status, task.attempts) == (TaskStatus.COMPLETED, 1)
                assert result is not None and result.status is ResultStatus.SUCCESS
            else:  # never claimed after the signal
                assert (task.status, task.attempts, result) == (TaskStatus.PENDING, 0, None)
    assert read_runs(log) == ["done"] * len(started)


async def _count_started(markers: list[Path], count: int) -> bool:
    return sum(marker.exists() for marker in markers) >= count


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("sig", "kind", "backend"), RELEASE_CASES, ids=_ids(RELEASE_CASES))
async def test_a_second_signal_gives_running_tasks_to_another_worker_at_once(
    sig: signal.Signals, kind: str, backend: str, store: StoreFactory, tmp_path: Path
) -> None:
    url = store(backend)
    markers = [tmp_path / f"started-{n}" for n in range(CONCURRENCY)]
    async with AsyncOmniQ(url) as app:
        # Each task hangs on its first run (far longer than any test) and returns on its second.
        arguments = [
            {"log": str(tmp_path / f"runs-{n}"), "marker": str(marker), "acts": ["hang"]}
            for n, marker in enumerate(markers)
        ]
        ids = await app.enqueue_many(tasks.act_by_run, arguments)
        with WorkerFleet(url, tmp_path, kind=kind, concurrency=CONCURRENCY, grace=600) as fleet:
            [first] = fleet.start()
            await wait_until(_all_exist(markers), "every task running")
            fleet.signal(first, sig)
            await asyncio.sleep(0.5)
            assert first.poll() is None, "the worker did not wait for its running tasks"
            first.send_signal(sig)
            assert await _exit_code(first) == 0, fleet.logs()
            for task_id in ids:  # given back at once: pending, for any worker
                task = await app.get_task(task_id)
                assert task is not None and task.status is TaskStatus.PENDING
            [second] = fleet.start()
            results = [await app.get_result(task_id, timeout=HANG_GUARD) for task_id in ids]
        for result in results:
            assert result is not None and (result.status, result.value) == (ResultStatus.SUCCESS, 2)
            assert result.worker_id is not None and f":{second.pid}:" in result.worker_id
