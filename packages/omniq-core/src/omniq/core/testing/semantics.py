"""Conformance tests of the queue's semantics, end to end through the application and its workers."""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from pathlib import Path

import msgspec
import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.capabilities import Capability
from omniq.core.errors import ValidationError
from omniq.core.models import EventType, ResultStatus, TaskStatus
from omniq.core.testing import tasks
from omniq.core.testing._support import (
    AppFactory,
    ConformanceFixtures,
    eventually,
    make_record,
    read_runs,
    requires,
)

__all__ = ["SemanticsTests"]

WORKER_TYPES = ["async", "thread", "gevent", "process"]
#: The kinds that stop a plain function blocked in ``time.sleep`` in this very process. The gevent
#: kind does so only in a monkey-patched process: ``ProcessTests`` proves it there, and omniq-core's
#: own tests (``test_worker_machinery``) prove it in-process with code that yields to the hub.
INTERRUPTING_WORKER_TYPES = [kind for kind in WORKER_TYPES if kind != "gevent"]


async def _status(app: AsyncOmniQ, task_id: str) -> TaskStatus | None:
    task = await app.get_task(task_id)
    return None if task is None else task.status


async def _event_types(app: AsyncOmniQ, task_id: str) -> list[str]:
    return [event.type.value for event in await app.events(task_id)]


