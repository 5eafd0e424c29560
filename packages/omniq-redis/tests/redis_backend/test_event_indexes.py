"""Events: read by time through the stream's own ids, by task through the task index; every index
entry goes with its event (trimmed or purged)."""

from __future__ import annotations

import struct
import time
from typing import Any

import pytest

from omniq.core.records import EventRecord
from omniq.redis import RedisBackend
from omniq.redis import backend as backend_module


def _event(task_id: str, at: float, kind: str = "executing") -> EventRecord:
    return EventRecord(type=kind, task_id=task_id, at=at, queue="q", worker_id="w", attempt=1)


async def _index_entries(backend: RedisBackend) -> dict[str, list[str]]:
    """Every task index entry: task id -> stream ids (those in a task's own sorted set too)."""
    raw: Any = backend.client
    found: dict[str, list[str]] = {}
    async for key in raw.scan_iter(match=backend.keys.pattern.replace("*", "ev:task:*"), count=1000):
        for task_id, packed in (await raw.hgetall(key)).items():
            name = task_id.decode()
            if packed == b"*":
                members = await raw.zrange(f"{backend.keys.base}:ev:t:{name}", 0, -1)
                found[name] = [member.decode() for member in members]
            else:
                found[name] = [_sid(packed[i : i + 10]) for i in range(0, len(packed), 10)]
    return found


def _sid(packed: bytes) -> str:
    """A stream id packed as the task index holds it: milliseconds in 6 bytes, sequence in 4."""
    millis, seq = struct.unpack(">HI", packed[:6]), struct.unpack(">I", packed[6:])[0]
    return f"{(millis[0] << 32) + millis[1]}-{seq}"


async def _stream_ids(backend: RedisBackend) -> set[str]:
    raw: Any = backend.client
    return {sid.decode() for sid, _ in await raw.xrange(backend.keys.events)}


async def _own_sets(backend: RedisBackend) -> list[bytes]:
    raw: Any = backend.client
    return [key async for key in raw.scan_iter(match=backend.keys.pattern.replace("*", "ev:t:*"))]


async def test_trimmed_events_take_their_index_entries_along(redis_url: str) -> None:
    async with RedisBackend(redis_url, events_maxlen=100) as backend:
        now = time.time()
        # Many events of few tasks (kept in sorted sets of their own), then one event each of many,
        # half of them out of step with their arrival (indexed by time).
        await backend.append_events([_event(f"busy-{i % 5}", now) for i in range(300)])
        await backend.append_events(
            [_event(f"task-{i}", now - 3600 * (i % 2), "completed") for i in range(400)]
        )
        raw: Any = backend.client
        stream = await _stream_ids(backend)
        assert 100 <= len(stream) < 200  # trimmed by whole nodes of 100
        by_time = {sid.decode() for sid in await raw.zrange(backend.keys.events_by_time, 0, -1)}
        by_id = {sid.decode() for sid in await raw.zrange(f"{backend.keys.events_by_time}:sid", 0, -1)}
        entries = await raw.xrange(backend.keys.events)
        late = {sid.decode() for sid, fields in entries if float(fields[b"at"]) < now - 60}
        assert by_time == by_id == late and len(late) >= 50
        # Trimming as many events as maxlen sweeps every task index: nothing stale is left.
        indexed = [sid for sids in (await _index_entries(backend)).values() for sid in sids]
        assert sorted(indexed) == sorted(stream)
        assert await _own_sets(backend) == []  # the busy tasks' events were all trimmed
        last = await backend.query_events(task_id="task-399")
        assert [e.type for e in last] == ["completed"]
        assert await backend.query_events(task_id="busy-0") == []


async def test_the_task_index_holds_at_most_twice_the_stream(redis_url: str) -> None:
    maxlen = 2000
    async with RedisBackend(redis_url, events_maxlen=maxlen) as backend:
        now = time.time()
        for start in range(0, 20_000, 500):
            await backend.append_events([_event(f"t{start + i}", now) for i in range(500)])
        stream = await _stream_ids(backend)
        indexed = {sid for sids in (await _index_entries(backend)).values() for sid in sids}
        assert stream <= indexed
        assert len(indexed) <= 2 * maxlen + 100  # 100: a stream node's worth of slack


