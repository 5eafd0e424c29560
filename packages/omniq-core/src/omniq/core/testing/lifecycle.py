"""Conformance tests of a task's life beside its worker: cancellation, leases kept by heartbeats,
several workers, stopping, and callbacks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.models import EventType, ResultStatus, TaskStatus
from omniq.core.testing import tasks
from omniq.core.testing._observing import (
    INTERRUPTING_WORKER_TYPES,
    WORKER_TYPES,
    all_completed,
    event_types,
    has_event,
    path_exists,
    runs_done,
    status_is,
    status_of,
)
from omniq.core.testing._support import (
    AppFactory,
    ConformanceFixtures,
    eventually,
    read_runs,
)

__all__ = ["LifecycleTests"]


class LifecycleTests(ConformanceFixtures):
    """SPEC §3 rules on cancelling, leasing, stopping and calling back."""

    async def test_cancelled_pending_task_never_runs(self, app: AsyncOmniQ, tmp_path: Path) -> None:
        log = tmp_path / "runs.log"
        task_id = await app.enqueue(tasks.record_run, {"path": str(log), "key": "x"}, run_in=0.2)
        assert await app.cancel(task_id)
        assert not await app.cancel(task_id)
        marker = await app.enqueue(tasks.add, {"a": 1, "b": 1}, run_in=0.3)
        await app.start_worker()
        await app.get_result(marker, timeout=60)
        assert read_runs(log) == []
        result = await app.get_result(task_id)
        assert result is not None and result.status is ResultStatus.CANCELLED
        assert await status_of(app, task_id) is TaskStatus.CANCELLED

    @pytest.mark.parametrize("worker_type", INTERRUPTING_WORKER_TYPES)
    async def test_cancelling_a_running_task_stops_it_and_it_is_not_retried(
        self, make_app: AppFactory, tmp_path: Path, worker_type: str
    ) -> None:
        app = await make_app(lease_ttl=0.6)
        log = tmp_path / "runs.log"
        marker = tmp_path / "started"
        task_id = await app.enqueue(
            tasks.slow_with_marker, {"marker": str(marker), "seconds": 60, "log": str(log)}, max_retries=3
        )
        await app.start_worker(worker_type, max_workers=1)
        await eventually(lambda: path_exists(marker))
        assert await app.cancel(task_id)
        after = await app.enqueue(tasks.add, {"a": 1, "b": 1})
        # The worker's only slot comes free only once the cancelled task has stopped.
        assert (await app.get_result(after, timeout=60)) is not None
        result = await app.get_result(task_id)
        assert result is not None and result.status is ResultStatus.CANCELLED
        task = await app.get_task(task_id)
        assert task is not None and (task.status, task.attempts) == (TaskStatus.CANCELLED, 1)
        assert read_runs(log) == []
        assert "completed" not in await event_types(app, task_id)

    async def test_heartbeats_keep_a_long_task_leased(self, make_app: AppFactory, tmp_path: Path) -> None:
        first = await make_app(lease_ttl=0.6)
        second = await make_app(lease_ttl=0.6)
        log = tmp_path / "runs.log"
        task_id = await first.enqueue(
            tasks.slow_with_marker, {"marker": str(tmp_path / "started"), "seconds": 2.0, "log": str(log)}
        )
        await first.start_worker("thread")
        await eventually(lambda: path_exists(tmp_path / "started"))
        await second.start_worker("thread")
        result = await first.get_result(task_id, timeout=60)
        assert result is not None and (result.status, result.attempts) == (ResultStatus.SUCCESS, 1)
        assert read_runs(log) == ["done"]

    @pytest.mark.parametrize("worker_type", WORKER_TYPES)
    async def test_several_workers_run_each_task_exactly_once(
        self, make_app: AppFactory, tmp_path: Path, worker_type: str
    ) -> None:
        apps = [await make_app() for _ in range(3)]
        log = tmp_path / "runs.log"
        ids = await apps[0].enqueue_many(
            tasks.record_run, [{"path": str(log), "key": str(n)} for n in range(150)]
        )
        for app in apps:
            await app.start_worker(worker_type, max_workers=4)
        await eventually(lambda: runs_done(log, 150))
        await eventually(lambda: all_completed(apps[0], ids))
        assert sorted(read_runs(log), key=int) == [str(n) for n in range(150)]

    async def test_stop_worker_lets_running_tasks_finish_and_leaves_the_rest(
        self, app: AsyncOmniQ, tmp_path: Path
    ) -> None:
        log = tmp_path / "runs.log"
        running = await app.enqueue(
            tasks.slow_with_marker, {"marker": str(tmp_path / "started"), "seconds": 0.5, "log": str(log)}
        )
        await app.start_worker("thread", max_workers=1)
        await eventually(lambda: path_exists(tmp_path / "started"))
        waiting = await app.enqueue(tasks.add, {"a": 1, "b": 1})
        await app.stop_worker()
        assert await status_of(app, running) is TaskStatus.COMPLETED
        result = await app.get_result(running)
        assert result is not None and result.status is ResultStatus.SUCCESS
        assert await has_event(app, running, EventType.COMPLETED)
        assert await status_of(app, waiting) is TaskStatus.PENDING

    async def test_stop_worker_with_grace_releases_unfinished_tasks(
        self, app: AsyncOmniQ, tmp_path: Path
    ) -> None:
        marker = tmp_path / "started"
        task_id = await app.enqueue(
            tasks.slow_with_marker, {"marker": str(marker), "seconds": 60, "log": str(tmp_path / "log")}
        )
        await app.start_worker("thread", max_workers=1)
        await eventually(lambda: path_exists(marker))
        await app.stop_worker(grace=0.1)
        task = await app.get_task(task_id)
        assert task is not None and task.status is TaskStatus.PENDING
        await eventually(lambda: has_event(app, task_id, EventType.RETRY))
        await app.start_worker("thread", max_workers=1)
        await eventually(lambda: status_is(app, task_id, TaskStatus.RUNNING))
        running = await app.get_task(task_id)
        # The released run is not counted against the task (docs/workers.md).
        assert running is not None and running.attempts == 1
        await app.stop_worker(grace=0)

    async def test_run_worker_returns_once_stop_worker_is_called(self, app: AsyncOmniQ) -> None:
        serving = asyncio.create_task(app.run_worker(install_signal_handlers=False))
        task_id = await app.enqueue(tasks.add, {"a": 1, "b": 2})
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.value == 3
        await app.stop_worker()
        await asyncio.wait_for(serving, 60)  # a hang guard, not a time bound

    async def test_callbacks_run_per_task_and_per_app_on_each_outcome(
        self, app: AsyncOmniQ, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        log = tmp_path / "callbacks.log"
        monkeypatch.setenv(tasks.CALLBACK_LOG, str(log))
        seen: list[tuple[str, str, int]] = []
        for kind in ("success", "failure", "retry", "dead"):
            app.on(kind, lambda outcome: seen.append((outcome.kind, outcome.task_id, outcome.attempt)))
        flaky = app.task(
            max_retries=3,
            retry_delay=0,
            on_success=tasks.record_outcome,
            on_failure=tasks.record_outcome,
            on_retry=tasks.record_outcome,
            on_dead=tasks.record_outcome,
        )(tasks.fail_until)
        doomed = app.task(max_retries=1, retry_delay=0, on_dead=[tasks.record_outcome])(tasks.fail)
        flaky_id = await flaky.enqueue(str(tmp_path / "count"), 2)
        doomed_id = await doomed.enqueue("never")
        await app.start_worker()
        for task_id in (flaky_id, doomed_id):
            await app.get_result(task_id, timeout=60)
        expected_app = {
            ("failure", flaky_id, 1),
            ("retry", flaky_id, 1),
            ("success", flaky_id, 2),
            ("failure", doomed_id, 1),
            ("retry", doomed_id, 1),
            ("failure", doomed_id, 2),
            ("dead", doomed_id, 2),
        }
        expected_task = {
            f"failure {flaky_id} 1",
            f"retry {flaky_id} 1",
            f"success {flaky_id} 2",
            f"dead {doomed_id} 2",
        }

        async def all_called() -> bool:
            lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
            return len(seen) >= len(expected_app) and len(lines) >= len(expected_task)

        await eventually(all_called)
        await app.stop_worker()
        assert sorted(seen) == sorted(expected_app)
        assert sorted(log.read_text(encoding="utf-8").splitlines()) == sorted(expected_task)

    async def test_a_failing_callback_is_recorded_and_never_changes_the_outcome(
        self, app: AsyncOmniQ
    ) -> None:
        checked = app.task(on_success=tasks.failing_callback)(tasks.add)
        task_id = await checked.enqueue(2, 3)
        await app.start_worker()
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and (result.status, result.value) == (ResultStatus.SUCCESS, 5)
        await eventually(lambda: has_event(app, task_id, EventType.CALLBACK_ERROR))
        (event,) = await app.events(task_id, types=[EventType.CALLBACK_ERROR])
        assert event.error is not None and "fails" in event.error.message
        assert event.details["callback"] == f"{tasks.__name__}:failing_callback"
        assert await status_of(app, task_id) is TaskStatus.COMPLETED