class SemanticsTests(ConformanceFixtures):
    """SPEC §3 rules, observed through ``AsyncOmniQ`` with real workers."""

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
        assert await _status(app, sync_id) is TaskStatus.COMPLETED

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
        await eventually(lambda: _has_event(app, task_id, EventType.COMPLETED))
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
        await eventually(lambda: _done(log, 6))
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
        await eventually(lambda: _has_event(app, task_id, EventType.DEAD))
        types = await _event_types(app, task_id)
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
        await eventually(lambda: _has_event(app, task_id, EventType.DEAD))
        assert "timeout" not in await _event_types(app, task_id)

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
        assert await _status(app, unprintable) is TaskStatus.DEAD
        assert await _status(app, surrogate) is TaskStatus.DEAD

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
            assert (result.attempts, await _status(app, task_id)) == (1, TaskStatus.DEAD)
        assert not witness.exists()
        assert "this" not in sys.modules  # refused before its module was imported
        assert (await app.get_result(await app.enqueue(tasks.add, {"a": 1, "b": 2}), timeout=60)) is not None

    async def test_allow_any_function_runs_any_importable_function(self, make_app: AppFactory) -> None:
        app = await make_app(allow_any_function=True)
        task_id = await app.enqueue("operator:add", args=[2, 3])
        await app.start_worker()
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.value == 5

    async def test_retry_delays_grow_by_the_backoff_and_stop_at_the_cap(self, make_app: AppFactory) -> None:
        app = await make_app(retry_backoff=3.0, retry_max_delay=0.2)
        task_id = await app.enqueue(tasks.fail, max_retries=3, retry_delay=0.05)
        await app.start_worker()
        await app.get_result(task_id, timeout=60)
        await eventually(lambda: _has_event(app, task_id, EventType.DEAD))
        delays = [float(e.details["delay"]) for e in await app.events(task_id, types=[EventType.RETRY])]
        # With jitter each delay lies in [d/2, d] of its nominal d: 0.05, 0.15, then the cap 0.2.
        assert len(delays) == 3
        assert 0.025 <= delays[0] <= 0.05
        assert 0.075 <= delays[1] <= 0.15
        assert 0.1 <= delays[2] <= 0.2

    @requires(Capability.ADMIN)
    async def test_failures_retry_with_backoff_then_go_dead(self, app: AsyncOmniQ) -> None:
        task_id = await app.enqueue(tasks.fail, {"message": "nope"}, max_retries=2, retry_delay=0.01)
        await app.start_worker()
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.error is not None
        assert (result.status, result.attempts, result.error.type) == (ResultStatus.ERROR, 3, "ValueError")
        assert "nope" in result.error.message and "Traceback" in (result.error.traceback or "")
        await eventually(lambda: _has_event(app, task_id, EventType.DEAD))
        assert await _event_types(app, task_id) == [
            "enqueued",
            "executing",
            "error",
            "retry",
            "executing",
            "error",
            "retry",
            "executing",
            "error",
            "dead",
        ]
        dead = await app.dead_letters()
        assert [t.id for t in dead] == [task_id]
        assert dead[0].error is not None and dead[0].error.type == "ValueError"

    async def test_retried_task_can_succeed(self, app: AsyncOmniQ, tmp_path: Path) -> None:
        counter = tmp_path / "count"
        task_id = await app.enqueue(
            tasks.fail_until, {"path": str(counter), "succeed_on": 3}, max_retries=5, retry_delay=0.01
        )
        await app.start_worker()
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and (result.status, result.value, result.attempts) == (
            ResultStatus.SUCCESS,
            3,
            3,
        )

    async def test_retry_on_limits_which_errors_retry(self, app: AsyncOmniQ) -> None:
        skipped = await app.enqueue(tasks.fail, {"kind": "KeyError"}, max_retries=3, retry_on=[ValueError])
        retried = await app.enqueue(
            tasks.fail, {"kind": "ValueError"}, max_retries=1, retry_on=[ValueError], retry_delay=0
        )
        await app.start_worker()
        skipped_result = await app.get_result(skipped, timeout=60)
        retried_result = await app.get_result(retried, timeout=60)
        assert skipped_result is not None and skipped_result.attempts == 1
        assert retried_result is not None and retried_result.attempts == 2

    @requires(Capability.ADMIN)
    async def test_dead_task_can_be_requeued(self, app: AsyncOmniQ, tmp_path: Path) -> None:
        counter = tmp_path / "count"
        task_id = await app.enqueue(tasks.fail_until, {"path": str(counter), "succeed_on": 2}, max_retries=0)
        await app.start_worker()
        first = await app.get_result(task_id, timeout=60)
        assert first is not None and first.status is ResultStatus.ERROR
        await eventually(lambda: _status_is(app, task_id, TaskStatus.DEAD))
        assert await app.requeue(task_id)
        await eventually(lambda: _status_is(app, task_id, TaskStatus.COMPLETED))
        result = await app.get_result(task_id)
        assert result is not None and (result.status, result.value) == (ResultStatus.SUCCESS, 2)

    @requires(Capability.ADMIN)
    async def test_a_requeued_task_loses_its_old_result(self, app: AsyncOmniQ) -> None:
        task_id = await app.enqueue(tasks.fail, max_retries=0)
        await app.start_worker()
        first = await app.get_result(task_id, timeout=60)
        assert first is not None and first.status is ResultStatus.ERROR
        await eventually(lambda: _status_is(app, task_id, TaskStatus.DEAD))
        await app.stop_worker()
        assert await app.requeue(task_id)
        assert await app.get_result(task_id) is None
        assert await _status(app, task_id) is TaskStatus.PENDING

    async def test_bad_payload_or_function_goes_dead_and_the_worker_goes_on(self, app: AsyncOmniQ) -> None:
        corrupt = msgspec.structs.replace(make_record(f"{tasks.__name__}:add"), data=b"\xc1garbage")
        await app.task_queue.enqueue([corrupt])
        missing = await app.enqueue("no.such.module:func")
        broken = await app.enqueue("omniq.core.testing._fails_on_import:anything", max_retries=3)
        unencodable = await app.enqueue(tasks.unencodable_result, max_retries=3)
        too_large = await app.enqueue(tasks.huge_int_result, max_retries=3)
        healthy = await app.enqueue(tasks.add, {"a": 5, "b": 5})
        await app.start_worker(max_workers=1)
        result = await app.get_result(healthy, timeout=60)
        assert result is not None and result.value == 10
        for task_id, reason in (
            (corrupt.id, "cannot be decoded"),
            (missing, "cannot be imported"),
            (broken, "fails while it is imported"),
            (unencodable, "cannot encode"),
            (too_large, "cannot encode"),
        ):
            await eventually(functools.partial(_status_is, app, task_id, TaskStatus.DEAD))
            task = await app.get_task(task_id)
            assert task is not None and task.error is not None and reason in task.error.message
            assert task.attempts == 1

    async def test_task_not_started_within_its_ttl_expires(self, make_app: AppFactory) -> None:
        app = await make_app(lease_ttl=0.5)
        task_id = await app.enqueue(tasks.add, {"a": 1, "b": 1}, ttl=0.2, queue_name="nobody-serves-this")
        await app.start_worker(queues=["default"])
        await eventually(lambda: _status_is(app, task_id, TaskStatus.EXPIRED))
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.status is ResultStatus.EXPIRED
        await eventually(lambda: _has_event(app, task_id, EventType.EXPIRED))
        assert EventType.EXECUTING.value not in await _event_types(app, task_id)

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
        assert await _status(app, task_id) is TaskStatus.CANCELLED

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
        await eventually(lambda: _exists(marker))
        assert await app.cancel(task_id)
        after = await app.enqueue(tasks.add, {"a": 1, "b": 1})
        # The worker's only slot comes free only once the cancelled task has stopped.
        assert (await app.get_result(after, timeout=60)) is not None
        result = await app.get_result(task_id)
        assert result is not None and result.status is ResultStatus.CANCELLED
        task = await app.get_task(task_id)
        assert task is not None and (task.status, task.attempts) == (TaskStatus.CANCELLED, 1)
        assert read_runs(log) == []
        assert "completed" not in await _event_types(app, task_id)

    async def test_heartbeats_keep_a_long_task_leased(self, make_app: AppFactory, tmp_path: Path) -> None:
        first = await make_app(lease_ttl=0.6)
        second = await make_app(lease_ttl=0.6)
        log = tmp_path / "runs.log"
        task_id = await first.enqueue(
            tasks.slow_with_marker, {"marker": str(tmp_path / "started"), "seconds": 2.0, "log": str(log)}
        )
        await first.start_worker("thread")
        await eventually(lambda: _exists(tmp_path / "started"))
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
        await eventually(lambda: _done(log, 150))
        await eventually(lambda: _all_completed(apps[0], ids))
        assert sorted(read_runs(log), key=int) == [str(n) for n in range(150)]

    async def test_stop_worker_lets_running_tasks_finish_and_leaves_the_rest(
        self, app: AsyncOmniQ, tmp_path: Path
    ) -> None:
        log = tmp_path / "runs.log"
        running = await app.enqueue(
            tasks.slow_with_marker, {"marker": str(tmp_path / "started"), "seconds": 0.5, "log": str(log)}
        )
        await app.start_worker("thread", max_workers=1)
        await eventually(lambda: _exists(tmp_path / "started"))
        waiting = await app.enqueue(tasks.add, {"a": 1, "b": 1})
        await app.stop_worker()
        assert await _status(app, running) is TaskStatus.COMPLETED
        result = await app.get_result(running)
        assert result is not None and result.status is ResultStatus.SUCCESS
        assert await _has_event(app, running, EventType.COMPLETED)
        assert await _status(app, waiting) is TaskStatus.PENDING

    async def test_stop_worker_with_grace_releases_unfinished_tasks(
        self, app: AsyncOmniQ, tmp_path: Path
    ) -> None:
        marker = tmp_path / "started"
        task_id = await app.enqueue(
            tasks.slow_with_marker, {"marker": str(marker), "seconds": 60, "log": str(tmp_path / "log")}
        )
        await app.start_worker("thread", max_workers=1)
        await eventually(lambda: _exists(marker))
        await app.stop_worker(grace=0.1)
        task = await app.get_task(task_id)
        assert task is not None and task.status is TaskStatus.PENDING
        await eventually(lambda: _has_event(app, task_id, EventType.RETRY))
        await app.start_worker("thread", max_workers=1)
        await eventually(lambda: _status_is(app, task_id, TaskStatus.RUNNING))
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
        await eventually(lambda: _has_event(app, task_id, EventType.CALLBACK_ERROR))
        (event,) = await app.events(task_id, types=[EventType.CALLBACK_ERROR])
        assert event.error is not None and "fails" in event.error.message
        assert event.details["callback"] == f"{tasks.__name__}:failing_callback"
        assert await _status(app, task_id) is TaskStatus.COMPLETED

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
        await eventually(lambda: _status_is(app, first, TaskStatus.COMPLETED))
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

    # -- the process worker ---------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("how", "reason"),
        [("exit", "exit code 1"), ("kill", "signal 9, SIGKILL"), ("segfault", "signal 11, SIGSEGV")],
    )
    async def test_a_task_whose_process_dies_fails_that_attempt_and_others_go_on(
        self, app: AsyncOmniQ, tmp_path: Path, how: str, reason: str
    ) -> None:
        marker, release = tmp_path / "started", tmp_path / "release"
        bystander = await app.enqueue(
            tasks.wait_for_release, {"marker": str(marker), "release": str(release)}, max_retries=0
        )
        await app.start_worker("process", max_workers=2)
        await eventually(lambda: _exists(marker))
        dying = await app.enqueue(
            tasks.die_until,
            {"path": str(tmp_path / "runs"), "succeed_on": 2, "how": how},
            max_retries=1,
            retry_delay=0,
        )
        result = await app.get_result(dying, timeout=60)
        assert result is not None and (result.status, result.value, result.attempts) == (
            ResultStatus.SUCCESS,
            2,
            2,
        )
        errors = await app.events(dying, types=[EventType.ERROR])
        assert len(errors) == 1 and errors[0].error is not None
        assert errors[0].error.type == "omniq.core.errors.WorkerProcessDiedError"
        assert reason in errors[0].error.message
        # The task running in the other process all along was not disturbed.
        assert await _status(app, bystander) is TaskStatus.RUNNING
        release.touch()
        finished = await app.get_result(bystander, timeout=60)
        assert finished is not None and (finished.status, finished.attempts) == (ResultStatus.SUCCESS, 1)
        assert finished.value == int(marker.read_text(encoding="utf-8"))

    async def test_a_task_that_keeps_crashing_its_process_goes_dead(
        self, app: AsyncOmniQ, tmp_path: Path
    ) -> None:
        task_id = await app.enqueue(
            tasks.die_until,
            {"path": str(tmp_path / "runs"), "succeed_on": 99, "how": "segfault"},
            max_retries=1,
            retry_delay=0,
        )
        await app.start_worker("process", max_workers=1)
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.error is not None
        assert (result.status, result.attempts) == (ResultStatus.ERROR, 2)
        assert result.error.type == "omniq.core.errors.WorkerProcessDiedError"
        await eventually(lambda: _has_event(app, task_id, EventType.DEAD))
        assert (await _event_types(app, task_id)).count("error") == 2
        healthy = await app.enqueue(tasks.add, {"a": 2, "b": 3})
        after = await app.get_result(healthy, timeout=60)
        assert after is not None and after.value == 5


async def _has_event(app: AsyncOmniQ, task_id: str, kind: EventType) -> bool:
    return kind.value in await _event_types(app, task_id)


async def _status_is(app: AsyncOmniQ, task_id: str, status: TaskStatus) -> bool:
    return await _status(app, task_id) is status


async def _all_completed(app: AsyncOmniQ, ids: list[str]) -> bool:
    return all([await _status(app, task_id) is TaskStatus.COMPLETED for task_id in ids])


async def _done(log: Path, count: int) -> bool:
    return len(read_runs(log)) >= count


async def _exists(path: Path) -> bool:
    return path.exists()
