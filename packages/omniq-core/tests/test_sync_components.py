import inspect
import time
import uuid

import pytest

from omniq.core import AsyncWorker, BaseEventStorage, BaseResultStorage, BaseTaskQueue, BaseWorker
from omniq.core.memory import MemoryBackend
from omniq.core.records import EventRecord
from omniq.core.sync_components import SyncEventStorage, SyncResultStorage, SyncTaskQueue, SyncWorker
from omniq.core.testing._support import make_record

TWINS = [
    (BaseTaskQueue, SyncTaskQueue),
    (BaseResultStorage, SyncResultStorage),
    (BaseEventStorage, SyncEventStorage),
    (BaseWorker, SyncWorker),
]


def _operations(cls: type, exclude: set[str]) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name not in exclude
    }


@pytest.mark.parametrize(("async_cls", "sync_cls"), TWINS)
def test_twins_mirror_every_operation(async_cls: type, sync_cls: type) -> None:
    lifecycle = {"open", "close", "from_url", "make_runner"}
    wanted = _operations(async_cls, lifecycle)
    mirrored = _operations(sync_cls, lifecycle)
    assert set(wanted) <= set(mirrored)
    for name, signature in wanted.items():
        assert list(signature.parameters.values()) == list(mirrored[name].parameters.values()), name
        assert getattr(sync_cls, name).__doc__ == getattr(async_cls, name).__doc__, name


def test_twins_share_one_loop_and_run_a_worker() -> None:
    backend = MemoryBackend(uuid.uuid4().hex)
    with SyncTaskQueue(backend) as queue:
        results = SyncResultStorage(backend, queue.portal)
        events = SyncEventStorage(backend, queue.portal)
        record = make_record("omniq.core.testing.tasks:add", kwargs={"a": 1, "b": 2})
        assert queue.enqueue([record]) == [record.id]
        with SyncWorker(AsyncWorker(backend, backend, backend), queue.portal):
            assert results.wait_for_result(record.id, 30) is not None
        events.append_events([EventRecord(type="enqueued", task_id="x", at=time.time())])
        assert [e.task_id for e in events.query_events(types=["enqueued"])] == ["x"]
        assert queue.count_tasks()["default"] == {"completed": 1}


def test_the_twin_watches_for_cancellations_on_its_loop() -> None:
    backend = MemoryBackend(uuid.uuid4().hex)
    heard: list[str] = []
    with SyncTaskQueue(backend) as queue:
        record = make_record()
        queue.enqueue([record])
        now = time.time()
        until = now + 60
        with queue.watch_cancellations("w", heard.append) as pushes:
            assert pushes
            queue.claim(["default"], limit=1, worker_id="w", lease_token="t", lease_expires_at=until, now=now)
            queue.cancel(record.id, now)
            queue.count_tasks()  # a round trip on the loop, after the call it scheduled there
        queue.cancel(record.id, now)  # final already: nobody is told
    assert heard == [record.id]
