"""Conformance tests of task dependencies: the store's contract and the rules of SPEC §3."""

from __future__ import annotations

import time

import msgspec
import pytest

from omniq.core.app import AsyncOmniQ
from omniq.core.capabilities import Capability
from omniq.core.errors import ValidationError
from omniq.core.interfaces import BaseTaskQueue
from omniq.core.models import EventType, ResultStatus, TaskStatus
from omniq.core.records import TaskRecord
from omniq.core.testing import tasks
from omniq.core.testing._support import (
    ConformanceFixtures,
    admin_of,
    ending,
    eventually,
    make_record,
    requires,
)

__all__ = ["DependencyTests"]


def _waiting_on(*ids: str) -> TaskRecord:
    return msgspec.structs.replace(make_record(), depends_on=ids, status=TaskStatus.WAITING)


async def _settle(queue: BaseTaskQueue, record: TaskRecord, status: TaskStatus, now: float) -> None:
    """Claim ``record`` (alone in its queue) and end it with ``status``."""
    claimed = await queue.claim(
        [record.queue], limit=1, worker_id="w", lease_token="t", lease_expires_at=now + 30, now=now
    )
    assert [r.id for r in claimed] == [record.id]
    assert (await queue.finish([ending(record.id, status, now)])).accepted == [record.id]


async def _with_dependent(queue: BaseTaskQueue, dependency: TaskRecord) -> TaskRecord:
    """Store ``dependency`` and then a task waiting on it; returns the waiting task."""
    await queue.enqueue([dependency])
    dependent = _waiting_on(dependency.id)
    await queue.enqueue([dependent])
    return dependent


async def _status(queue: BaseTaskQueue, task_id: str) -> TaskStatus | None:
    record = await queue.get_task(task_id)
    return None if record is None else record.status


