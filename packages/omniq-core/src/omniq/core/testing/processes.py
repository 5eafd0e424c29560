"""Conformance tests with real worker processes: concurrency and crash recovery (SIGKILL)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from omniq.core.app import AsyncOmniQ
from omniq.core.models import EventType, ResultStatus, ScheduleStatus, TaskStatus
from omniq.core.testing import tasks
from omniq.core.testing._support import ConformanceFixtures, eventually, read_runs

__all__ = ["ProcessTests"]


@contextlib.contextmanager
def worker_processes(
    url: str,
    count: int,
    *,
    lease_ttl: float = 10.0,
    max_workers: int = 4,
    worker_type: str = "async",
    grace: float = 30.0,
    scheduler_interval: float = 1.0,
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start ``count`` worker processes on ``url``; they are stopped (SIGTERM, then SIGKILL) on exit."""
    command = [
        sys.executable,
        "-m",
        "omniq.core.testing.worker_process",
        url,
        "--lease-ttl",
        str(lease_ttl),
        "--max-workers",
        str(max_workers),
        "--worker-type",
        worker_type,
        "--grace",
        str(grace),
        "--scheduler-interval",
        str(scheduler_interval),
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    processes = [subprocess.Popen(command, env=env) for _ in range(count)]
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class ProcessTests(ConformanceFixtures):
    """Rules that only several processes can prove (skipped by nothing: in-process backends simply
    do not include this class)."""

    async def test_worker_processes_run_each_task_exactly_once(
        self, app: AsyncOmniQ, backend_url: str, tmp_path: Path
    ) -> None:
        log = tmp_path / "runs.log"
        count = 600
        ids = await app.enqueue_many(
            tasks.record_run, [{"path": str(log), "key": str(n)} for n in range(count)]
        )
        with worker_processes(backend_url, 3):
            await eventually(lambda: _completed(app, count), within=120)
        runs = read_runs(log)
        assert sorted(runs, key=int) == [str(n) for n in range(count)], "a task ran twice or never"
        for task_id in ids[:: count // 20]:
            result = await app.get_result(task_id)
            assert result is not None and result.status is ResultStatus.SUCCESS

    async def test_task_of_a_killed_worker_is_finished_by_another(
        self, app: AsyncOmniQ, backend_url: str, tmp_path: Path
    ) -> None:
        marker, log = tmp_path / "started", tmp_path / "runs.log"
        task_id = await app.enqueue(
            tasks.slow_with_marker, {"marker": str(marker), "seconds": 1.0, "log": str(log)}, max_retries=2
        )
        with worker_processes(backend_url, 1, lease_ttl=1.0, worker_type="thread") as [victim]:
            await eventually(lambda: _exists(marker))
            assert int(marker.read_text(encoding="utf-8")) == victim.pid
            victim.kill()
            victim.wait()
        task = await app.get_task(task_id)
        assert task is not None and task.status is TaskStatus.RUNNING
        with worker_processes(backend_url, 1, lease_ttl=1.0, worker_type="thread"):
            result = await app.get_result(task_id, timeout=120)
        assert result is not None
        assert (result.status, result.attempts) == (ResultStatus.SUCCESS, 2)
        assert read_runs(log) == ["done"]

    async def test_sigterm_lets_a_running_task_finish_within_the_grace(
        self, app: AsyncOmniQ, backend_url: str, tmp_path: Path
    ) -> None:
        marker, log = tmp_path / "started", tmp_path / "runs.log"
        task_id = await app.enqueue(
            tasks.slow_with_marker, {"marker": str(marker), "seconds": 1.0, "log": str(log)}
        )
        with worker_processes(backend_url, 1, worker_type="thread", grace=60) as [worker]:
            await eventually(lambda: _exists(marker))
            worker.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(worker.wait, 120) == 0
        result = await app.get_result(task_id)
        assert result is not None and (result.status, result.attempts) == (ResultStatus.SUCCESS, 1)
        assert read_runs(log) == ["done"]

    async def test_sigterm_releases_a_task_still_running_after_the_grace(
        self, app: AsyncOmniQ, backend_url: str, tmp_path: Path
    ) -> None:
        marker = tmp_path / "started"
        task_id = await app.enqueue(
            tasks.slow_with_marker, {"marker": str(marker), "seconds": 120, "log": str(tmp_path / "log")}
        )
        with worker_processes(backend_url, 1, worker_type="thread", grace=0.2) as [worker]:
            await eventually(lambda: _exists(marker))
            worker.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(worker.wait, 120) == 0
        task = await app.get_task(task_id)
        assert task is not None and (task.status, task.attempts) == (TaskStatus.PENDING, 1)

    async def test_a_second_sigint_releases_running_tasks_at_once(
        self, app: AsyncOmniQ, backend_url: str, tmp_path: Path
    ) -> None:
        marker = tmp_path / "started"
        task_id = await app.enqueue(
            tasks.slow_with_marker, {"marker": str(marker), "seconds": 120, "log": str(tmp_path / "log")}
        )
        with worker_processes(backend_url, 1, worker_type="thread", grace=600) as [worker]:
            await eventually(lambda: _exists(marker))
            worker.send_signal(signal.SIGINT)
            await asyncio.sleep(0.2)
            assert worker.poll() is None  # still waiting for the task
            worker.send_signal(signal.SIGINT)
            assert await asyncio.to_thread(worker.wait, 120) == 0
        task = await app.get_task(task_id)
        assert task is not None and task.status is TaskStatus.PENDING

    async def test_a_task_that_kills_its_worker_every_time_ends_dead(
        self, app: AsyncOmniQ, backend_url: str
    ) -> None:
        task_id = await app.enqueue(tasks.kill_own_process, max_retries=1)
        deaths = 0

        while not await _is_dead(app, task_id):
            with worker_processes(backend_url, 1, lease_ttl=0.5) as [worker]:
                # Each worker either dies running the task or, once a lease has expired, reaps it.
                await eventually(lambda: _ended_or_dead(worker, app, task_id), within=120)
                deaths += worker.poll() == -signal.SIGKILL
            assert deaths <= 2, "the task ran more often than its attempts allow"
        task = await app.get_task(task_id)
        assert task is not None and task.attempts == 2 and deaths == 2
        assert task.error is not None and task.error.type == "omniq.LeaseExpired"
        result = await app.get_result(task_id)
        assert result is not None and result.status is ResultStatus.ERROR

    async def test_three_scheduler_processes_enqueue_each_run_once(
        self, app: AsyncOmniQ, backend_url: str
    ) -> None:
        runs = 40
        schedule_id = await app.schedule(tasks.noop, interval=0.05, max_runs=runs)
        with worker_processes(backend_url, 3, scheduler_interval=0.02):
            await eventually(lambda: _schedule_finished(app, schedule_id), within=120)
        schedule = await app.get_schedule(schedule_id)
        assert schedule is not None and schedule.runs == runs
        made = [t for t in await app.list_tasks(limit=10 * runs) if t.schedule_id == schedule_id]
        assert len(made) == runs, "a run was enqueued twice or never"
        assert len(await app.events(schedule_id, types=[EventType.SCHEDULE_TRIGGERED])) == runs


async def _schedule_finished(app: AsyncOmniQ, schedule_id: str) -> bool:
    schedule = await app.get_schedule(schedule_id)
    return schedule is not None and schedule.status is ScheduleStatus.FINISHED


async def _ended_or_dead(worker: subprocess.Popen[bytes], app: AsyncOmniQ, task_id: str) -> bool:
    return worker.poll() is not None or await _is_dead(app, task_id)


async def _is_dead(app: AsyncOmniQ, task_id: str) -> bool:
    task = await app.get_task(task_id)
    return task is not None and task.status is TaskStatus.DEAD


async def _completed(app: AsyncOmniQ, count: int) -> bool:
    counts = await app.counts()
    return counts.get("default", {}).get(TaskStatus.COMPLETED.value, 0) >= count


async def _exists(path: Path) -> bool:
    return path.exists()