async def test_purged_events_leave_no_index_entry(backend: RedisBackend) -> None:
    now = time.time()
    old = [_event(f"old-{i % 3}", now - 1000 + i) for i in range(30)]  # out of step; 10 a task
    recent = [_event(f"new-{i % 2}", now) for i in range(4)]  # in step
    both = [_event("both", now - 999), _event("both", now)]
    await backend.append_events([*old, *recent, *both])
    assert len(await _own_sets(backend)) == 3
    assert await backend.purge_events(now - 500) == 31
    raw: Any = backend.client
    assert await raw.zcard(backend.keys.events_by_time) == 0
    assert await _own_sets(backend) == []
    entries = await _index_entries(backend)
    assert sorted(entries) == ["both", "new-0", "new-1"]
    assert sorted(sid for sids in entries.values() for sid in sids) == sorted(await _stream_ids(backend))
    assert await backend.query_events(task_id="both") == [both[1]]
    assert await backend.query_events() == [*recent, both[1]]


async def test_a_purge_goes_on_past_the_recent_events_it_keeps(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend_module, "SWEEP", 3)
    now = time.time()
    kept = [_event(f"k{i}", now) for i in range(10)]
    await backend.append_events(kept)
    await backend.append_events([_event(f"d{i}", now - 0.5) for i in range(7)])
    # The kept events arrived first and are in step: each call reads three and keeps them.
    assert await backend.purge_events(now - 0.25) == 7
    assert await backend.query_events() == kept


async def test_events_in_and_out_of_step_come_back_in_time_order(backend: RedisBackend) -> None:
    now = time.time()
    events = [
        _event("a", now - 100, "enqueued"),  # out of step: late
        _event("b", now - 0.002),
        _event("a", now, "completed"),
        _event("b", now + 0.001, "completed"),
        _event("c", now + 100, "enqueued"),  # out of step: from the future
    ]
    await backend.append_events([events[2], events[4], events[0], events[3], events[1]])
    assert await backend.query_events() == events
    assert await backend.query_events(limit=2) == events[:2]
    assert await backend.query_events(since=now - 1, until=now + 0.001) == events[1:3]
    assert await backend.query_events(since=now) == events[2:]
    assert await backend.query_events(types=["completed"], limit=1) == [events[2]]
    assert await backend.query_events(types=["enqueued"], limit=2) == [events[0], events[4]]
    assert await backend.query_events(task_id="a") == [events[0], events[2]]
    assert await backend.query_events(task_id="b", since=now) == [events[3]]
    raw: Any = backend.client
    assert await raw.zcard(backend.keys.events_by_time) == 2


async def test_a_limited_query_reads_past_events_that_arrived_out_of_order(backend: RedisBackend) -> None:
    now = time.time()
    later = [_event(f"l{i}", now + 1) for i in range(600)]
    earlier = [_event(f"e{i}", now) for i in range(3)]
    await backend.append_events(later)
    await backend.append_events(earlier)  # arrive last, happened first: still in step
    assert await backend.query_events(limit=3) == earlier
    assert await backend.query_events(limit=4) == [*earlier, later[0]]


async def test_a_batch_of_events_sent_again_is_appended_once(backend: RedisBackend) -> None:
    # A retry after a lost reply sends the same batch: it must not record every event twice.
    now = time.time()
    batch = [
        EventRecord(type="completed", task_id=f"task-{n}", at=now + n, queue="default", details="{}")
        for n in range(3)
    ]
    await backend.append_events(batch)
    await backend.append_events(batch)
    assert [event.task_id for event in await backend.query_events()] == ["task-0", "task-1", "task-2"]
    await backend.append_events([batch[0]])  # another batch: appended
    assert len(await backend.query_events(task_id="task-0")) == 2