class DependencyTests(ConformanceFixtures):
    """``depends_on`` on the backend's store and through the application."""

    # -- the store ---------------------------------------------------------------------------

    async def test_a_finish_reports_every_finished_task_something_waits_on(
        self, queue: BaseTaskQueue
    ) -> None:
        # The worker resolves the dependencies of these only: one left out would leave its
        # dependents waiting until the reaper's round. Listing one nothing waits on costs a lookup.
        awaited = [make_record(queue_name="finish-report") for _ in range(3)]
        alone = make_record(queue_name="finish-report")
        now = time.time()
        await queue.enqueue([*awaited, alone])
        await queue.enqueue([_waiting_on(awaited[0].id), _waiting_on(awaited[1].id, awaited[2].id)])
        claimed = await queue.claim(
            ["finish-report"], limit=4, worker_id="w", lease_token="t", lease_expires_at=now + 30, now=now
        )
        assert len(claimed) == 4
        statuses = [TaskStatus.COMPLETED, TaskStatus.DEAD, TaskStatus.COMPLETED]
        outcomes = [ending(r.id, status, now) for r, status in zip(awaited, statuses, strict=True)]
        outcomes.append(ending(alone.id, TaskStatus.COMPLETED, now))
        report = await queue.finish(outcomes)
        assert report.accepted == [o.task_id for o in outcomes]
        assert {r.id for r in awaited} <= set(report.waited_on) <= set(report.accepted)

    async def test_unknown_dependencies_are_refused_and_nothing_is_stored(self, queue: BaseTaskQueue) -> None:
        known = make_record()
        await queue.enqueue([known])
        fine, bad = _waiting_on(known.id), _waiting_on(known.id, "no-such-task")
        with pytest.raises(ValidationError, match="no-such-task") as caught:
            await queue.enqueue([fine, bad])
        assert caught.value.field == "depends_on"
        assert await queue.get_task(fine.id) is None and await queue.get_task(bad.id) is None

    async def test_a_waiting_task_is_released_once_every_dependency_completed(
        self, queue: BaseTaskQueue
    ) -> None:
        first, second = make_record(queue_name="a"), make_record(queue_name="b")
        await queue.enqueue([first, second])
        dependent = _waiting_on(first.id, second.id)
        await queue.enqueue([dependent])
        now = time.time()
        assert await _status(queue, dependent.id) is TaskStatus.WAITING
        await _settle(queue, first, TaskStatus.COMPLETED, now)
        report = await queue.resolve_dependencies([first.id], now)
        assert report.released == [] and report.cancelled == []
        assert (
            await queue.claim(
                ["default"], limit=5, worker_id="w", lease_token="x", lease_expires_at=now + 9, now=now
            )
            == []
        )
        await _settle(queue, second, TaskStatus.COMPLETED, now)
        report = await queue.resolve_dependencies([second.id], now + 1)
        assert [r.id for r in report.released] == [dependent.id]
        assert report.released[0].status is TaskStatus.PENDING
        again = await queue.resolve_dependencies([first.id, second.id], now + 2)
        assert again.released == [] and again.cancelled == []
        claimed = await queue.claim(
            ["default"], limit=5, worker_id="w", lease_token="y", lease_expires_at=now + 9, now=now + 2
        )
        assert [r.id for r in claimed] == [dependent.id]

    async def test_a_failed_dependency_cancels_its_dependents_down_the_graph(
        self, queue: BaseTaskQueue
    ) -> None:
        root = make_record(queue_name="root")
        await queue.enqueue([root])
        child = _waiting_on(root.id)
        await queue.enqueue([child])
        grandchild, other = _waiting_on(child.id), _waiting_on(child.id)
        await queue.enqueue([grandchild, other])
        now = time.time()
        await _settle(queue, root, TaskStatus.DEAD, now)
        report = await queue.resolve_dependencies([root.id], now)
        assert {r.id for r in report.cancelled} == {child.id, grandchild.id, other.id}
        cancelled = {r.id: r for r in report.cancelled}
        assert root.id in (cancelled[child.id].error or "") and "dead" in (cancelled[child.id].error or "")
        assert child.id in (cancelled[grandchild.id].error or "")
        for task_id in (child.id, grandchild.id, other.id):
            assert await _status(queue, task_id) is TaskStatus.CANCELLED

    async def test_dependencies_already_decided_at_enqueue(self, queue: BaseTaskQueue) -> None:
        done, failed = make_record(queue_name="done"), make_record(queue_name="failed")
        await queue.enqueue([done, failed])
        now = time.time()
        await _settle(queue, done, TaskStatus.COMPLETED, now)
        await _settle(queue, failed, TaskStatus.DEAD, now)
        ready, doomed = _waiting_on(done.id), _waiting_on(done.id, failed.id)
        await queue.enqueue([ready, doomed])
        assert await _status(queue, ready.id) is TaskStatus.PENDING
        stored = await queue.get_task(doomed.id)
        assert stored is not None and stored.status is TaskStatus.CANCELLED
        assert failed.id in (stored.error or "")

    async def test_reap_resolves_what_a_crash_left_unresolved(self, queue: BaseTaskQueue) -> None:
        dependency = make_record(queue_name="dep")
        dependent = await _with_dependent(queue, dependency)
        now = time.time()
        await _settle(queue, dependency, TaskStatus.COMPLETED, now)  # ... and no resolve: a crash
        report = await queue.reap(now + 1)
        assert [r.id for r in report.dependencies.released] == [dependent.id]
        assert (await queue.reap(now + 2)).dependencies.released == []

    @requires(Capability.ADMIN)
    async def test_a_requeued_task_releases_the_dependents_it_gained_since_it_first_ended(
        self, queue: BaseTaskQueue
    ) -> None:
        task = make_record(queue_name="again")
        await queue.enqueue([task])
        now = time.time()
        await _settle(queue, task, TaskStatus.DEAD, now)  # nothing waited on it then
        assert await admin_of(queue).requeue(task.id, now + 1) is not None
        dependent = _waiting_on(task.id)
        await queue.enqueue([dependent])
        await _settle(queue, task, TaskStatus.COMPLETED, now + 2)
        report = await queue.resolve_dependencies([task.id], now + 2)
        assert [r.id for r in report.released] == [dependent.id]

    async def test_cancelling_a_dependency_cancels_its_dependents(self, queue: BaseTaskQueue) -> None:
        dependency = make_record()
        dependent = await _with_dependent(queue, dependency)
        now = time.time()
        await queue.cancel(dependency.id, now)
        report = await queue.resolve_dependencies([dependency.id], now)
        assert [r.id for r in report.cancelled] == [dependent.id]
        assert "cancelled" in (report.cancelled[0].error or "")

    async def test_a_dependency_expired_by_the_reaper_cancels_its_dependents_in_that_reap(
        self, queue: BaseTaskQueue
    ) -> None:
        now = time.time()
        dependency = make_record(queue_name="ttl", ttl=1, now=now)
        dependent = await _with_dependent(queue, dependency)
        report = await queue.reap(now + 2)
        assert [r.id for r in report.expired] == [dependency.id]
        assert [r.id for r in report.dependencies.cancelled] == [dependent.id]
        assert "expired" in (report.dependencies.cancelled[0].error or "")
        assert (await queue.reap(now + 3)).dependencies.cancelled == []

    @requires(Capability.ADMIN)
    async def test_a_purge_keeps_a_finished_task_until_its_dependents_are_resolved(
        self, queue: BaseTaskQueue
    ) -> None:
        dependency = make_record(queue_name="dep")
        dependent = await _with_dependent(queue, dependency)
        now = time.time()
        await _settle(queue, dependency, TaskStatus.COMPLETED, now)  # ... and no resolve: a crash
        # Deleted now, it would leave its dependent waiting for ever.
        assert await admin_of(queue).purge_tasks(TaskStatus.COMPLETED) == 0
        report = await queue.reap(now + 1)
        assert [r.id for r in report.dependencies.released] == [dependent.id]
        assert await admin_of(queue).purge_tasks(TaskStatus.COMPLETED) == 1
        assert await queue.get_task(dependency.id) is None
        assert await _status(queue, dependent.id) is TaskStatus.PENDING

    @requires(Capability.ADMIN)
    async def test_purged_waiting_tasks_leave_their_dependency_to_end_as_usual(
        self, queue: BaseTaskQueue
    ) -> None:
        dependency = make_record(queue_name="dep")
        await queue.enqueue([dependency])
        gone, kept = _waiting_on(dependency.id), _waiting_on(dependency.id)
        await queue.enqueue([gone, kept])
        now = time.time()
        await queue.cancel(gone.id, now)  # while it waits, with its dependency live
        assert await admin_of(queue).purge_tasks(TaskStatus.CANCELLED) == 1
        await _settle(queue, dependency, TaskStatus.COMPLETED, now)
        report = await queue.resolve_dependencies([dependency.id], now)
        assert [r.id for r in report.released] == [kept.id] and report.cancelled == []
        assert await admin_of(queue).purge_tasks(TaskStatus.COMPLETED) == 1  # resolved: nothing waits on it

    # -- through the application ------------------------------------------------------------------

    async def test_a_dependent_runs_after_its_dependencies_and_reads_their_results(
        self, app: AsyncOmniQ, backend_url: str
    ) -> None:
        first = await app.enqueue(tasks.add, {"a": 1, "b": 2})
        second = await app.enqueue(tasks.add, {"a": 3, "b": 4}, run_in=0.2)
        total = await app.enqueue(tasks.sum_of_dependencies, {"url": backend_url}, depends_on=[first, second])
        task = await app.get_task(total)
        assert task is not None and task.status is TaskStatus.WAITING
        await app.start_worker()
        result = await app.get_result(total, timeout=60)
        assert result is not None and result.value == 10
        first_result, second_result = await app.get_result(first), await app.get_result(second)
        assert first_result is not None and second_result is not None and result.started_at is not None
        assert (
            first_result.finished_at <= result.started_at and second_result.finished_at <= result.started_at
        )
        await eventually(lambda: _has_event(app, total, EventType.DEPENDENCY_SATISFIED))

    async def test_fan_in_of_hundreds_of_tasks(self, app: AsyncOmniQ, backend_url: str) -> None:
        parts = await app.enqueue_many(tasks.add, [{"a": n, "b": 0} for n in range(300)])
        total = await app.enqueue(tasks.sum_of_dependencies, {"url": backend_url}, depends_on=parts)
        await app.start_worker(max_workers=50)
        result = await app.get_result(total, timeout=120)
        assert result is not None and result.value == sum(range(300))

    async def test_a_dead_dependency_cancels_the_dependent_with_the_reason(self, app: AsyncOmniQ) -> None:
        doomed = await app.enqueue(tasks.fail, max_retries=0)
        dependent = await app.enqueue(tasks.add, {"a": 1, "b": 1}, depends_on=[doomed])
        later = await app.enqueue(tasks.add, {"a": 1, "b": 1}, depends_on=[dependent])
        await app.start_worker()
        result = await app.get_result(later, timeout=60)
        assert result is not None and result.status is ResultStatus.CANCELLED and result.error is not None
        assert result.error.type == "omniq.DependencyFailed" and dependent in result.error.message
        direct = await app.get_result(dependent)
        assert direct is not None and direct.error is not None and doomed in direct.error.message
        await eventually(lambda: _has_event(app, dependent, EventType.DEPENDENCY_FAILED))

    async def test_cancel_cascades_to_dependents(self, app: AsyncOmniQ) -> None:
        dependency = await app.enqueue(tasks.add, {"a": 1, "b": 1}, run_in=3600)
        dependent = app.task(tasks.add).options(depends_on=[dependency])
        dependent_id = await dependent.enqueue(1, 1)
        assert await app.cancel(dependency)
        task = await app.get_task(dependent_id)
        assert task is not None and task.status is TaskStatus.CANCELLED
        result = await app.get_result(dependent_id)
        assert result is not None and result.status is ResultStatus.CANCELLED

    @requires(Capability.ADMIN)
    async def test_bad_dependencies_are_refused_with_the_field_named(self, app: AsyncOmniQ) -> None:
        for depends_on in (["no-such-task"], "a-string-not-a-list", [42]):
            with pytest.raises(ValidationError) as caught:
                await app.enqueue(tasks.add, {"a": 1, "b": 1}, depends_on=depends_on)  # type: ignore[arg-type]
            assert caught.value.field == "depends_on"
        assert await app.list_tasks() == []


async def _has_event(app: AsyncOmniQ, task_id: str, kind: EventType) -> bool:
    return kind in [event.type for event in await app.events(task_id)]
