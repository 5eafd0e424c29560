"""Results and events on SQLite: expiry, prompt waits across connections, event queries."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from omniq.core.models import ResultStatus
from omniq.core.records import EventRecord, ResultRecord
from omniq.sqlite import SQLiteBackend


def _result(task_id: str, *, expires_at: float | None = None, data: bytes = b"value") -> ResultRecord:
    return ResultRecord(
        task_id=task_id,
        status=ResultStatus.SUCCESS,
        finished_at=time.time(),
        data=data,
        expires_at=expires_at,
        schedule_id="s",
    )


async def test_results_round_trip_replace_and_expire(backend: SQLiteBackend) -> None:
    now = time.time()
    first = _result("t", data=bytes(range(256)))
    await backend.put_results(
        [first, _result("old", expires_at=now - 1), _result("later", expires_at=now + 3600)]
    )
    assert await backend.get_result("t") == first
    assert await backend.get_result("old") is None  # past its expiry even before the purge
    replaced = _result("t", data=b"second")
    await backend.put_results([replaced])
    assert await backend.get_result("t") == replaced
    assert await backend.purge_results(now) == 1
    assert await backend.purge_results(now) == 0
    later = await backend.get_result("later")
    assert later is not None and later.expires_at == now + 3600


async def test_wait_for_result_wakes_when_another_connection_stores_it(
    backend: SQLiteBackend, db_path: Path
) -> None:
    async with SQLiteBackend(db_path) as worker:
        waiting = asyncio.ensure_future(backend.wait_for_result("t", 3600))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        stored = _result("t")
        await worker.put_results([stored])
        assert await asyncio.wait_for(waiting, 60) == stored  # a hang guard: the wait is an hour


async def test_wait_for_result_wakes_when_this_backend_stores_it(backend: SQLiteBackend) -> None:
    waiting = asyncio.ensure_future(backend.wait_for_result("t", 3600))
    await asyncio.sleep(0.05)
    await backend.put_results([_result("other")])
    await asyncio.sleep(0.05)
    assert not waiting.done()
    stored = _result("t")
    await backend.put_results([stored])
    assert await asyncio.wait_for(waiting, 60) == stored


async def test_wait_for_result_gives_none_after_the_timeout(backend: SQLiteBackend) -> None:
    assert await backend.wait_for_result("never", 0.05) is None


async def test_events_filters_combine_and_ties_keep_insertion_order(backend: SQLiteBackend) -> None:
    at = time.time()
    events = [
        EventRecord(type="enqueued", task_id="a", at=at, queue="q", details='{"n": 1}'),
        EventRecord(type="enqueued", task_id="b", at=at, queue="q"),
        EventRecord(type="executing", task_id="a", at=at + 1, worker_id="w", attempt=1),
        EventRecord(type="error", task_id="a", at=at + 2, attempt=1, error='{"type":"E"}'),
        EventRecord(type="completed", task_id="b", at=at + 2, attempt=1),
    ]
    await backend.append_events(events[:2])
    await backend.append_events(events[2:])
    assert await backend.query_events() == events
    assert await backend.query_events(task_id="a", types=["executing", "error"]) == [events[2], events[3]]
    assert await backend.query_events(types=[]) == []
    assert await backend.query_events(since=at + 1, until=at + 2) == [events[2]]
    assert await backend.query_events(task_id="b", limit=1) == [events[1]]
    assert await backend.purge_events(at + 1) == 2
    assert await backend.query_events() == events[2:]


async def test_events_survive_reopening(backend: SQLiteBackend, db_path: Path) -> None:
    event = EventRecord(type="enqueued", task_id="a", at=time.time())
    await backend.append_events([event])
    await backend.close()
    async with SQLiteBackend(db_path) as reopened:
        assert await reopened.query_events(task_id="a") == [event]


async def test_large_batches_of_results_and_events(backend: SQLiteBackend) -> None:
    at = time.time()
    results = [_result(f"t{n}", data=str(n).encode()) for n in range(1_100)]
    events = [EventRecord(type="enqueued", task_id=f"t{n}", at=at + n) for n in range(1_100)]
    await backend.put_results(results)
    await backend.append_events(events)
    assert await backend.get_result("t1099") == results[-1]
    assert await backend.query_events() == events
