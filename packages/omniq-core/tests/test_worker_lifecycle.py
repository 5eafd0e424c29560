"""How a worker stops, and what never depends on the event store."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import pytest

from omniq.core import AsyncOmniQ, ResultStatus, TaskStatus, events
from omniq.core.errors import SerializationError
from omniq.core.interfaces import BaseEventStorage
from omniq.core.memory import MemoryBackend
from omniq.core.models import EventType
from omniq.core.records import EventRecord, FinishReport, Outcome, ReapReport, TaskRecord
from omniq.core.testing import tasks
from omniq.core.testing._support import eventually


def _app(**settings: Any) -> AsyncOmniQ:
    return AsyncOmniQ(f"memory://{uuid.uuid4().hex}", poll_interval=0.02, **settings)


async def test_stopping_twice_at_once_is_one_stop_and_the_app_keeps_recording_events() -> None:
    async with _app() as app:
        first = await app.enqueue(tasks.add, {"a": 1, "b": 1})
        await app.start_worker()
        assert await app.get_result(first, timeout=30) is not None
        worker = app._worker
        assert worker is not None
        await asyncio.gather(worker.stop(), worker.stop(), app.stop_worker())
        assert not worker.running
        later = await app.enqueue(tasks.add, {"a": 2, "b": 2})

        async def enqueued_event_stored() -> bool:
            return [e.type for e in await app.events(later)] == [EventType.ENQUEUED]

        await eventually(enqueued_event_stored)


async def test_a_second_stop_request_releases_running_tasks_at_once(tmp_path: Path) -> None:
    async with _app() as app:
        marker = tmp_path / "started"
        task_id = await app.enqueue(
            tasks.slow_with_marker, {"marker": str(marker), "seconds": 60, "log": str(tmp_path / "log")}
        )
        serving = asyncio.create_task(app.run_worker("thread", max_workers=1, install_signal_handlers=False))

        async def started() -> bool:
            return marker.exists()

        await eventually(started)
        worker = app._worker
        assert worker is not None
        worker.on_stop_signal()  # graceful: would wait the full minute
        await asyncio.sleep(0.1)
        assert not serving.done()
        worker.on_stop_signal()  # forced: the task is released
        await asyncio.wait_for(serving, 60)  # a hang guard, not a time bound
        task = await app.get_task(task_id)
        assert task is not None and task.status is TaskStatus.PENDING


class _BrokenEvents(BaseEventStorage):
    """An event store that is always down."""

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        return cls()

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def append_events(self, records: Sequence[EventRecord]) -> None:
        raise ConnectionError("event store is down")

    async def query_events(self, **filters: Any) -> list[EventRecord]:
        raise ConnectionError("event store is down")

    async def purge_events(self, before: float) -> int:
        raise ConnectionError("event store is down")


async def test_tasks_run_and_settle_while_the_event_store_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    # Closing gives up on the unwritable events after CLOSE_TIMEOUT; shortened for the test.
    monkeypatch.setattr(events, "CLOSE_TIMEOUT", 0.2)
    async with _app(event_store=_BrokenEvents()) as app:
        ids = await app.enqueue_many(tasks.add, [{"a": n, "b": n} for n in range(20)])
        await app.start_worker()
        for n, task_id in enumerate(ids):
            result = await app.get_result(task_id, timeout=30)
            assert result is not None and (result.status, result.value) == (ResultStatus.SUCCESS, 2 * n)
        await app.stop_worker()


async def test_enqueue_refuses_an_argument_msgpack_cannot_hold() -> None:
    async with _app() as app:
        with pytest.raises(SerializationError, match="OverflowError"):
            await app.enqueue(tasks.add, {"a": 2**70, "b": 1})
        assert await app.list_tasks() == []


async def test_a_failing_wake_up_channel_falls_back_to_polling() -> None:
    async with _app() as app:
        queue = app.task_queue
        calls = 0

        async def broken(queues: Sequence[str], timeout: float) -> None:
            nonlocal calls
            calls += 1
            raise ConnectionError("wake-up channel is down")

        queue.wait_for_tasks = broken  # type: ignore[method-assign]
        await app.start_worker()
        await asyncio.sleep(0.3)
        task_id = await app.enqueue(tasks.add, {"a": 1, "b": 1})
        result = await app.get_result(task_id, timeout=30)
        assert result is not None and result.value == 2
        await app.stop_worker()
        # It polled about every poll_interval (0.02 s) rather than spinning on the failure.
        assert 1 <= calls < 1000


class _SlowToWrite(MemoryBackend):
    """A memory store whose ``finish`` waits until the test lets it through."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.gate = asyncio.Event()

    async def finish(self, outcomes: Sequence[Outcome], **kwargs: Any) -> FinishReport:
        await self.gate.wait()
        return await super().finish(outcomes, **kwargs)


async def _running(store: MemoryBackend) -> int:
    return len(await store.list_tasks(status=TaskStatus.RUNNING, limit=1_000))


