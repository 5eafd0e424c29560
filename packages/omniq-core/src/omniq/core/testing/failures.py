"""Conformance tests of failures: retries and their backoff, dead letters, bad payloads, expiry
before a start, and task processes that die."""

from __future__ import annotations

import functools
from pathlib import Path

import msgspec
import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.capabilities import Capability
from omniq.core.models import EventType, ResultStatus, TaskStatus
from omniq.core.testing import tasks
from omniq.core.testing._observing import (
    event_types,
    has_event,
    path_exists,
    status_is,
    status_of,
)
from omniq.core.testing._support import (
    AppFactory,
    ConformanceFixtures,
    eventually,
    make_record,
    requires,
)

__all__ = ["FailureTests"]


class FailureTests(ConformanceFixtures):
    """SPEC §3 rules on what a failed attempt leads to."""

    async def test_retry_delays_grow_by_the_backoff_and_stop_at_the_cap(self, make_app: AppFactory) -> None:
        app = await make_app(retry_backoff=3.0, retry_max_delay=0.2)
        task_id = await app.enqueue(tasks.fail, max_retries=3, retry_delay=0.05)
        await app.start_worker()
        await app.get_result(task_id, timeout=60)
        await eventually(lambda: has_event(app, task_id, EventType.DEAD))
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
        await eventually(lambda: has_event(app, task_id, EventType.DEAD))
        assert await event_types(app, task_id) == [
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
        await eventually(lambda: status_is(app, task_id, TaskStatus.DEAD))
        assert await app.requeue(task_id)
        await eventually(lambda: status_is(app, task_id, TaskStatus.COMPLETED))
        result = await app.get_result(task_id)
        assert result is not None and (result.status, result.value) == (ResultStatus.SUCCESS, 2)

    @requires(Capability.ADMIN)
    async def test_a_requeued_task_loses_its_old_result(self, app: AsyncOmniQ) -> None:
        task_id = await app.enqueue(tasks.fail, max_retries=0)
        await app.start_worker()
        first = await app.get_result(task_id, timeout=60)
        assert first is not None and first.status is ResultStatus.ERROR
        await eventually(lambda: status_is(app, task_id, TaskStatus.DEAD))
        await app.stop_worker()
        assert await app.requeue(task_id)
        assert await app.get_result(task_id) is None
        assert await status_of(app, task_id) is TaskStatus.PENDING

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
            await eventually(functools.partial(status_is, app, task_id, TaskStatus.DEAD))
            task = await app.get_task(task_id)
            assert task is not None and task.error is not None and reason in task.error.message
            assert task.attempts == 1

    async def test_task_not_started_within_its_ttl_expires(self, make_app: AppFactory) -> None:
        app = await make_app(lease_ttl=0.5)
        task_id = await app.enqueue(tasks.add, {"a": 1, "b": 1}, ttl=0.2, queue_name="nobody-serves-this")
        await app.start_worker(queues=["default"])
        await eventually(lambda: status_is(app, task_id, TaskStatus.EXPIRED))
        result = await app.get_result(task_id, timeout=60)
        assert result is not None and result.status is ResultStatus.EXPIRED
        await eventually(lambda: has_event(app, task_id, EventType.EXPIRED))
        assert EventType.EXECUTING.value not in await event_types(app, task_id)

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
        await eventually(lambda: path_exists(marker))
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
        assert await status_of(app, bystander) is TaskStatus.RUNNING
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
        await eventually(lambda: has_event(app, task_id, EventType.DEAD))
        assert (await event_types(app, task_id)).count("error") == 2
        healthy = await app.enqueue(tasks.add, {"a": 2, "b": 3})
        after = await app.get_result(healthy, timeout=60)
        assert after is not None and after.value == 5
