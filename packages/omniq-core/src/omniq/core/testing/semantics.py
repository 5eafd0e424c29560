"""Conformance tests of the queue's semantics, end to end through the application and its workers.

The rules are grouped by family: running tasks here, failures in ``failures``, cancellation,
leases, stopping and callbacks in ``lifecycle``; ``SemanticsTests`` holds them all."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.capabilities import Capability
from omniq.core.errors import ValidationError
from omniq.core.models import EventType, ResultStatus, TaskStatus
from omniq.core.testing import tasks
from omniq.core.testing._observing import (
    INTERRUPTING_WORKER_TYPES,
    WORKER_TYPES,
    event_types,
    has_event,
    runs_done,
    status_is,
    status_of,
)
from omniq.core.testing._support import (
    AppFactory,
    eventually,
    read_runs,
    requires,
)
from omniq.core.testing.failures import FailureTests
from omniq.core.testing.lifecycle import LifecycleTests

__all__ = ["SemanticsTests"]


class SemanticsTests(FailureTests, LifecycleTests):
    """SPEC §3 rules, observed through ``AsyncOmniQ`` with real workers; the other families are
    mixed in, so that a backend's suite gains them all by subclassing this one class."""

    @pytest.mark.parametrize("worker_type", WORKER_TYPES)
    async def test_every_worker_kind_runs_sync_and_async_functions(
        self, app: AsyncOmniQ, worker_type: str
    ) -> None:
        sync_id = await app.enqueue(tasks.add, {"a": 1, "b": 2})
        async_id = await app.enqueue(tasks.async_add, args=[3, 4])
        await app.start_worker(worker_type, max_workers=2)
        sync_result = await app.get_result(sync_id, timeout=60)
        async_result = await app.get_result(async_id, timeout=60)
        assert sync_result is not None and async_result is not None
        assert (sync_result.status, sync_result.value, sync_result.attempts) == (ResultStatus.SUCCESS, 3, 1)
        assert async_result.value == 7
        assert await status_of(app, sync_id) is TaskStatus.COMPLETED

    @pytest.mark.parametrize("worker_type", WORKER_TYPES)
    @pytest.mark.parametrize("function_kind", ["sync", "async"])
    async def test_a_running_task_knows_its_id_and_attempt(
        self, app: AsyncOmniQ, worker_type: str, function_kind: str
    ) -> None:
        func = tasks.async_whoami if function_kind == "async" else tasks.whoami
        task_id = await app.enqueue(func, {"fail_before": 2}, max_retries=2, retry_delay=0)
        await app.start_worker(worker_type)
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.value == [task_id, 2, 3]

    async def test_get_result_is_none_until_done_and_waiting_times_out(self, app: AsyncOmniQ) -> None:
        task_id = await app.enqueue(tasks.add, {"a": 1, "b": 1})
        assert await app.get_result(task_id) is None
        with pytest.raises(TimeoutError):
            await app.get_result(task_id, timeout=0.05)

    async def test_success_records_enqueued_executing_completed_events(self, app: AsyncOmniQ) -> None:
        task_id = await app.enqueue(tasks.add, {"a": 1, "b": 1})
        await app.start_worker()
        await app.get_result(task_id, timeout=60)
        await eventually(lambda: has_event(app, task_id, EventType.COMPLETED))
        events = await app.events(task_id)
        assert [e.type for e in events] == [EventType.ENQUEUED, EventType.EXECUTING, EventType.COMPLETED]
        executing = events[1]
        assert (executing.attempt, executing.queue) == (1, "default")
        assert executing.worker_id
        assert [e.task_id for e in await app.events(types=[EventType.COMPLETED])] == [task_id]

    async def test_worker_serves_earlier_queues_first(self, app: AsyncOmniQ, tmp_path: Path) -> None:
        log = tmp_path / "runs.log"
        for queue in ("low", "medium", "high"):
            for n in range(2):
                await app.enqueue(
                    tasks.record_run, {"path": str(log), "key": f"{queue}{n}"}, queue_name=queue
                )
        await app.start_worker(max_workers=1, queues=["high", "medium", "low"])
        await eventually(lambda: runs_done(log, 6))
        assert read_runs(log) == ["high0", "high1", "medium0", "medium1", "low0", "low1"]

    async def test_delayed_task_runs_only_once_due(self, app: AsyncOmniQ) -> None:
        task_id = await app.enqueue(tasks.add, {"a": 2, "b": 2}, run_in=0.3)
        task = await app.get_task(task_id)
        assert task is not None
        await app.start_worker()
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.started_at is not None
        assert result.started_at >= task.due_at

    @pytest.mark.parametrize("worker_type", INTERRUPTING_WORKER_TYPES)
    @pytest.mark.parametrize("function_kind", ["sync", "async"])
    async def test_timeout_stops_the_attempt_and_counts_as_a_failure(
        self, app: AsyncOmniQ, worker_type: str, function_kind: str
    ) -> None:
        func = tasks.async_sleep if function_kind == "async" else tasks.sleep_in_steps
        task_id = await app.enqueue(func, {"seconds": 60}, timeout=0.3, max_retries=1, retry_delay=0)
        await app.start_worker(worker_type)
        result = await app.get_result(task_id, timeout=60)
        assert result is not None
        assert result.status is ResultStatus.ERROR and result.error is not None
        assert result.error.type == "omniq.core.errors.TaskTimeoutError"
        assert result.attempts == 2
        await eventually(lambda: has_event(app, task_id, EventType.DEAD))
        types = await event_types(app, task_id)
        assert types.count("timeout") == 2 and types[-1] == "dead"

    @pytest.mark.parametrize("worker_type", WORKER_TYPES)
    async def test_a_tasks_own_timeout_error_is_its_error_not_a_timeout(
        self, app: AsyncOmniQ, worker_type: str
    ) -> None:
        task_id = await app.enqueue(
            tasks.raise_timeout_error, timeout=30, max_retries=2, retry_on=[ValueError]
        )
        await app.start_worker(worker_type)
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.error is not None
        assert (result.error.type, result.attempts) == ("TimeoutError", 1)
        await eventually(lambda: has_event(app, task_id, EventType.DEAD))
        assert "timeout" not in await event_types(app, task_id)

    @pytest.mark.parametrize("worker_type", INTERRUPTING_WORKER_TYPES)
    @pytest.mark.parametrize("function_kind", ["sync", "async"])
    async def test_a_task_calling_sys_exit_fails_and_the_worker_goes_on(
        self, app: AsyncOmniQ, worker_type: str, function_kind: str
    ) -> None:
        func = tasks.async_raise_system_exit if function_kind == "async" else tasks.raise_system_exit
        task_id = await app.enqueue(func, max_retries=0)
        await app.start_worker(worker_type)
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.error is not None
        assert (result.status, result.error.type) == (ResultStatus.ERROR, "SystemExit")
        after = await app.enqueue(tasks.add, {"a": 1, "b": 1})
        assert (await app.get_result(after, timeout=60)) is not None

    @pytest.mark.parametrize("worker_type", WORKER_TYPES)
    async def test_an_exception_that_cannot_be_printed_or_encoded_still_ends_the_task(
        self, app: AsyncOmniQ, worker_type: str
    ) -> None:
        unprintable = await app.enqueue(tasks.fail_oddly, {"how": "unprintable"}, max_retries=0)
        surrogate = await app.enqueue(tasks.fail_oddly, {"how": "surrogate"}, max_retries=1, retry_delay=0)
        await app.start_worker(worker_type)
        first = await app.get_result(unprintable, timeout=60)
        second = await app.get_result(surrogate, timeout=60)
        assert first is not None and first.error is not None and first.status is ResultStatus.ERROR
        assert first.error.type.endswith("UnprintableError") and "str()" in first.error.message
        assert second is not None and second.error is not None and second.attempts == 2
        # The lone surrogate is kept as an escape: UTF-8 (JSON, msgpack) cannot hold it.
        assert second.error.type == "FileNotFoundError"
        assert second.error.message == "no such file: caf\\udce9.txt"
        assert await status_of(app, unprintable) is TaskStatus.DEAD
        assert await status_of(app, surrogate) is TaskStatus.DEAD

    async def test_a_worker_refuses_functions_it_was_not_given_without_importing_them(
        self, app: AsyncOmniQ, tmp_path: Path
    ) -> None:
        # Whoever can write to the store could name any importable function; by default a worker
        # runs only registered functions, named task modules and the project's own modules.
        witness = tmp_path / "ran"
        shell = await app.enqueue("os:system", args=[f"touch {witness}"], max_retries=3)
        installed = await app.enqueue("msgspec.json:encode", args=[1])
        unimported = await app.enqueue("this:i")
        await app.start_worker()
        for task_id, where in ((shell, "standard library"), (installed, "msgspec"), (unimported, "standard")):
            result = await app.get_result(task_id, timeout=60)
            assert result is not None and result.error is not None, task_id
            assert result.error.type == "omniq.core.errors.FunctionNotAllowedError"
            assert where in result.error.message and "task_modules" in result.error.message
            assert (result.attempts, await status_of(app, task_id)) == (1, TaskStatus.DEAD)
        assert not witness.exists()
        assert "this" not in sys.modules  # refused before its module was imported
        assert (await app.get_result(await app.enqueue(tasks.add, {"a": 1, "b": 2}), timeout=60)) is not None

    async def test_allow_any_function_runs_any_importable_function(self, make_app: AppFactory) -> None:
        app = await make_app(allow_any_function=True)
        task_id = await app.enqueue("operator:add", args=[2, 3])
        await app.start_worker()
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.value == 5

    async def test_results_expire_after_their_ttl(self, app: AsyncOmniQ) -> None:
        task_id = await app.enqueue(tasks.add, {"a": 1, "b": 1}, result_ttl=0.2)
        await app.start_worker()
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.expires_at is not None
        while time.time() <= result.expires_at.timestamp():
            await asyncio.sleep(0.05)
        assert await app.get_result(task_id) is None

    async def test_dedup_key_returns_the_live_task(self, app: AsyncOmniQ) -> None:
        first = await app.enqueue(tasks.add, {"a": 1, "b": 1}, dedup_key="nightly")
        assert await app.enqueue(tasks.add, {"a": 9, "b": 9}, dedup_key="nightly") == first
        await app.start_worker()
        await app.get_result(first, timeout=60)
        await eventually(lambda: status_is(app, first, TaskStatus.COMPLETED))
        assert await app.enqueue(tasks.add, {"a": 1, "b": 1}, dedup_key="nightly") != first

    @requires(Capability.ADMIN)
    async def test_bad_enqueue_options_are_refused_with_the_field_named(self, app: AsyncOmniQ) -> None:
        for options, field in (
            ({"priority": 10**9}, "priority"),
            ({"priority": "high"}, "priority"),
            ({"ttl": -1}, "ttl"),
            ({"queue_name": ""}, "queue_name"),
            ({"timeout": 0}, "timeout"),
        ):
            with pytest.raises(ValidationError) as caught:
                await app.enqueue(tasks.add, {"a": 1, "b": 1}, **options)
            assert caught.value.field == field
        assert await app.list_tasks() == []