async def test_a_worker_holds_a_bounded_number_of_tasks_while_outcomes_wait_to_be_written() -> None:
    # Tasks end faster than their outcomes are written: the slot of an ended task stays taken
    # until the writer takes its outcome, so with one batch stuck in the writer and max_workers
    # more waiting for it, claims stop instead of piling up.
    store = _SlowToWrite(f"memory://{uuid.uuid4().hex}")
    async with store:
        app = AsyncOmniQ(task_queue=store, result_store=store, event_store=store, poll_interval=0.02)
        async with app:
            ids = await app.enqueue_many(tasks.add, [{"a": n, "b": 1} for n in range(60)])
            await app.start_worker("async", max_workers=5)

            async def slots_full_of_unwritten_outcomes() -> bool:
                worker = app._worker
                return worker is not None and len(worker._settlements) == 5

            await eventually(slots_full_of_unwritten_outcomes)
            await asyncio.sleep(0.2)  # time for claims that must not happen
            assert await _running(store) <= 2 * 5
            store.gate.set()
            await app.stop_worker()
            # A graceful stop wrote every outcome it had: no task is left running.
            assert await _running(store) == 0
            statuses = {(await app.get_task(task_id)).status for task_id in ids}  # type: ignore[union-attr]
            assert statuses <= {TaskStatus.COMPLETED, TaskStatus.PENDING}


class _LosesClaimReplies(MemoryBackend):
    """A memory store whose first ``lost`` claims are applied but their reply never arrives."""

    def __init__(self, url: str, lost: int) -> None:
        super().__init__(url)
        self.lost = lost

    async def claim(
        self,
        queues: Sequence[str],
        *,
        limit: int,
        worker_id: str,
        lease_token: str,
        lease_expires_at: float,
        now: float,
        write_events: bool = False,
    ) -> list[TaskRecord]:
        claimed = await super().claim(
            queues,
            limit=limit,
            worker_id=worker_id,
            lease_token=lease_token,
            lease_expires_at=lease_expires_at,
            now=now,
            write_events=write_events,
        )
        if claimed and self.lost > 0:
            self.lost -= 1
            raise ConnectionError("connection reset before the reply was read")
        return claimed


async def test_the_tasks_of_a_claim_whose_reply_was_lost_are_given_back_with_their_attempt() -> None:
    # Without the give-back they would stay running until their lease ran out (an hour here) and
    # then, with no retries left, go dead without having run.
    store = _LosesClaimReplies(f"memory://{uuid.uuid4().hex}", lost=3)
    async with store:
        app = AsyncOmniQ(
            task_queue=store, result_store=store, event_store=store, poll_interval=0.02, lease_ttl=3600
        )
        async with app:
            ids = await app.enqueue_many(tasks.add, [{"a": n, "b": 1} for n in range(20)], max_retries=0)
            await app.start_worker("async", max_workers=5)
            for task_id in ids:
                result = await app.get_result(task_id, timeout=30)
                assert result is not None and result.status is ResultStatus.SUCCESS
                assert result.attempts == 1
            assert store.lost == 0


class _Unreachable(MemoryBackend):
    """A memory store that refuses every call while ``down`` is set, as a store behind a cut
    network would."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionRefusedError("connection refused")

    async def claim(self, queues: Sequence[str], **kwargs: Any) -> list[TaskRecord]:
        self._check()
        return await super().claim(queues, **kwargs)

    async def finish(self, outcomes: Sequence[Outcome], **kwargs: Any) -> FinishReport:
        self._check()
        return await super().finish(outcomes, **kwargs)

    async def reap(self, now: float) -> ReapReport:
        self._check()
        return await super().reap(now)


async def test_an_outage_is_one_warning_and_one_line_when_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = _Unreachable(f"memory://{uuid.uuid4().hex}")
    async with store:
        app = AsyncOmniQ(task_queue=store, result_store=store, event_store=store, poll_interval=0.01)
        async with app:
            await app.start_worker("async", max_workers=2)
            with caplog.at_level(logging.DEBUG, logger="omniq"):
                store.down = True
                failing = sum(1 for record in caplog.records if "failed" in record.getMessage())

                async def many_calls_failed() -> bool:
                    return (
                        sum(1 for record in caplog.records if "failed" in record.getMessage()) > failing + 20
                    )

                await eventually(many_calls_failed)
                store.down = False
                task_id = await app.enqueue(tasks.add, {"a": 1, "b": 2})
                result = await app.get_result(task_id, timeout=30)
                assert result is not None and result.value == 3
            loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert [r.getMessage().split(" (")[0] for r in loud] == [f"lost the connection to {store!r}"]
            assert not any(r.exc_info for r in loud)
            back = [
                r.getMessage()
                for r in caplog.records
                if r.levelno == logging.INFO and "is back" in r.getMessage()
            ]
            assert len(back) == 1 and "calls retried" in back[0]


class _CannotRelease(_LosesClaimReplies):
    """Loses a claim's reply, then fails to give it back with an error that is not an outage."""

    async def release_claim(self, lease_token: str, now: float) -> int:
        raise RuntimeError("the store refused the give-back")


async def test_a_give_back_that_fails_for_good_does_not_stop_the_worker_claiming() -> None:
    # The lost claim's tasks wait out their lease (short here); every other task runs meanwhile.
    store = _CannotRelease(f"memory://{uuid.uuid4().hex}", lost=1)
    async with store:
        app = AsyncOmniQ(
            task_queue=store, result_store=store, event_store=store, poll_interval=0.02, lease_ttl=1
        )
        async with app:
            first = await app.enqueue(tasks.add, {"a": 1, "b": 1})
            await app.start_worker("async", max_workers=1)
            later = await app.enqueue(tasks.add, {"a": 2, "b": 2})
            for task_id in (later, first):
                result = await app.get_result(task_id, timeout=30)
                assert result is not None and result.status is ResultStatus.SUCCESS
            worker = app._worker
            assert worker is not None and worker._unreleased_claims == {}
