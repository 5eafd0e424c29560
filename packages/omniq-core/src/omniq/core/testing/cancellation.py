"""Conformance tests of prompt cancellation: a cancelled running task stops without waiting for a
heartbeat, in the worker's process and across processes.

Every test here runs with leases so long (``LONG_LEASE``) that the first heartbeat would come minutes
later: only the store's push (:meth:`~omniq.core.interfaces.BaseTaskQueue.watch_cancellations`)
can stop the task within the tests' waits. They run on backends that declare the ``push_cancels``
capability (see :mod:`omniq.core.capabilities`).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.capabilities import Capability
from omniq.core.interfaces import BaseTaskQueue
from omniq.core.models import EventType, ResultStatus, TaskStatus
from omniq.core.registry import open_url
from omniq.core.testing import tasks
from omniq.core.testing._support import (
    AppFactory,
    ConformanceFixtures,
    eventually,
    make_record,
    read_runs,
    requires,
)
from omniq.core.testing.processes import cli_worker_process

__all__ = ["CancellationProcessTests", "CancellationTests"]

#: Seconds a lease lasts in these tests: its heartbeat (a third of it) never comes during a test.
LONG_LEASE = 600.0
#: How long a test waits for what a push brings about in about a second: a hang guard, not a bound.
WAIT = 30.0


async def _check_push(queue: BaseTaskQueue) -> None:
    async with queue.watch_cancellations("probe", lambda task_id: None) as pushes:
        assert pushes, f"{queue!r} overrides watch_cancellations but its watch says it pushes nothing"


async def _started(marker: Path) -> bool:
    return marker.exists()


async def _settled_as_cancelled(app: AsyncOmniQ, task_id: str) -> None:
    task = await app.get_task(task_id)
    assert task is not None and (task.status, task.attempts) == (TaskStatus.CANCELLED, 1)
    result = await app.get_result(task_id)
    assert result is not None and result.status is ResultStatus.CANCELLED
    assert EventType.COMPLETED not in [event.type for event in await app.events(task_id)]


class CancellationTests(ConformanceFixtures):
    """A cancelled running task stops at once on every worker kind, not at the next heartbeat."""

    pytestmark = requires(Capability.PUSH_CANCELS)

    async def test_a_watcher_hears_of_the_cancelled_task_it_runs(
        self, queue: BaseTaskQueue, backend_url: str
    ) -> None:
        await _check_push(queue)
        now = time.time()
        mine, other = make_record(now=now), make_record(now=now)
        await queue.enqueue([mine, other])
        heard: asyncio.Queue[str] = asyncio.Queue()
        async with queue.watch_cancellations("worker-1", heard.put_nowait):
            until = now + 60
            claimed = await queue.claim(
                ["default"], limit=1, worker_id="worker-1", lease_token="t1", lease_expires_at=until, now=now
            )
            assert [record.id for record in claimed] == [mine.id]
            # Cancelled through another connection to the store, as a CLI or a producer would.
            canceller = open_url(backend_url)
            assert isinstance(canceller, BaseTaskQueue)
            async with canceller:
                await canceller.cancel(other.id, now + 1)  # pending: no worker to tell
                await canceller.cancel(mine.id, now + 1)
            # A store may also name tasks the watcher does not hold; it must name this one.
            while await asyncio.wait_for(heard.get(), WAIT) != mine.id:
                pass
            # The push is a hint; the heartbeat is what tells the worker its lease is gone.
            lost = await queue.heartbeat([(mine.id, "t1")], lease_expires_at=until, now=now + 2)
            assert lost == [mine.id]

    @pytest.mark.parametrize("worker_type", ["async", "thread", "process"])
    async def test_a_cancelled_running_task_stops_before_any_heartbeat(
        self, make_app: AppFactory, tmp_path: Path, worker_type: str
    ) -> None:
        log = tmp_path / "runs.log"
        app, task_id = await _cancel_while_running(make_app, tmp_path, worker_type, slow_task_log=log)
        after = await app.enqueue(tasks.add, {"a": 1, "b": 1})
        # The only slot comes free once the cancelled task has stopped.
        assert await app.get_result(after, timeout=WAIT) is not None
        await _settled_as_cancelled(app, task_id)
        assert read_runs(log) == []

    @pytest.mark.parametrize("worker_type", ["async", "thread", "process"])
    async def test_stopping_the_worker_does_not_wait_for_a_cancelled_task(
        self, make_app: AppFactory, tmp_path: Path, worker_type: str
    ) -> None:
        log = tmp_path / "runs.log"
        app, task_id = await _cancel_while_running(make_app, tmp_path, worker_type, slow_task_log=log)
        # A graceful stop waits for running tasks; the cancelled one is not running any more.
        await asyncio.wait_for(app.stop_worker(), WAIT)
        await _settled_as_cancelled(app, task_id)
        assert read_runs(log) == []

    async def test_a_cancelled_greenlet_stops_before_any_heartbeat(
        self, make_app: AppFactory, tmp_path: Path
    ) -> None:
        app, task_id = await _cancel_while_running(make_app, tmp_path, "gevent")
        await asyncio.wait_for(app.stop_worker(), WAIT)
        assert (tmp_path / "interrupted").read_text(encoding="utf-8").split() == ["GreenletExit"]
        await _settled_as_cancelled(app, task_id)


async def _cancel_while_running(
    make_app: AppFactory, tmp_path: Path, worker_type: str, *, slow_task_log: Path | None = None
) -> tuple[AsyncOmniQ, str]:
    """Start a worker with one slot and a long lease on a 60 s task, and cancel the task once it
    runs: the application and the task's id. The task is ``slow_with_marker`` logging to
    ``slow_task_log`` if given, else ``sleep_noting_interruption`` with ``gevent.sleep`` noting
    its interruption in ``tmp_path / "interrupted"``."""
    app = await make_app(lease_ttl=LONG_LEASE)
    await _check_push(app.task_queue)
    marker = tmp_path / "started"
    if slow_task_log is not None:
        arguments = {"marker": str(marker), "seconds": 60, "log": str(slow_task_log)}
        task_id = await app.enqueue(tasks.slow_with_marker, arguments, max_retries=3)
    else:
        arguments = {"marker": str(marker), "note": str(tmp_path / "interrupted"), "seconds": 60}
        task_id = await app.enqueue(tasks.sleep_noting_interruption, {**arguments, "cooperative": True})
    await app.start_worker(worker_type, max_workers=1)
    await eventually(lambda: _started(marker))
    assert await app.cancel(task_id)
    return app, task_id


class CancellationProcessTests(ConformanceFixtures):
    """A worker in another process stops a task cancelled here at once."""

    pytestmark = requires(Capability.PUSH_CANCELS)

    @pytest.mark.parametrize("worker_type", ["thread", "gevent"])
    async def test_a_worker_process_stops_a_task_cancelled_elsewhere(
        self, app: AsyncOmniQ, backend_url: str, tmp_path: Path, worker_type: str
    ) -> None:
        await _check_push(app.task_queue)
        marker, note = tmp_path / "started", tmp_path / "interrupted"
        task_id = await app.enqueue(
            tasks.sleep_noting_interruption, {"marker": str(marker), "note": str(note), "seconds": 60}
        )
        with cli_worker_process(backend_url, worker_type, lease_ttl=LONG_LEASE, max_workers=1):
            await eventually(lambda: _started(marker), within=120)
            assert await app.cancel(task_id)
            after = await app.enqueue(tasks.add, {"a": 1, "b": 1})
            assert await app.get_result(after, timeout=WAIT) is not None
            await eventually(lambda: _started(note), within=WAIT)
        await _settled_as_cancelled(app, task_id)
