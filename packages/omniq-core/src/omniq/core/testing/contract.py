"""Conformance tests of the raw backend contract, with explicit clocks (no sleeping)."""

from __future__ import annotations

import asyncio
import time

from omniq.core.capabilities import Capability
from omniq.core.interfaces import BaseEventStorage, BaseResultStorage, BaseTaskQueue
from omniq.core.models import ResultStatus, TaskStatus
from omniq.core.records import LEASE_EXPIRED_ERROR, EventRecord, Outcome, ResultRecord
from omniq.core.registry import open_url
from omniq.core.testing._support import ConformanceFixtures, admin_of, make_record, requires

__all__ = ["ContractTests"]

LEASE = 30.0


async def _claim(
    queue: BaseTaskQueue,
    now: float,
    *,
    queues: tuple[str, ...] = ("default",),
    limit: int = 10,
    token: str = "token-a",
    worker: str = "worker-a",
) -> list[str]:
    records = await queue.claim(
        queues, limit=limit, worker_id=worker, lease_token=token, lease_expires_at=now + LEASE, now=now
    )
    return [record.id for record in records]


class ContractTests(ConformanceFixtures):
    """Every operation of the backend contract, against its documented semantics."""

    async def test_enqueue_stores_tasks_in_order(self, queue: BaseTaskQueue) -> None:
        records = [make_record(priority=p) for p in (1, 2, 3)]
        assert await queue.enqueue(records) == [r.id for r in records]
        stored = await queue.get_task(records[1].id)
        assert stored is not None
        assert (stored.status, stored.priority, stored.data) == (TaskStatus.PENDING, 2, records[1].data)
        assert await queue.get_task("no-such-task") is None

    async def test_claim_leases_the_task_and_counts_the_attempt(self, queue: BaseTaskQueue) -> None:
        record = make_record()
        await queue.enqueue([record])
        now = time.time()
        [claimed] = await queue.claim(
            ["default"], limit=5, worker_id="w1", lease_token="t1", lease_expires_at=now + LEASE, now=now
        )
        assert claimed.id == record.id
        assert (claimed.status, claimed.attempts, claimed.lease_token, claimed.worker_id) == (
            TaskStatus.RUNNING,
            1,
            "t1",
            "w1",
        )
        assert claimed.lease_expires_at == now + LEASE
        assert claimed.data == record.data
        assert await _claim(queue, now, token="t2") == []

    async def test_claim_takes_earlier_queues_first(self, queue: BaseTaskQueue) -> None:
        low = make_record(queue_name="low", priority=100)
        high = make_record(queue_name="high")
        medium = make_record(queue_name="medium")
        await queue.enqueue([low, high, medium])
        now = time.time() + 1
        order = ("high", "medium", "low")
        taken = [await _claim(queue, now, queues=order, limit=1) for _ in range(3)]
        assert taken == [[high.id], [medium.id], [low.id]]

    async def test_claim_orders_by_priority_then_due_time_then_fifo(self, queue: BaseTaskQueue) -> None:
        now = time.time()
        first_fifo = make_record(now=now)
        second_fifo = make_record(now=now)
        urgent = make_record(now=now, priority=5)
        earlier_due = make_record(now=now - 10)
        await queue.enqueue([first_fifo, second_fifo, urgent, earlier_due])
        order = [(await _claim(queue, now + 1, limit=1))[0] for _ in range(4)]
        assert order == [urgent.id, earlier_due.id, first_fifo.id, second_fifo.id]

    async def test_claim_returns_a_batch_in_claim_order(self, queue: BaseTaskQueue) -> None:
        now = time.time()
        records = [make_record(now=now, priority=p) for p in (0, 3, 1, 2)]
        await queue.enqueue(records)
        assert await _claim(queue, now + 1, limit=3) == [records[1].id, records[3].id, records[2].id]

    async def test_delayed_task_is_not_claimable_before_it_is_due(self, queue: BaseTaskQueue) -> None:
        now = time.time()
        record = make_record(now=now, run_in=100)
        await queue.enqueue([record])
        assert await _claim(queue, now + 50) == []
        assert await _claim(queue, now + 101) == [record.id]

    async def test_task_past_its_ttl_is_never_claimed_and_reaps_as_expired(
        self, queue: BaseTaskQueue
    ) -> None:
        now = time.time()
        record = make_record(now=now, ttl=5)
        await queue.enqueue([record])
        assert await _claim(queue, now + 6) == []
        report = await queue.reap(now + 6)
        assert [r.id for r in report.expired] == [record.id]
        assert report.expired[0].status is TaskStatus.EXPIRED
        stored = await queue.get_task(record.id)
        assert stored is not None and stored.status is TaskStatus.EXPIRED
        assert (await queue.reap(now + 7)).expired == []

    async def test_heartbeat_extends_current_leases_and_reports_lost_ones(self, queue: BaseTaskQueue) -> None:
        kept, lost = make_record(), make_record()
        await queue.enqueue([kept, lost])
        now = time.time()
        await _claim(queue, now)
        later = now + 100
        assert await queue.heartbeat(
            [(kept.id, "token-a"), (lost.id, "stale-token")], lease_expires_at=later, now=now
        ) == [lost.id]
        stored = await queue.get_task(kept.id)
        assert stored is not None and stored.lease_expires_at == later

    async def test_finish_is_accepted_only_with_the_current_token(self, queue: BaseTaskQueue) -> None:
        record = make_record()
        await queue.enqueue([record])
        now = time.time()
        await _claim(queue, now)
        stale = Outcome(task_id=record.id, lease_token="other", status=TaskStatus.COMPLETED, at=now)
        assert (await queue.finish([stale])).accepted == []
        done = Outcome(task_id=record.id, lease_token="token-a", status=TaskStatus.COMPLETED, at=now)
        assert (await queue.finish([done])).accepted == [record.id]
        stored = await queue.get_task(record.id)
        assert stored is not None
        assert (stored.status, stored.lease_token) == (TaskStatus.COMPLETED, None)
        assert (await queue.finish([done])).accepted == []

    async def test_a_released_task_is_pending_again_with_its_attempt_given_back(
        self, queue: BaseTaskQueue
    ) -> None:
        record = make_record()
        await queue.enqueue([record])
        now = time.time()
        await _claim(queue, now)
        released = Outcome(
            task_id=record.id, lease_token="token-a", status=TaskStatus.PENDING, at=now, due_at=now
        )
        assert (await queue.finish([released])).accepted == [record.id]
        stored = await queue.get_task(record.id)
        assert stored is not None
        assert (stored.status, stored.attempts, stored.lease_token) == (TaskStatus.PENDING, 0, None)
        assert await _claim(queue, now + 0.001, token="token-b") == [record.id]
        again = await queue.get_task(record.id)
        assert again is not None and again.attempts == 1

    async def test_finish_with_results_stores_only_the_accepted_ones(
        self, queue: BaseTaskQueue, results: BaseResultStorage
    ) -> None:
        held, stale = make_record(), make_record()
        await queue.enqueue([held, stale])
        now = time.time()
        await _claim(queue, now)
        outcomes = [
            Outcome(task_id=held.id, lease_token="token-a", status=TaskStatus.COMPLETED, at=now),
            Outcome(task_id=stale.id, lease_token="other", status=TaskStatus.COMPLETED, at=now),
        ]
        stored = [
            ResultRecord(task_id=task_id, status=ResultStatus.SUCCESS, finished_at=now, data=b"v")
            for task_id in (held.id, stale.id)
        ]
        assert (await queue.finish_with_results(outcomes, stored)).accepted == [held.id]
        assert await results.get_result(held.id) == stored[0]
        assert await results.get_result(stale.id) is None

    async def test_failed_task_runs_again_when_its_retry_is_due(self, queue: BaseTaskQueue) -> None:
        record = make_record()
        await queue.enqueue([record])
        now = time.time()
        await _claim(queue, now)
        retry = Outcome(
            task_id=record.id,
            lease_token="token-a",
            status=TaskStatus.FAILED,
            at=now,
            due_at=now + 60,
            error='{"type":"ValueError","message":"x","traceback":null}',
        )
        assert (await queue.finish([retry])).accepted == [record.id]
        stored = await queue.get_task(record.id)
        assert stored is not None and stored.status is TaskStatus.FAILED and stored.error
        assert await _claim(queue, now + 30, token="token-b") == []
        [again] = await queue.claim(
            ["default"],
            limit=1,
            worker_id="w",
            lease_token="token-b",
            lease_expires_at=now + 100,
            now=now + 61,
        )
        assert (again.id, again.attempts) == (record.id, 2)

    async def test_reap_requeues_an_expired_lease_then_kills_on_the_last_attempt(
        self, queue: BaseTaskQueue
    ) -> None:
        record = make_record(max_retries=1)
        await queue.enqueue([record])
        now = time.time()
        await queue.claim(
            ["default"], limit=1, worker_id="w", lease_token="a", lease_expires_at=now + 1, now=now
        )
        assert (await queue.reap(now + 0.5)).requeued == []
        report = await queue.reap(now + 2)
        assert [r.id for r in report.requeued] == [record.id]
        assert report.requeued[0].status is TaskStatus.PENDING
        late = Outcome(task_id=record.id, lease_token="a", status=TaskStatus.COMPLETED, at=now + 2)
        assert (await queue.finish([late])).accepted == []
        [again] = await queue.claim(
            ["default"], limit=1, worker_id="w2", lease_token="b", lease_expires_at=now + 3, now=now + 2
        )
        assert again.attempts == 2
        report = await queue.reap(now + 4)
        assert [r.id for r in report.dead] == [record.id]
        stored = await queue.get_task(record.id)
        assert stored is not None
        assert (stored.status, stored.error, stored.lease_token) == (
            TaskStatus.DEAD,
            LEASE_EXPIRED_ERROR,
            None,
        )

    async def test_concurrent_claims_never_share_a_task(self, queue: BaseTaskQueue, backend_url: str) -> None:
        records = [make_record() for _ in range(60)]
        await queue.enqueue(records)
        others = [open_url(backend_url) for _ in range(2)]
        for other in others:
            await other.open()
        try:
            claimers = [queue, *others]
            now = time.time() + 1

            async def drain(index: int) -> list[str]:
                claimer = claimers[index % len(claimers)]
                assert isinstance(claimer, BaseTaskQueue)
                taken: list[str] = []
                while batch := await _claim(claimer, now, limit=4, token=f"t{index}"):
                    taken += batch
                return taken

            batches = await asyncio.gather(*(drain(i) for i in range(6)))
        finally:
            for other in others:
                await other.close()
        taken = [task_id for batch in batches for task_id in batch]
        assert sorted(taken) == sorted(r.id for r in records)

    async def test_cancel_pending_and_running_tasks(self, queue: BaseTaskQueue) -> None:
        running, pending = make_record(), make_record()
        await queue.enqueue([running, pending])
        now = time.time()
        await _claim(queue, now + 1, limit=1)
        cancelled = await queue.cancel(pending.id, now + 2)
        assert cancelled is not None and cancelled.changed and cancelled.task.status is TaskStatus.CANCELLED
        cancelled_running = await queue.cancel(running.id, now + 2)
        assert cancelled_running is not None and cancelled_running.changed
        assert cancelled_running.task.status is TaskStatus.CANCELLED
        assert await _claim(queue, now + 3) == []
        assert await queue.heartbeat([(running.id, "token-a")], lease_expires_at=now + 9, now=now) == [
            running.id
        ]
        again = await queue.cancel(pending.id, now + 4)
        assert again is not None and not again.changed and again.task.updated_at == now + 2
        assert await queue.cancel("no-such-task", now) is None

    async def test_release_claim_gives_back_exactly_the_tasks_its_token_still_holds(
        self, queue: BaseTaskQueue
    ) -> None:
        lost = [make_record() for _ in range(3)]
        other = make_record()
        await queue.enqueue([*lost, other])
        now = time.time()
        assert await _claim(queue, now, limit=3, token="lost") == [r.id for r in lost]
        assert await _claim(queue, now, limit=1, token="kept") == [other.id]
        done = Outcome(task_id=lost[0].id, lease_token="lost", status=TaskStatus.COMPLETED, at=now)
        assert (await queue.finish([done])).accepted == [lost[0].id]
        assert await queue.release_claim("lost", now + 1) == 2
        for record in lost[1:]:
            released = await queue.get_task(record.id)
            assert released is not None
            assert (released.status, released.attempts, released.lease_token) == (TaskStatus.PENDING, 0, None)
        finished = await queue.get_task(lost[0].id)
        assert finished is not None and finished.status is TaskStatus.COMPLETED
        still = await queue.get_task(other.id)
        assert still is not None and (still.status, still.lease_token) == (TaskStatus.RUNNING, "kept")
        assert await queue.release_claim("lost", now + 2) == 0
        assert await queue.release_claim("never-used", now + 2) == 0
        assert await _claim(queue, now + 3, token="again") == [r.id for r in lost[1:]]

    @requires(Capability.ADMIN)
    async def test_requeue_gives_a_dead_task_fresh_attempts(self, queue: BaseTaskQueue) -> None:
        record = make_record(max_retries=0)
        await queue.enqueue([record])
        now = time.time()
        await _claim(queue, now)
        dead = Outcome(task_id=record.id, lease_token="token-a", status=TaskStatus.DEAD, at=now, error="{}")
        await queue.finish([dead])
        requeued = await admin_of(queue).requeue(record.id, now + 1)
        assert requeued is not None and requeued.changed
        task = requeued.task
        assert (task.status, task.attempts, task.updated_at) == (TaskStatus.PENDING, 0, now + 1)
        unchanged = await admin_of(queue).requeue(record.id, now + 2)
        assert unchanged is not None and not unchanged.changed and unchanged.task.updated_at == now + 1
        assert await admin_of(queue).requeue("no-such-task", now) is None
        assert await _claim(queue, now + 2, token="b") == [record.id]

    async def test_dedup_key_is_held_while_the_task_is_live(self, queue: BaseTaskQueue) -> None:
        first = make_record(dedup_key="report-42")
        second = make_record(dedup_key="report-42")
        assert await queue.enqueue([first]) == [first.id]
        assert await queue.enqueue([second, make_record(dedup_key="report-42")]) == [first.id, first.id]
        now = time.time()
        await _claim(queue, now)
        assert await queue.enqueue([second]) == [first.id]  # running
        failed = Outcome(
            task_id=first.id, lease_token="token-a", status=TaskStatus.FAILED, at=now, due_at=now, error="{}"
        )
        await queue.finish([failed])
        assert await queue.enqueue([second]) == [first.id]  # failed, to be retried
        await _claim(queue, now + 1, token="token-b")
        done = Outcome(task_id=first.id, lease_token="token-b", status=TaskStatus.COMPLETED, at=now + 1)
        await queue.finish([done])
        assert await queue.enqueue([second]) == [second.id]

    @requires(Capability.ADMIN)
    async def test_list_and_count_tasks(self, queue: BaseTaskQueue) -> None:
        records = [make_record(queue_name=q) for q in ("a", "a", "b")]
        await queue.enqueue(records)
        await _claim(queue, time.time() + 1, queues=("b",))
        assert [r.id for r in await admin_of(queue).list_tasks(queue="a")] == [records[0].id, records[1].id]
        assert [r.id for r in await admin_of(queue).list_tasks(status=TaskStatus.RUNNING)] == [records[2].id]
        assert len(await admin_of(queue).list_tasks(limit=2)) == 2
        assert await admin_of(queue).count_tasks() == {"a": {"pending": 2}, "b": {"running": 1}}

    @requires(Capability.ADMIN)
    async def test_purge_tasks_deletes_only_the_given_final_status(self, queue: BaseTaskQueue) -> None:
        keep, drop = make_record(), make_record()
        await queue.enqueue([keep, drop])
        now = time.time()
        await queue.cancel(drop.id, now)
        assert await admin_of(queue).purge_tasks(TaskStatus.CANCELLED) == 1
        assert await queue.get_task(drop.id) is None
        assert await queue.get_task(keep.id) is not None

    async def test_results_are_stored_replaced_and_expire(self, results: BaseResultStorage) -> None:
        now = time.time()
        kept = ResultRecord(task_id="t1", status=ResultStatus.SUCCESS, finished_at=now, data=b"one")
        replaced = ResultRecord(task_id="t1", status=ResultStatus.ERROR, finished_at=now, data=b"two")
        expired = ResultRecord(
            task_id="t2", status=ResultStatus.SUCCESS, finished_at=now, data=b"x", expires_at=now - 1
        )
        await results.put_results([kept, expired])
        await results.put_results([replaced])
        assert await results.get_result("t1") == replaced
        assert await results.get_result("t2") is None
        assert await results.purge_results(now) == 1
        assert await results.wait_for_result("t1", 0.1) == replaced
        assert await results.wait_for_result("missing", 0.05) is None
        await results.delete_results(["t1", "never-stored"])
        assert await results.get_result("t1") is None

    async def test_events_are_queried_by_task_type_and_time(self, event_storage: BaseEventStorage) -> None:
        base = time.time()
        events = [
            EventRecord(type="enqueued", task_id="a", at=base, queue="q"),
            EventRecord(type="executing", task_id="a", at=base + 1, worker_id="w", attempt=1),
            EventRecord(type="enqueued", task_id="b", at=base + 2, details='{"k": 1}'),
            EventRecord(
                type="error", task_id="a", at=base + 3, error='{"type":"E","message":"m","traceback":null}'
            ),
        ]
        await event_storage.append_events(events)
        assert await event_storage.query_events(task_id="a") == [events[0], events[1], events[3]]
        assert await event_storage.query_events(types=["enqueued"]) == [events[0], events[2]]
        assert await event_storage.query_events(since=base + 1, until=base + 3) == events[1:3]
        assert await event_storage.query_events(limit=1) == events[:1]
        assert await event_storage.purge_events(base + 2) == 2
        assert await event_storage.query_events() == events[2:]
