"""Conformance tests of the TTL rule: a task whose TTL has passed is never started, whatever the
reaper's cadence and however long a claim takes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.models import EventType, ResultStatus, TaskStatus
from omniq.core.records import ReapReport, TaskRecord
from omniq.core.testing import tasks
from omniq.core.testing._support import AppFactory, ConformanceFixtures, eventually, read_runs

__all__ = ["ExpiryTests"]


async def _lapse(app: AsyncOmniQ, task_id: str) -> float:
    """Wait until the task's TTL has passed; its creation time."""
    task = await app.get_task(task_id)
    assert task is not None and task.expires_at is not None
    await asyncio.sleep(max(task.expires_at.timestamp() - time.time(), 0.0) + 0.05)
    return task.created_at.timestamp()


async def _ended_expired_without_running(
    app: AsyncOmniQ, task_id: str, log: Path, *, claimed: bool = False
) -> None:
    """The task ended expired and never ran. ``claimed``: a claim took it before the worker saw
    its TTL had passed; where events travel with transitions that claim wrote an ``executing``
    event (the claim's), and the ``expired`` event follows it."""
    result = await app.get_result(task_id, timeout=60)
    assert result is not None and result.status is ResultStatus.EXPIRED
    task = await app.get_task(task_id)
    assert task is not None and task.status is TaskStatus.EXPIRED
    await eventually(lambda: _has_event(app, task_id, EventType.EXPIRED))
    kinds = [event.type for event in await app.events(task_id)]
    if claimed and app.recorder.travels_with(app.task_queue):
        assert kinds == [EventType.ENQUEUED, EventType.EXECUTING, EventType.EXPIRED]
    else:
        assert EventType.EXECUTING not in kinds
    assert read_runs(log) == []


async def _has_event(app: AsyncOmniQ, task_id: str, kind: EventType) -> bool:
    return kind in [event.type for event in await app.events(task_id)]


class ExpiryTests(ConformanceFixtures):
    """SPEC §3 TTL: a task not started within its ``ttl`` becomes ``expired`` and is never run."""

    async def test_task_past_its_ttl_is_expired_as_soon_as_a_worker_starts(
        self, make_app: AppFactory, tmp_path: Path
    ) -> None:
        app = await make_app(lease_ttl=60.0)  # the reaper's own cadence is then its longest, 5 s
        log = tmp_path / "runs.log"
        task_id = await app.enqueue(tasks.record_run, {"path": str(log), "key": "late"}, ttl=0.2)
        await _lapse(app, task_id)
        await app.start_worker()
        task = await app.get_task(task_id)
        assert task is not None and task.status is TaskStatus.EXPIRED
        await _ended_expired_without_running(app, task_id, log)

    async def test_task_whose_ttl_passes_during_its_claim_is_not_started(
        self, make_app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The store sees the claim at the time the worker asked, before the TTL passed (a claim
        # that waited that long for a lock or a round trip); the task reaches the worker expired.
        app = await make_app(lease_ttl=60.0)
        log = tmp_path / "runs.log"
        task_id = await app.enqueue(tasks.record_run, {"path": str(log), "key": "late"}, ttl=0.2)
        asked_at = await _lapse(app, task_id) + 0.1
        queue = app.task_queue
        claim, reap = queue.claim, queue.reap

        async def slow_claim(queues: Sequence[str], **options: Any) -> list[TaskRecord]:
            return await claim(queues, **{**options, "now": min(options["now"], asked_at)})

        async def slow_reap(now: float) -> ReapReport:
            return await reap(min(now, asked_at))

        monkeypatch.setattr(queue, "claim", slow_claim)
        monkeypatch.setattr(queue, "reap", slow_reap)
        await app.start_worker()
        await _ended_expired_without_running(app, task_id, log, claimed=True)
