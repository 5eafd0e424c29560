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
from omniq.core.capabilities import Capability
from omniq.core.models import EventType, ResultStatus, ScheduleStatus, TaskStatus
from omniq.core.testing import tasks
from omniq.core.testing._support import ConformanceFixtures, eventually, read_runs, requires

__all__ = ["ProcessTests", "cli_worker_process", "worker_processes"]


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
        _stop(processes)


@contextlib.contextmanager
def cli_worker_process(
    url: str, worker_type: str, *, lease_ttl: float = 10.0, max_workers: int = 4
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``omniq worker --type worker_type`` on ``url`` (as a user would: the CLI does any
    monkey-patching the kind needs); stopped with SIGTERM, then SIGKILL, on exit."""
    command = [sys.executable, "-m", "omniq.core.cli", "worker", "--url", url, "--type", worker_type]
    command += ["--concurrency", str(max_workers)]
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "OMNIQ_LEASE_TTL": str(lease_ttl),
        "OMNIQ_POLL_INTERVAL": "0.05",
    }
    process = subprocess.Popen(command, env=env)
    try:
        yield process
    finally:
        _stop([process])


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
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
        # Released unfinished: pending again, the attempt not counted against it.
        assert task is not None and (task.status, task.attempts) == (TaskStatus.PENDING, 0)

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

    @requires(Capability.ADMIN)
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

    # The gevent kind in a monkey-patched process (``omniq worker --type gevent``): there, blocking
    # standard-library calls yield to the hub, so ``gevent.Timeout`` and ``kill`` stop plain code.

    async def test_gevent_worker_process_runs_sync_and_async_tasks_that_know_their_attempt(
        self, app: AsyncOmniQ, backend_url: str, tmp_path: Path
    ) -> None:
        log = tmp_path / "runs.log"
        sync_id = await app.enqueue(tasks.whoami, {"fail_before": 2}, max_retries=2, retry_delay=0)
        async_id = await app.enqueue(tasks.async_whoami)
        # Longer than the lease: time.sleep yields to the hub, and the lease is renewed meanwhile.
        slow_id = await app.enqueue(
            tasks.slow_with_marker, {"marker": str(tmp_path / "started"), "seconds": 2.0, "log": str(log)}
        )
        with cli_worker_process(backend_url, "gevent", lease_ttl=0.6):
            sync_result = await app.get_result(sync_id, timeout=120)
            async_result = await app.get_result(async_id, timeout=120)
            slow_result = await app.get_result(slow_id, timeout=120)
        assert sync_result is not None and sync_result.value == [sync_id, 2, 3]
        assert async_result is not None and async_result.value[:2] == [async_id, 1]
        assert slow_result is not None and (slow_result.status, slow_result.attempts) == (
            ResultStatus.SUCCESS,
            1,
        )
        assert read_runs(log) == ["done"]

    async def test_gevent_worker_process_stops_blocking_code_at_its_timeout(
        self, app: AsyncOmniQ, backend_url: str, tmp_path: Path
    ) -> None:
        note = tmp_path / "interrupted"
        task_id = await app.enqueue(
            tasks.sleep_noting_interruption,
            {"marker": str(tmp_path / "started"), "note": str(note), "seconds": 60},
            timeout=0.3,
            max_retries=1,
            retry_delay=0,
        )
        with cli_worker_process(backend_url, "gevent"):
            result = await app.get_result(task_id, timeout=120)
            await eventually(lambda: _has_dead_event(app, task_id))
        assert result is not None and result.error is not None
        assert (result.error.type, result.attempts) == ("omniq.core.errors.TaskTimeoutError", 2)
        types = [event.type.value for event in await app.events(task_id)]
        assert types.count("timeout") == 2 and types[-1] == "dead"
        # time.sleep itself was interrupted by gevent.Timeout, on both attempts.
        assert note.read_text(encoding="utf-8").split() == ["Timeout", "Timeout"]

    async def test_gevent_worker_process_kills_a_cancelled_task_and_does_not_retry_it(
        self, app: AsyncOmniQ, backend_url: str, tmp_path: Path
    ) -> None:
        marker, note = tmp_path / "started", tmp_path / "interrupted"
        task_id = await app.enqueue(
            tasks.sleep_noting_interruption,
            {"marker": str(marker), "note": str(note), "seconds": 60},
            max_retries=3,
        )
        with cli_worker_process(backend_url, "gevent", lease_ttl=1.0, max_workers=1):
            await eventually(lambda: _exists(marker), within=120)
            assert await app.cancel(task_id)
            after = await app.enqueue(tasks.add, {"a": 1, "b": 1})
            # The only slot comes free once the cancelled task has stopped.
            assert (await app.get_result(after, timeout=120)) is not None
            await eventually(lambda: _exists(note))
        assert note.read_text(encoding="utf-8").split() == ["GreenletExit"]
        task = await app.get_task(task_id)
        assert task is not None and (task.status, task.attempts) == (TaskStatus.CANCELLED, 1)
        result = await app.get_result(task_id)
        assert result is not None and result.status is ResultStatus.CANCELLED


async def _schedule_finished(app: AsyncOmniQ, schedule_id: str) -> bool:
    schedule = await app.get_schedule(schedule_id)
    return schedule is not None and schedule.status is ScheduleStatus.FINISHED


async def _ended_or_dead(worker: subprocess.Popen[bytes], app: AsyncOmniQ, task_id: str) -> bool:
    return worker.poll() is not None or await _is_dead(app, task_id)


async def _is_dead(app: AsyncOmniQ, task_id: str) -> bool:
    task = await app.get_task(task_id)
    return task is not None and task.status is TaskStatus.DEAD


async def _has_dead_event(app: AsyncOmniQ, task_id: str) -> bool:
    return "dead" in [event.type.value for event in await app.events(task_id)]


async def _completed(app: AsyncOmniQ, count: int) -> bool:
    counts = await app.counts()
    return counts.get("default", {}).get(TaskStatus.COMPLETED.value, 0) >= count


async def _exists(path: Path) -> bool:
    return path.exists()
