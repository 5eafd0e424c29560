"""Core's own worker machinery, proven once on the memory backend instead of on every backend:
killing a task blocked in C (the process kind), the gevent kind's timeouts, kills and hub.

None of it depends on the store (the worker claims, heartbeats and settles through the same
contract whatever serves it), so the conformance suite leaves these out.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.models import EventType, ResultStatus, TaskStatus
from omniq.core.testing import tasks
from omniq.core.testing._support import AppFactory, ConformanceFixtures, eventually, read_runs


async def _event_types(app: AsyncOmniQ, task_id: str) -> list[str]:
    return [event.type.value for event in await app.events(task_id)]


async def _has_event(app: AsyncOmniQ, task_id: str, kind: EventType) -> bool:
    return kind.value in await _event_types(app, task_id)


async def _exists(path: Path) -> bool:
    return path.exists()


class TestWorkerMachinery(ConformanceFixtures):
    @pytest.fixture
    def backend_url(self) -> str:
        return f"memory://machinery-{uuid.uuid4().hex}"

    @pytest.mark.parametrize("max_retries", [0, 1])
    async def test_a_task_blocked_in_c_is_killed_at_its_timeout(
        self, app: AsyncOmniQ, max_retries: int
    ) -> None:
        task_id = await app.enqueue(
            tasks.sleep_in_c, {"seconds": 60}, timeout=0.5, max_retries=max_retries, retry_delay=0
        )
        await app.start_worker("process", max_workers=1)
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.error is not None
        assert result.error.type == "omniq.core.errors.TaskTimeoutError"
        assert result.attempts == max_retries + 1
        await eventually(lambda: _has_event(app, task_id, EventType.DEAD))
        types = await _event_types(app, task_id)
        assert types.count("timeout") == max_retries + 1 and types.count("retry") == max_retries
        # The killed process was replaced: the worker's only slot runs the next task.
        healthy = await app.enqueue(tasks.add, {"a": 1, "b": 1})
        after = await app.get_result(healthy, timeout=60)
        assert after is not None and after.value == 2

    @pytest.mark.parametrize("function_kind", ["gevent", "async"])
    async def test_gevent_worker_stops_a_task_at_its_timeout_then_retries_it_until_dead(
        self, app: AsyncOmniQ, tmp_path: Path, function_kind: str
    ) -> None:
        note = tmp_path / "interrupted"
        options: dict[str, Any] = {"timeout": 0.3, "max_retries": 1, "retry_delay": 0}
        if function_kind == "async":
            task_id = await app.enqueue(tasks.async_sleep, {"seconds": 60}, **options)
        else:
            arguments = {"marker": str(tmp_path / "started"), "note": str(note), "seconds": 60}
            task_id = await app.enqueue(
                tasks.sleep_noting_interruption, {**arguments, "cooperative": True}, **options
            )
        await app.start_worker("gevent")
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.error is not None
        assert (result.error.type, result.attempts) == ("omniq.core.errors.TaskTimeoutError", 2)
        await eventually(lambda: _has_event(app, task_id, EventType.DEAD))
        types = await _event_types(app, task_id)
        assert types.count("timeout") == 2 and types[-1] == "dead"
        if function_kind == "gevent":  # stopped by gevent.Timeout inside the greenlet, both times
            assert note.read_text(encoding="utf-8").split() == ["Timeout", "Timeout"]

    async def test_gevent_worker_kills_a_cancelled_greenlet_and_does_not_retry_it(
        self, make_app: AppFactory, tmp_path: Path
    ) -> None:
        app = await make_app(lease_ttl=0.6)
        marker, note = tmp_path / "started", tmp_path / "interrupted"
        task_id = await app.enqueue(
            tasks.sleep_noting_interruption,
            {"marker": str(marker), "note": str(note), "seconds": 60, "cooperative": True},
            max_retries=3,
        )
        await app.start_worker("gevent", max_workers=1)
        await eventually(lambda: _exists(marker))
        assert await app.cancel(task_id)
        after = await app.enqueue(tasks.add, {"a": 1, "b": 1})
        assert (await app.get_result(after, timeout=60)) is not None
        await eventually(lambda: _exists(note))
        assert note.read_text(encoding="utf-8").split() == ["GreenletExit"]
        task = await app.get_task(task_id)
        assert task is not None and (task.status, task.attempts) == (TaskStatus.CANCELLED, 1)

    async def test_gevent_worker_keeps_its_leases_while_a_greenlet_blocks_its_hub(
        self, make_app: AppFactory, tmp_path: Path
    ) -> None:
        # time.sleep in a process that is not monkey-patched holds the hub for the whole task; the
        # worker's event loop runs in another thread and renews the lease meanwhile.
        first = await make_app(lease_ttl=0.6)
        second = await make_app(lease_ttl=0.6)
        log, marker = tmp_path / "runs.log", tmp_path / "started"
        task_id = await first.enqueue(
            tasks.slow_with_marker, {"marker": str(marker), "seconds": 2.0, "log": str(log)}
        )
        await first.start_worker("gevent")
        await eventually(lambda: _exists(marker))
        await second.start_worker("gevent")
        result = await first.get_result(task_id, timeout=60)
        assert result is not None and (result.status, result.attempts) == (ResultStatus.SUCCESS, 1)
        assert read_runs(log) == ["done"]
